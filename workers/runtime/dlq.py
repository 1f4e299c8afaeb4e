"""Dead letters: the original key and value bytes, unchanged, with headers that say why.

Operators list, read and replay dead letters (issue 7), so everything they need travels in the
headers; the original record's own headers (its trace context among them) are kept as they came,
and ours are prefixed ``dlq.`` so a replay can strip exactly ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from workers.runtime.contract import DeadLetter, InputRecord

__all__ = [
    "DLQ_PREFIX",
    "SOURCE_OFFSET",
    "SOURCE_OUTPUT",
    "SOURCE_PARTITION",
    "SOURCE_TOPIC",
    "Failure",
    "dead_letter_headers",
    "source_headers",
]

DLQ_PREFIX: Final = "dlq."
# Every record we publish names the input it came from: reconciliation reads these back.
SOURCE_TOPIC: Final = "source.topic"
SOURCE_PARTITION: Final = "source.partition"
SOURCE_OFFSET: Final = "source.offset"
SOURCE_OUTPUT: Final = "source.output"
"""``<index>/<count>``: which of its source record's outputs a record is (reconciliation finds partial publishes)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """How a record failed: the final outcome and the history of its attempts."""

    outcome: DeadLetter
    attempts: int
    first_failure: datetime
    last_failure: datetime


def source_headers(record: InputRecord) -> list[tuple[str, bytes]]:
    return [
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
    ]


def _iso(moment: datetime) -> bytes:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").encode()


def dead_letter_headers(record: InputRecord, failure: Failure, worker: str) -> Sequence[tuple[str, bytes]]:
    """The original headers (minus any earlier ``dlq.*`` and source headers), then ours."""
    ours = {DLQ_PREFIX, "source."}
    kept = [(k, v) for k, v in record.headers if not k.startswith(tuple(ours))]
    timestamp = b"" if record.timestamp_ms is None else str(record.timestamp_ms).encode()
    outcome = failure.outcome
    return [
        *kept,
        ("dlq.category", str(outcome.category).encode()),
        ("dlq.error.code", outcome.code.encode()),
        ("dlq.error.description", outcome.description.encode()),
        ("dlq.original.topic", record.topic.encode()),
        ("dlq.original.partition", str(record.partition).encode()),
        ("dlq.original.offset", str(record.offset).encode()),
        ("dlq.original.timestamp", timestamp),
        ("dlq.worker", worker.encode()),
        ("dlq.attempts", str(failure.attempts).encode()),
        ("dlq.first.failure", _iso(failure.first_failure)),
        ("dlq.last.failure", _iso(failure.last_failure)),
        *source_headers(record),
    ]
