"""What a worker is: an async function from one decoded input record to an outcome.

The runtime owns consuming, decoding, concurrency, retries, producing, committing and shutdown;
a worker only decides, for one record, which of these things should happen:

- `Publish`: these result records go out (in the same transaction as the input's offset);
- `DeadLetter`: the record goes to its dead-letter topic, unchanged, with the reason;
- `Retry`: a transient failure; the runtime tries again later, only this record's key waits;
- `Defer`: not due yet (a follow-up read from a delay topic); the runtime calls the handler again
  at the given time. Nothing failed, so no retry budget is spent and no breaker counts it;
- `Skip`: nothing to do (a Debezium tombstone or truncate): the offset is committed, nothing is
  published, the record is counted as skipped. A decoder may return a `Skip` as the decoded value:
  the handler is then not called.

A handler that raises is a bug, not a business outcome: the runtime dead-letters the record with
category ``internal`` and the exception's type, and goes on with the next one. Nothing here
imports confluent-kafka (only the OpenTelemetry API, for the trace id), so domain modules can use
these types without knowing Kafka.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from workers.observability.tracing import current_trace_id

__all__ = [
    "ORIGIN_HEADER",
    "ROW_KEY_HEADER",
    "SOURCE_OFFSET",
    "SOURCE_PARTITION",
    "SOURCE_TOPIC",
    "DeadLetter",
    "Defer",
    "ErrorCategory",
    "Handler",
    "InputRecord",
    "Outcome",
    "Output",
    "Publish",
    "Retry",
    "Skip",
]

SOURCE_TOPIC: Final = "source.topic"
SOURCE_PARTITION: Final = "source.partition"
SOURCE_OFFSET: Final = "source.offset"
"""Headers on every record the runtime publishes: the input record it answers (reconciliation reads them back)."""

ORIGIN_HEADER: Final = "cesce.origin"
"""``<topic>:<partition>:<offset>`` of the ERP change record a re-keyed record carries (`InputRecord.origin`)."""

ROW_KEY_HEADER: Final = "cesce.row-key"
"""The header carrying an ERP change's row identity (the source record's Kafka key, Debezium's primary key)
when the record was re-keyed by debtor on its way to the handler."""


class ErrorCategory(StrEnum):
    """Why a record is in a dead-letter topic (header ``dlq.category``)."""

    BUSINESS = "business"
    """The other side refused it for a reason in its data (Cesce errorCode 1522, 2809, ...)."""
    VALIDATION = "validation"
    """It decoded, but breaks a rule checked before any call (a field too long, a missing debtor)."""
    DESERIALIZATION = "deserialization"
    """Its bytes could not be decoded at all (bad magic byte, unknown schema id, not an envelope)."""
    TRANSIENT = "transient"
    """Every retry failed within the budget; replaying it later may succeed."""
    INTERNAL = "internal"
    """The handler raised: a defect to fix before replaying."""


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One consumed record, with its decoded value (`decoded`, whatever the worker's decoder returns)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    decoded: Any
    assignment: int = 0
    """Which stay of its partition with this member delivered it (unique in the process; 0 outside an
    engine). What a handler remembers per partition may be stale once it changes: another member may
    have handled the partition in between."""

    def header(self, name: str) -> bytes | None:
        """The last value of header `name`, if any."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    @property
    def origin(self) -> tuple[str, int, int]:
        """Where the change this record carries entered: the ERP change record its ``cesce.origin`` header names
        (the re-keying companion writes it), else the record itself. Results name it (``sourceTopic``, ...), so
        they point at the change record whichever way it came."""
        named = self.header(ORIGIN_HEADER)
        parts = named.decode("utf-8", errors="replace").rsplit(":", 2) if named else []
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
            return self.topic, self.partition, self.offset
        return parts[0], int(parts[1]), int(parts[2])

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode("utf-8", errors="replace")

    @property
    def trace_id(self) -> str | None:
        """The trace id of a W3C ``traceparent`` header (``00-<trace id>-<span id>-<flags>``), else the one of the
        span handling the record (a trace the record started), if any: results carry it as ``traceId``."""
        header = self.header("traceparent")
        parts = header.decode("ascii", errors="replace").split("-") if header else []
        return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else current_trace_id()


@dataclass(frozen=True, slots=True)
class Output:
    """A record to publish. `value` is a mapping encoded with Avro schema `schema`, or raw bytes."""

    topic: str
    key: str | bytes | None
    value: Mapping[str, Any] | bytes | None
    schema: str | None = None
    headers: Mapping[str, str | bytes] = field(default_factory=dict)
    partition: int | None = None
    """The partition to write to; None lets the producer's partitioner choose by key. A state topic partitioned
    like its input writes its input record's partition here."""
    traced: bool = True
    """False for a worker's own state records (`row_state`): no ``send`` span and no trace headers, since no
    consumer continues their trace (a span and a context injection are a tenth of a record's CPU, issue 18)."""


@dataclass(frozen=True, slots=True)
class Publish:
    outputs: Sequence[Output]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    category: ErrorCategory
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure. `retry_after` (seconds) is a floor on the wait, e.g. a 429's Retry-After."""

    code: str
    description: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Defer:
    """Not yet: handle this record again at `until` (an aware datetime).

    For delay topics, where every record carries the time it falls due and records are appended in
    that order, so a partition's later offsets are due later too and waiting for the earliest holds
    nothing back. A deferred record does not hold a shutdown or a rebalance: it is abandoned at once,
    uncommitted, and whoever owns its partition next consumes it again and defers it the same way.
    """

    until: datetime
    reason: str = ""
    keep_order: bool = True
    """False: the key's later records of other rows go on while this one waits (it waits for one of them: a
    credit note for the sale behind it); its own row's later records wait behind it, and its offset still holds
    the partition's commit. Only for a record that names its row (``cesce.row-key``); others keep order."""

    def __post_init__(self) -> None:
        if self.until.tzinfo is None:  # raised in the handler: an ``internal`` dead letter, not a stalled partition
            raise ValueError("Defer.until must be an aware datetime")


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to do for this record: commit its offset, publish nothing. `reason` is logged once per partition."""

    reason: str


Outcome = Publish | DeadLetter | Retry | Defer | Skip
Handler = Callable[[InputRecord], Awaitable[Outcome]]
