"""How `cesce-worker dlq` prints dead letters: the ``list`` table and JSON line, and ``show``'s text.

Pure functions of the records read (`workers.ops.dlq_read`); no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from workers.ops.dlq_read import DeadLetterRecord, LedgerEntry, iso_ms
from workers.runtime import dlq
from workers.runtime.contract import ErrorCategory
from workers.runtime.dlq import REPLAY_SOURCE
from workers.runtime.serde import dumps_exact

__all__ = [
    "DESCRIPTION_WIDTH",
    "HEADER_MEANINGS",
    "TABLE_COLUMNS",
    "WHO_ACTS",
    "format_table",
    "record_json",
    "show_json",
    "show_lines",
    "table_row",
]

DESCRIPTION_WIDTH: Final = 60
TABLE_COLUMNS: Final = (
    "partition",
    "offset",
    "time",
    "key",
    "category",
    "code",
    "description",
    "attempts",
    "original",
    "replayed",
    "replay.count",
)
_NUMERIC: Final = frozenset({"partition", "offset", "attempts", "replayed", "replay.count"})


HEADER_MEANINGS: Final = {
    dlq.CATEGORY: "why it failed, and so who must act",
    dlq.ERROR_CODE: "the error code (Cesce's errorCode where Cesce refused it)",
    dlq.ERROR_DESCRIPTION: "what went wrong",
    dlq.ORIGINAL_TOPIC: "the topic the record was consumed from",
    dlq.ORIGINAL_PARTITION: "its partition there",
    dlq.ORIGINAL_OFFSET: "its offset there",
    dlq.ORIGINAL_TIMESTAMP: "its timestamp there (ms since the epoch)",
    "dlq.original.traceparent": "the original record's trace context (restored on replay)",
    "dlq.original.tracestate": "the original record's trace state (restored on replay)",
    dlq.WORKER: "the worker that dead-lettered it",
    dlq.ATTEMPTS: "how many times it was tried",
    dlq.FIRST_FAILURE: "when the first try failed",
    dlq.LAST_FAILURE: "when the last try failed",
    "traceparent": "the trace of the attempt that dead-lettered it",
    "tracestate": "the trace state of that attempt",
    "source.topic": "the input it came from (dropped on replay)",
    "source.partition": "the input's partition (dropped on replay)",
    "source.offset": "the input's offset (dropped on replay)",
    "replay.count": "how many times the original had been replayed when it failed",
    "replay.source": "the dead letter it had been replayed from",
}
WHO_ACTS: Final = {
    ErrorCategory.BUSINESS: "the data or the policy: ask Cesce or fix the ERP, then replay",
    ErrorCategory.VALIDATION: "the ERP row: correct it in the ERP (a new change follows)",
    ErrorCategory.DESERIALIZATION: "the producer of the record",
    ErrorCategory.TRANSIENT: "nobody: replay it",
    ErrorCategory.INTERNAL: "us: a defect to fix before replaying",
}


def _int(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def table_row(record: DeadLetterRecord, entry: LedgerEntry | None, *, width: int = DESCRIPTION_WIDTH) -> list[str]:
    """One line of ``dlq list`` (the description truncated to `width`), in `TABLE_COLUMNS` order."""
    description = record.header(dlq.ERROR_DESCRIPTION) or ""
    if len(description) > width:
        description = description[: width - 1] + "…"
    return [
        str(record.partition),
        str(record.offset),
        iso_ms(record.timestamp_ms) or "-",
        record.key_text if record.key_text is not None else "-",
        record.header(dlq.CATEGORY) or "-",
        record.header(dlq.ERROR_CODE) or "-",
        " ".join(description.split()) or "-",
        record.header(dlq.ATTEMPTS) or "-",
        record.original or "-",
        str(entry.times if entry is not None else 0),
        str(record.replay_count),
    ]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text columns: numbers right-aligned, text left-aligned, two spaces apart."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if columns[i] in _NUMERIC else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    return [line(columns), *(line(r) for r in rows)]


def record_json(record: DeadLetterRecord, entry: LedgerEntry | None) -> dict[str, Any]:
    """Everything ``dlq list --json`` says of one dead letter (its value aside), untruncated."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "time": iso_ms(record.timestamp_ms),
        "key": record.key_text,
        "category": record.header(dlq.CATEGORY),
        "code": record.header(dlq.ERROR_CODE),
        "description": record.header(dlq.ERROR_DESCRIPTION),
        "attempts": _int(record.header(dlq.ATTEMPTS)),
        "worker": record.header(dlq.WORKER),
        "firstFailure": record.header(dlq.FIRST_FAILURE),
        "lastFailure": record.header(dlq.LAST_FAILURE),
        "original": {
            "topic": record.original_topic,
            "partition": _int(record.header(dlq.ORIGINAL_PARTITION)),
            "offset": _int(record.header(dlq.ORIGINAL_OFFSET)),
            "timestamp": _int(record.header(dlq.ORIGINAL_TIMESTAMP)),
        },
        "replayCount": record.replay_count,
        "replaySource": record.header(REPLAY_SOURCE),
        "replayed": None if entry is None else entry.to_json(),
    }


def show_json(
    record: DeadLetterRecord, entry: LedgerEntry | None, value: Any, value_format: str | None
) -> dict[str, Any]:
    """``show --json``: the list's fields, every header with its meaning, and the decoded value."""
    headers = [{"name": k, "value": _text(v), "meaning": HEADER_MEANINGS.get(k)} for k, v in record.headers]
    return record_json(record, entry) | {"headers": headers, "value": value, "value_format": value_format}


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="backslashreplace")


def show_lines(record: DeadLetterRecord, entry: LedgerEntry | None, value: Any, value_format: str | None) -> list[str]:
    lines = [record.ref, f"  time  {iso_ms(record.timestamp_ms) or '-'}", f"  key   {record.key_text}", "headers"]
    width = max((len(k) for k, _ in record.headers), default=0)
    values = max((len(_text(v) or "") for _, v in record.headers), default=0)
    for name, raw in record.headers:
        meaning = HEADER_MEANINGS.get(name, "a header of the original record (kept on replay)")
        lines.append(f"  {name.ljust(width)}  {(_text(raw) or '').ljust(min(values, 40))}  # {meaning}")
    category = record.header(dlq.CATEGORY)
    if category in set(ErrorCategory):
        lines.append(f"who acts: {WHO_ACTS[ErrorCategory(category or '')]}")
    lines.append(f"value ({value_format or 'tombstone'})")
    rendered = dumps_exact(value) if value_format in ("avro", "json") else str(value)
    if value_format == "bytes":
        rendered = dumps_exact(value)  # base64
    lines.append(f"  {rendered}")
    if entry is None:
        lines.append("replays: never replayed from here")
    else:
        lines.append(
            f"replays: {entry.times} from here, the last at {entry.replayed_at} to {entry.replayed_to} "
            f"(replay.count {entry.replay_count})"
        )
    return lines
