"""The operator commands of `cesce-worker`, out of the library: `run` (a worker as a process), `broker`
(the embedded Kafka), `produce` / `consume` (JSON lines in and out of topics) and `dlq` (list, show,
replay dead letters). Argument parsing, printing and progress bars live here; the runtime keeps only
what the commands call."""
