"""Operator commands of `cesce-worker` that sit on the runtime: broker, produce, consume."""
