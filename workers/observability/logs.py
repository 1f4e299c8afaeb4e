"""Logs: one JSON object per line with the trace and span ids, and no secret ever written.

``LOG_FORMAT=json`` (the default of ``cesce-worker run``) writes::

    {"time": "2026-11-21T10:00:00.123Z", "level": "WARNING", "logger": "workers.runtime.engine",
     "message": "...", "trace_id": "4bf9...", "span_id": "00f0..."}

An engine that a supervisor started (``WORKER_PROCESSES`` > 1) adds ``"engine": <index>`` to each line, so
the lines of one process tree tell its engines apart (``engine=<index>`` in text).

``LOG_FORMAT=text`` writes the same on one readable line. Either way every line passes through
`Redactor` last: the configured secrets (client secret, password, SASL password) are replaced
wherever they appear, and so is anything shaped like a credential (``Bearer <token>``,
``access_token=...``, ``"password": "..."``), whatever logged it (our code, httpx, librdkafka).
The code never logs them in the first place; this is the second lock.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final, TextIO

from opentelemetry import trace

__all__ = ["JsonFormatter", "Redactor", "TextFormatter", "configure_logging"]

_MASK: Final = "***"
_SHAPES: Final = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\"'&\s,}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|password|sasl\.password)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
]


class Redactor:
    """Masks known secret values and credential-shaped text in a formatted line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret containing another is masked whole; very short values would mask noise
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, _MASK)
        for shape in _SHAPES:
            line = shape.sub(lambda match: match.group(1) + _MASK, line)
        return line


def _trace_ids() -> tuple[str | None, str | None]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor, fields: Mapping[str, object] | None = None) -> None:
        super().__init__()
        self._redact = redact
        self._fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _trace_ids()
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, object] = {
            "time": moment.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if trace_id:
            entry |= {"trace_id": trace_id, "span_id": span_id}
        entry |= self._fields
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor, fields: Mapping[str, object] | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._redact = redact
        self._suffix = "".join(f" {name}={value}" for name, value in (fields or {}).items())

    def format(self, record: logging.LogRecord) -> str:
        trace_id, _ = _trace_ids()
        line = super().format(record) + self._suffix
        return self._redact(f"{line} trace_id={trace_id}" if trace_id else line)


def configure_logging(
    level: str,
    *,
    json_lines: bool,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    fields: Mapping[str, object] | None = None,
) -> None:
    """Route every logger (ours, httpx, librdkafka's) to `stream` (stderr) in the chosen format, redacted;
    `fields` go on every line (an engine's index under a supervisor)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redact = Redactor(secrets)
    handler.setFormatter(JsonFormatter(redact, fields) if json_lines else TextFormatter(redact, fields))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
