"""cesce-workers: Kafka workers that connect an ERP to the Cesce credit-insurance APIs."""

__version__ = "0.1.0"
