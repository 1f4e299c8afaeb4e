"""cesce-workers: Kafka workers that connect an ERP to the Cesce credit-insurance APIs."""

from workers.deferred_imports import defer_registry_oauth

__version__ = "0.1.0"

defer_registry_oauth()  # before anything imports confluent-kafka's Schema Registry client (workers.deferred_imports)
