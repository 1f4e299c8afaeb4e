"""Dead letters: the original key and value bytes, unchanged, with headers that say why.

Operators list, read and replay dead letters (``cesce-worker dlq``), so everything they need travels
in the headers. The original record's own headers are kept as they came, and ours are prefixed
``dlq.`` so a replay can strip exactly ours; the original's trace context moves to
``dlq.original.traceparent`` / ``dlq.original.tracestate`` because the dead letter carries its own
(the span that dead-lettered it). `replay_headers` undoes all of that and counts the replay in
``replay.count``, a header that survives the next dead-lettering, so a record that keeps failing
is refused after the configured number of replays.

The headers we fill from the failure (``dlq.error.description``, ``dlq.error.code``) often quote the
input, which can be anything: each is cut to a bound (`DESCRIPTION_LIMIT`, `ERROR_CODE_LIMIT`) and
marked ``... [truncated: <n> bytes]`` with its full length, so a megabyte-long value makes one
dead letter of about its own size, never twice it (which the broker would refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from workers.runtime.contract import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC, DeadLetter, InputRecord

__all__ = [
    "ATTEMPTS",
    "CATEGORY",
    "DESCRIPTION_LIMIT",
    "DLQ_PREFIX",
    "ERROR_CODE",
    "ERROR_CODE_LIMIT",
    "ERROR_DESCRIPTION",
    "FIRST_FAILURE",
    "LAST_FAILURE",
    "OMITTED",
    "ORIGINAL_OFFSET",
    "ORIGINAL_PARTITION",
    "ORIGINAL_TIMESTAMP",
    "ORIGINAL_TOPIC",
    "REPLAY_COUNT",
    "REPLAY_SOURCE",
    "SOURCE_OFFSET",
    "SOURCE_OUTPUT",
    "SOURCE_PARTITION",
    "SOURCE_TOPIC",
    "WORKER",
    "Failure",
    "bounded_header",
    "dead_letter_headers",
    "replay_count",
    "replay_headers",
    "source_headers",
]

DLQ_PREFIX: Final = "dlq."
# Every record we publish names the input it came from: reconciliation reads these back.
SOURCE_OUTPUT: Final = "source.output"
"""``<index>/<count>``: which of its source record's outputs a record is (reconciliation finds partial publishes)."""
TRACE_HEADERS: Final = ("traceparent", "tracestate")
"""W3C trace context: the dead letter's own; the original's are kept as ``dlq.original.<name>``."""
_ORIGINAL: Final = "dlq.original."
OMITTED: Final = "dlq.omitted"
"""On a dead letter the cluster would not take whole: what was left out, ``key=<bytes>,value=<bytes>,headers=<n>``
(the original stays in its topic, at the offset ``dlq.original.*`` names)."""
REPLAY_COUNT: Final = "replay.count"
"""How many times the record was replayed from a dead-letter topic (not ``dlq.``: it survives the next failure)."""
REPLAY_SOURCE: Final = "replay.source"
"""``<dlq topic>[<partition>]@<offset>``: the dead letter a replayed record came from."""
DESCRIPTION_LIMIT: Final = 1024
"""Bytes at most in ``dlq.error.description``: the reason, and any excerpt of the input it quotes."""
CATEGORY: Final = "dlq.category"
"""Why it failed, and so who must act (`workers.runtime.errors.ErrorCategory`)."""
ERROR_CODE: Final = "dlq.error.code"
"""The failure's code: a Cesce errorCode, a field's name, an exception's type."""
ERROR_DESCRIPTION: Final = "dlq.error.description"
ORIGINAL_TOPIC: Final = "dlq.original.topic"
ORIGINAL_PARTITION: Final = "dlq.original.partition"
ORIGINAL_OFFSET: Final = "dlq.original.offset"
ORIGINAL_TIMESTAMP: Final = "dlq.original.timestamp"
WORKER: Final = "dlq.worker"
ATTEMPTS: Final = "dlq.attempts"
FIRST_FAILURE: Final = "dlq.first.failure"
LAST_FAILURE: Final = "dlq.last.failure"
ERROR_CODE_LIMIT: Final = 128
"""Bytes at most in ``dlq.error.code`` (a code, or the name of a field, which may come from the input)."""


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


def bounded_header(text: str, limit: int) -> bytes:
    """`text` as UTF-8 in at most `limit` bytes: whole when it fits, else cut at a character boundary and
    ended by ``... [truncated: <n> bytes]`` (its full length). Never fails: a character UTF-8 cannot
    carry (a lone surrogate, which JSON input may hold) is written as its escape."""
    data = text.encode("utf-8", errors="backslashreplace")
    if len(data) <= limit:
        return data
    marker = f" ... [truncated: {len(data)} bytes]".encode()
    kept = data[: max(0, limit - len(marker))].decode("utf-8", errors="ignore").encode()
    return kept + marker


def _iso(moment: datetime) -> bytes:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").encode()


def dead_letter_headers(record: InputRecord, failure: Failure, worker: str) -> Sequence[tuple[str, bytes]]:
    """The original headers (minus any earlier ``dlq.*`` and source headers), then ours."""
    ours = (DLQ_PREFIX, "source.")
    kept = [(k, v) for k, v in record.headers if not k.startswith(ours) and k not in TRACE_HEADERS]
    trace = [(_ORIGINAL + k, v) for k, v in record.headers if k in TRACE_HEADERS]
    timestamp = b"" if record.timestamp_ms is None else str(record.timestamp_ms).encode()
    outcome = failure.outcome
    return [
        *kept,
        (CATEGORY, str(outcome.category).encode()),
        (ERROR_CODE, bounded_header(outcome.code, ERROR_CODE_LIMIT)),
        (ERROR_DESCRIPTION, bounded_header(outcome.description, DESCRIPTION_LIMIT)),
        (ORIGINAL_TOPIC, record.topic.encode()),
        (ORIGINAL_PARTITION, str(record.partition).encode()),
        (ORIGINAL_OFFSET, str(record.offset).encode()),
        (ORIGINAL_TIMESTAMP, timestamp),
        (WORKER, worker.encode()),
        (ATTEMPTS, str(failure.attempts).encode()),
        (FIRST_FAILURE, _iso(failure.first_failure)),
        (LAST_FAILURE, _iso(failure.last_failure)),
        *trace,
        *source_headers(record),
    ]


def replay_count(headers: Sequence[tuple[str, bytes | None]]) -> int:
    """How many times a record was replayed already (0 without the header or with an unreadable one)."""
    value = next((v for k, v in reversed(headers) if k == REPLAY_COUNT), None)
    try:
        return max(0, int(value or b"0"))
    except ValueError:
        return 0


def replay_headers(headers: Sequence[tuple[str, bytes | None]], source: str) -> list[tuple[str, bytes | None]]:
    """A dead letter's headers as its replay carries them: the original's (its trace context
    restored), then ``replay.count`` one higher and ``replay.source`` (the dead letter, `source`)."""
    original: list[tuple[str, bytes | None]] = []
    for name, value in headers:
        if name.startswith(_ORIGINAL) and name[len(_ORIGINAL) :] in TRACE_HEADERS:
            original.append((name[len(_ORIGINAL) :], value))
        elif not name.startswith((DLQ_PREFIX, "source.", "replay.")) and name not in TRACE_HEADERS:
            original.append((name, value))
    return [*original, (REPLAY_COUNT, str(replay_count(headers) + 1).encode()), (REPLAY_SOURCE, source.encode())]
