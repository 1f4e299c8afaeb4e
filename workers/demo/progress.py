"""The demo's progress while it waits for results: a line on stderr at most once a second, readable in a CI log.

A stage of the demo waits several seconds for the workers' answers; instead of silence, `Progress` writes
``    ... waiting for results: 3 of 14 (2 s)`` each second it goes on waiting (no spinner, no carriage returns: every
line stands on its own in a log). A wait shorter than a second prints nothing. stdout keeps the report alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = ["Progress", "progress_line"]


def progress_line(what: str, count: int, of: int | None, seconds: float) -> str:
    """One progress line: how many of `what` have come (of how many, when known), after how long."""
    so_far = f"{count} of {of}" if of is not None else f"{count} so far"
    return f"    ... waiting for {what}: {so_far} ({seconds:.0f} s)"


class Progress:
    """Called with what has come so far on every turn of a waiting loop; writes `progress_line` to `out` (stderr)
    once `every` seconds have passed since the wait began or since the last line."""

    def __init__(
        self,
        what: str,
        of: int | None = None,
        *,
        count: Callable[[Sequence[Any]], int] = len,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        every: float = 1.0,
    ) -> None:
        self.what, self.of, self._count, self._out, self._clock, self._every = what, of, count, out, clock, every
        self._started: float | None = None
        self._last = 0.0
        self.lines = 0
        """How many lines it wrote."""

    def __call__(self, found: Sequence[Any]) -> None:
        now = self._clock()
        if self._started is None:
            self._started = self._last = now
            return
        if now - self._last < self._every:
            return
        self._last = now
        out = self._out or sys.stderr
        print(progress_line(self.what, self._count(found), self.of, now - self._started), file=out, flush=True)
        self.lines += 1
