"""The runtime's settings, read once from the environment at the entry point (typed, frozen).

Topic names are per worker (each worker module knows its defaults); everything here is about how
records move: the broker, the consumer group, concurrency, retries, commits and shutdown.
Any other ``KAFKA_*`` variable is passed to librdkafka (`workers.runtime.kafka_config`).
"""

from __future__ import annotations

import re
import socket
from enum import StrEnum
from typing import Final

from pydantic import Field, field_validator

from workers.settings import Settings

__all__ = [
    "DEFAULT_DLQ_SUFFIX",
    "DEFAULT_REACH_SECONDS",
    "MAX_TOPIC_LENGTH",
    "REACH_VARIABLE",
    "DeadLetterSettings",
    "ReachSettings",
    "Reconcile",
    "RuntimeSettings",
]

DEFAULT_DLQ_SUFFIX: Final = ".dlq"
DEFAULT_REACH_SECONDS: Final = 10.0
REACH_VARIABLE: Final = "WORKER_KAFKA_REACH_SECONDS"
MAX_TOPIC_LENGTH: Final = 249
"""The longest topic name Kafka accepts (``org.apache.kafka.common.internals.Topic``)."""
_TOPIC_CHARACTERS: Final = re.compile(r"[a-zA-Z0-9._-]+")
"""The only characters Kafka accepts in a topic name."""


class Reconcile(StrEnum):
    """Whether to check the output topics for already-published records on partition assignment."""

    AUTO = "auto"
    """On for brokers that do not honour transactions (librdkafka's mock cluster), off otherwise."""
    ON = "on"
    OFF = "off"


class DeadLetterSettings(Settings):
    """Where dead letters go: read by the workers and by the operator commands that look for them."""

    dlq_suffix: str = Field(default=DEFAULT_DLQ_SUFFIX, alias="WORKER_DLQ_SUFFIX")
    """An input topic's dead letters go to ``<topic><suffix>`` (``erp.invoices.dlq``)."""

    @field_validator("dlq_suffix", mode="before")
    @classmethod
    def _kafka_topic_characters(cls, value: object) -> object:
        if isinstance(value, str) and not _TOPIC_CHARACTERS.fullmatch(value):
            given = "empty" if not value else f"{value!r}"
            raise ValueError(
                f"must be letters, digits, '.', '_' or '-' (what Kafka allows in a topic name), got {given}"
            )
        return value


class ReachSettings(Settings):
    """How long a start waits for Kafka's first answer: read by the workers and by the operator commands."""

    kafka_reach_seconds: float = Field(default=DEFAULT_REACH_SECONDS, gt=0, alias=REACH_VARIABLE)
    """How long Kafka may leave a start unanswered before one line says it cannot be reached: a worker then stays
    not ready and keeps trying; consume, produce, dlq and reconcile exit (`workers.runtime.kafka_reach`)."""


class RuntimeSettings(DeadLetterSettings, ReachSettings):
    bootstrap_servers: str = Field(alias="KAFKA_BOOTSTRAP_SERVERS", min_length=1)
    """The Kafka brokers, host:port separated by commas."""
    group_id: str | None = Field(default=None, alias="WORKER_GROUP_ID")
    """Consumer group; default ``cesce-<worker>``."""
    instance_id: str = Field(default_factory=socket.gethostname, alias="WORKER_INSTANCE_ID")
    """Stable per replica (the pod name): the transactional.id is ``<group>.<instance>``, so a restarted
    replica fences its previous incarnation and aborts what it left open."""
    max_in_flight: int = Field(default=64, ge=1, alias="WORKER_MAX_IN_FLIGHT")
    """Records handled at once by the whole process tree (split across its processes)."""
    processes: int | None = Field(default=None, ge=1, alias="WORKER_PROCESSES")
    """Engine processes of ``cesce-worker run``; default one per available CPU (`workers.runtime.cpus`). With 1
    the process runs its engine itself; with more it supervises that many children (`workers.runtime.processes`)."""
    retry_attempts: int = Field(default=8, ge=1, alias="WORKER_RETRY_ATTEMPTS")
    """Tries per record for transient failures before its dead letter (category ``transient``)."""
    retry_max_seconds: float = Field(default=300.0, gt=0, alias="WORKER_RETRY_MAX_SECONDS")
    """Time budget of those tries, waits included."""
    retry_backoff_base_seconds: float = Field(default=0.5, gt=0, alias="WORKER_RETRY_BACKOFF_BASE_SECONDS")
    """First backoff ceiling between a record's tries; it doubles per try (full jitter)."""
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0, alias="WORKER_RETRY_BACKOFF_MAX_SECONDS")
    """Highest backoff ceiling between a record's tries."""
    outage_threshold: int = Field(default=10, ge=1, alias="WORKER_OUTAGE_THRESHOLD")
    """Consecutive transient failures (any keys) that open the outage breaker and pause consumption."""
    probe_interval_seconds: float = Field(default=5.0, gt=0, alias="WORKER_PROBE_INTERVAL_SECONDS")
    """While the outage breaker is open, how often one record probes whether the outage is over."""
    commit_interval_ms: int = Field(default=200, ge=1, alias="WORKER_COMMIT_INTERVAL_MS")
    """How often finished records are committed, in one transaction with their outputs."""
    commit_batch_size: int = Field(default=500, ge=1, alias="WORKER_COMMIT_BATCH_SIZE")
    """Finished records that trigger a transaction before the interval is up."""
    drain_seconds: float = Field(default=20.0, ge=0, alias="WORKER_DRAIN_SECONDS")
    """On SIGTERM or revocation, how long in-flight records may take to finish before they are abandoned."""
    order_max_wait_ms: int = Field(default=2000, ge=0, alias="WORKER_ORDER_MAX_WAIT_MS")
    """For a loop that restores its source's commit order across partitions (the re-keying companion): how long
    a record waits for a partition that has shown nothing later and has not reported its end."""
    reconcile: Reconcile = Field(default=Reconcile.AUTO, alias="WORKER_RECONCILE")
    """Check the output topics for records already published on partition assignment: auto, on or off."""
    http_host: str = Field(default="0.0.0.0", alias="WORKER_HTTP_HOST")  # noqa: S104 - probes come from outside the pod
    """Where ``/healthz``, ``/readyz`` and ``/metrics`` listen."""
    http_port: int = Field(default=9464, ge=0, le=65535, alias="WORKER_HTTP_PORT")
    """``/healthz``, ``/readyz`` and ``/metrics`` (0: any free port, logged at start)."""
    liveness_stall_seconds: float = Field(default=30.0, gt=0, alias="WORKER_LIVENESS_STALL_SECONDS")
    """``/healthz`` fails once the event loop has not run for this long."""
