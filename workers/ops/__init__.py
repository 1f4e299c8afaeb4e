"""The operator commands of `cesce-worker`, out of the library: `run` (a worker as a process), `broker`
(the embedded Kafka and Schema Registry), `produce` / `consume` (JSON lines in and out of topics), `dlq`
(list, show, replay dead letters) and `schemas` (list, register, check the Avro subjects). Argument
parsing, printing and progress bars live here; the runtime keeps only what the commands call."""
