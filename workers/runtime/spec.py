"""What a worker declares (`WorkerSpec`) and what the runtime gives it (`WorkerContext`), beside the contract.

A worker module builds its specs from the environment; `workers.runtime.run` runs them: one engine,
consumer group member and transactional producer each. The decoder turns a record's bytes into the
value its handler reads; the encoder, a result's value into bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

from workers.observability.health import Health
from workers.runtime.contract import Handler, Output
from workers.runtime.envelope import EnvelopeDecoder
from workers.runtime.positions import Position
from workers.runtime.serde import state_decoder
from workers.runtime.settings import DEFAULT_DLQ_SUFFIX, MAX_TOPIC_LENGTH, RuntimeSettings

__all__ = [
    "Decoder",
    "DecoderFactory",
    "Encoder",
    "WorkerContext",
    "WorkerSpec",
    "dlq_problems",
    "envelopes",
    "states",
    "with_dlq_suffix",
]

Decoder = Callable[[bytes | None, str], Any]
"""(value bytes, topic) -> the decoded value; any exception means the record cannot be decoded."""
Encoder = Callable[[Output], bytes | None]
"""An output's value -> bytes (Avro for a mapping with a schema)."""
DecoderFactory = Callable[[SchemaRegistryClient], Decoder]
"""What a `WorkerSpec` declares: its decoder, made once the process has its Schema Registry client."""


@dataclass(frozen=True)
class WorkerContext:
    """What the runtime gives a handler factory: the process's Schema Registry client, health checks, and the
    librdkafka settings of its own clients (a state table's reader, a seeding producer), built from the
    settings the entry point validated once."""

    label: str
    """The spec's label (``invoices``, ``credit-requests.followups``): prefixes its readiness checks."""
    registry: SchemaRegistryClient
    kafka: Callable[[bool], dict[str, Any]]
    """``kafka(consumer)``: the broker and the ``KAFKA_*`` settings for a consumer (True) or a producer."""
    health: Health = field(default_factory=Health)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker declares; the runtime does the rest."""

    name: str
    input_topics: Sequence[str]
    output_topics: Sequence[str]
    decoder: DecoderFactory
    handler: Callable[[WorkerContext], AbstractAsyncContextManager[Handler]]
    dlq_suffix: str = DEFAULT_DLQ_SUFFIX
    """Appended to an input topic's name (or its `dead_letter_source`'s) for its dead-letter topic: the runtime sets
    it from ``WORKER_DLQ_SUFFIX`` (`with_dlq_suffix`)."""
    role: str | None = None
    """A companion's part in its worker's process (``followups``, ``claims-poller``); None for the worker."""
    order_by: Callable[[Any], Position | None] | None = None
    """Hand records to the handler in this order across partitions (a decoded value's source position, see
    `workers.runtime.intake`) instead of fetch order; the re-keying companion's (`workers.runtime.rekey`)."""
    dead_letter_source: Mapping[str, str] = field(default_factory=dict)
    """Input topic -> the topic whose dead-letter topic takes its failures, where not itself: a re-keyed input's
    dead letters go where its source's do (``<source><dlq_suffix>``)."""
    schemas: Mapping[str, str] = field(default_factory=dict)
    """Output topic -> the full name of the Avro record written there: each subject is checked (or registered)
    against the Schema Registry before the worker starts (`workers.runtime.run`)."""

    @property
    def label(self) -> str:
        return self.name if self.role is None else f"{self.name}.{self.role}"

    def dlq_topic(self, topic: str) -> str:
        """The dead-letter topic of input `topic`: ``<topic><dlq_suffix>`` (its source's, for a re-keyed input)."""
        return self.dead_letter_source.get(topic, topic) + self.dlq_suffix

    def group_id(self, settings: RuntimeSettings) -> str:
        """``WORKER_GROUP_ID`` (default ``cesce-<name>``), suffixed with ``.<role>`` for a companion."""
        base = settings.group_id or f"cesce-{self.name}"
        return base if self.role is None else f"{base}.{self.role}"


def with_dlq_suffix(specs: Sequence[WorkerSpec], suffix: str) -> list[WorkerSpec]:
    """`specs` with their dead letters in ``<topic><suffix>`` (``WORKER_DLQ_SUFFIX``)."""
    return [spec if spec.dlq_suffix == suffix else replace(spec, dlq_suffix=suffix) for spec in specs]


def dlq_problems(specs: Sequence[WorkerSpec]) -> list[str]:
    """Why `specs`' dead-letter topics cannot be used, one line each: a name longer than Kafka allows, or one that
    is also a topic the worker reads or writes (a suffix such as ``.by-debtor`` would name the re-keyed topic)."""
    used = {topic for spec in specs for topic in (*spec.input_topics, *spec.output_topics)}
    problems, seen = [], set()
    for spec in specs:
        for topic in spec.input_topics:
            dead = spec.dlq_topic(topic)
            if dead in seen:  # a re-keyed input's dead letters are its source's: said once
                continue
            seen.add(dead)
            if len(dead) > MAX_TOPIC_LENGTH:
                problems.append(
                    f"WORKER_DLQ_SUFFIX: the dead-letter topic of {topic} would be {len(dead)} characters long "
                    f"(Kafka allows {MAX_TOPIC_LENGTH})"
                )
            elif dead in used:
                problems.append(
                    f"WORKER_DLQ_SUFFIX: the dead-letter topic of {topic} would be {dead}, which {spec.name} "
                    "also reads or writes"
                )
    return problems


def envelopes(schema_name: str) -> DecoderFactory:
    """A `WorkerSpec.decoder` for change records (Debezium envelopes, Avro or JSON) of `schema_name` rows."""

    def decoder(registry: SchemaRegistryClient) -> Decoder:
        return EnvelopeDecoder(registry, schema_name).decode

    return decoder


def states(schema_name: str) -> DecoderFactory:
    """A `WorkerSpec.decoder` for a compacted state topic of `schema_name` records (a tombstone is `TOMBSTONE`)."""

    def decoder(registry: SchemaRegistryClient) -> Decoder:
        return state_decoder(registry, schema_name)

    return decoder
