"""librdkafka's own log lines through Python logging, a line that repeats shown once a minute.

Every Kafka client the product builds is given ``logger`` = `LIBRDKAFKA_LOG` (`with_logger`): confluent-kafka then
hands librdkafka's lines to that logger, each time the client is polled, instead of writing them to stderr
itself. They take the process's format (JSON lines with trace ids under ``cesce-worker run``), its level and its
redaction (`workers.observability.logs`); a command that configures no logging shows the warnings and errors, as
Python does.

A broker that cannot be reached makes librdkafka say the same thing every few tens of milliseconds
("Connect to ipv4#10.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)", some two hundred lines
in ten seconds). `RepeatFilter`, installed on that logger, lets the first line of a kind through, drops the same
(facility, message) for `REPEAT_WINDOW_SECONDS`, and the first one it lets through after that says how many it
dropped. Durations in a message ("after 0ms", "after 3ms") do not make it a different message.

`Demoted` gives a client whose failures are summed up elsewhere (`workers.runtime.kafka_reach`'s probe) a logger
that keeps its lines at DEBUG.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["LIBRDKAFKA_LOG", "REPEAT_WINDOW_SECONDS", "Demoted", "RepeatFilter", "repeat_key", "with_logger"]

REPEAT_WINDOW_SECONDS: Final = 60.0
"""How long the same librdkafka line is shown once only."""

# confluent-kafka logs each line as logger.log(level, "%s [%s] %s", facility, client name, message)
_LIBRDKAFKA_FORMAT: Final = "%s [%s] %s"
_VARYING: Final = (
    (re.compile(r"\b\d+ms\b"), "Nms"),  # "(after 0ms in state CONNECT)", "(after 1002ms in state UP)"
    (re.compile(r"\b\d+ identical error"), "N identical error"),  # librdkafka's own count of repeats
)
_MAX_KEYS: Final = 512  # distinct lines remembered at once; beyond it, those whose window is over are forgotten


def repeat_key(record: logging.LogRecord) -> tuple[str, int, str, str]:
    """What makes two records "the same line": logger, level, facility (librdkafka's ``FAIL``, ``CONFWARN``...,
    else the logger's name) and the message with its durations blanked. The client's name (``rdkafka#consumer-1``)
    is left out: two clients of a process that cannot reach the same broker say the same thing."""
    args = record.args
    if record.msg == _LIBRDKAFKA_FORMAT and isinstance(args, tuple) and len(args) == 3:
        facility, message = str(args[0]), str(args[2])
    else:
        facility, message = record.name, record.getMessage()
    for pattern, blank in _VARYING:
        message = pattern.sub(blank, message)
    return record.name, record.levelno, facility, message


@dataclass
class _Seen:
    shown_at: float
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """Drop a line seen within the last `window` seconds; the next one shown says how many were dropped."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._seen: dict[tuple[str, int, str, str], _Seen] = {}
        self._lock = threading.Lock()  # librdkafka's lines arrive on whichever thread polls the client

    def filter(self, record: logging.LogRecord) -> bool:
        key = repeat_key(record)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.shown_at < self._window:
                seen.dropped += 1
                return False
            dropped = seen.dropped if seen is not None else 0
            self._seen[key] = _Seen(now)
            if len(self._seen) > _MAX_KEYS:
                self._forget(now)
        if dropped:
            window = now - seen.shown_at if seen is not None else self._window
            record.msg = f"{record.getMessage()} (and {dropped} more like it in the last {window:.0f} s)"
            record.args = None
        return True

    def _forget(self, now: float) -> None:
        for key in [key for key, seen in self._seen.items() if now - seen.shown_at >= self._window]:
            del self._seen[key]


LIBRDKAFKA_LOG: Final = logging.getLogger("librdkafka")
"""The logger every Kafka client of the product hands librdkafka's lines to (`RepeatFilter` installed)."""
if not any(isinstance(installed, RepeatFilter) for installed in LIBRDKAFKA_LOG.filters):
    LIBRDKAFKA_LOG.addFilter(RepeatFilter())


def with_logger(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with librdkafka's lines sent to `LIBRDKAFKA_LOG` (deduplicated) rather than to stderr."""
    return {**config, "logger": LIBRDKAFKA_LOG}


class Demoted:
    """A ``logger`` for a client whose failures someone else reports: its lines go to `target` at DEBUG."""

    def __init__(self, target: logging.Logger = LIBRDKAFKA_LOG) -> None:
        self._target = target

    def log(self, level: int, msg: str, *args: object) -> None:
        self._target.debug(msg, *args)
