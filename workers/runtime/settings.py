"""The runtime's settings, read once from the environment at the entry point (typed, frozen).

Topic names are per worker (each worker module knows its defaults); everything here is about how
records move: the broker, the consumer group, concurrency, retries, commits and shutdown.
Any other ``KAFKA_*`` variable is passed to librdkafka (`workers.runtime.kafka_config`).
"""

from __future__ import annotations

import socket
from enum import StrEnum

from pydantic import Field

from workers.settings import Settings

__all__ = ["Reconcile", "RuntimeSettings"]


class Reconcile(StrEnum):
    """Whether to check the output topics for already-published records on partition assignment."""

    AUTO = "auto"
    """On for brokers that do not honour transactions (librdkafka's mock cluster), off otherwise."""
    ON = "on"
    OFF = "off"


class RuntimeSettings(Settings):
    bootstrap_servers: str = Field(alias="KAFKA_BOOTSTRAP_SERVERS", min_length=1)
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
    retry_max_seconds: float = Field(default=300.0, gt=0, alias="WORKER_RETRY_MAX_SECONDS")
    retry_backoff_base_seconds: float = Field(default=0.5, gt=0, alias="WORKER_RETRY_BACKOFF_BASE_SECONDS")
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0, alias="WORKER_RETRY_BACKOFF_MAX_SECONDS")
    outage_threshold: int = Field(default=10, ge=1, alias="WORKER_OUTAGE_THRESHOLD")
    """Consecutive transient failures (any keys) that open the outage breaker and pause consumption."""
    probe_interval_seconds: float = Field(default=5.0, gt=0, alias="WORKER_PROBE_INTERVAL_SECONDS")
    commit_interval_ms: int = Field(default=200, ge=1, alias="WORKER_COMMIT_INTERVAL_MS")
    commit_batch_size: int = Field(default=500, ge=1, alias="WORKER_COMMIT_BATCH_SIZE")
    drain_seconds: float = Field(default=20.0, ge=0, alias="WORKER_DRAIN_SECONDS")
    """On SIGTERM or revocation, how long in-flight records may take to finish before they are abandoned."""
    order_max_wait_ms: int = Field(default=2000, ge=0, alias="WORKER_ORDER_MAX_WAIT_MS")
    """For a loop that restores its source's commit order across partitions (the re-keying companion): how long
    a record waits for a partition that has shown nothing later and has not reported its end."""
    reconcile: Reconcile = Field(default=Reconcile.AUTO, alias="WORKER_RECONCILE")
    http_host: str = Field(default="0.0.0.0", alias="WORKER_HTTP_HOST")  # noqa: S104 - probes come from outside the pod
    http_port: int = Field(default=9464, ge=0, le=65535, alias="WORKER_HTTP_PORT")
    """``/healthz``, ``/readyz`` and ``/metrics`` (0: any free port, logged at start)."""
    liveness_stall_seconds: float = Field(default=30.0, gt=0, alias="WORKER_LIVENESS_STALL_SECONDS")
    """``/healthz`` fails once the event loop has not run for this long."""
