"""Kafka plumbing: consume -> handle -> produce, concurrency, exactly-once, dead letters, serde."""
