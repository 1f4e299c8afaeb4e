"""The outage breaker: when the downstream service keeps failing, stop and probe.

Without it, an outage turns every record into retries that exhaust their budget and fill the
dead-letter topic with records that were never wrong. After `threshold` consecutive transient
failures (any keys) the breaker opens: the engine pauses consumption, and retries wait for their
turn; one record at a time probes the service every `probe_interval` seconds. The first success
closes the breaker and consumption resumes. While the breaker is open a failure does not count
against a record's retry budget: nobody is dead-lettered because the service was down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["OutageBreaker"]


class OutageBreaker:
    def __init__(
        self,
        threshold: int,
        probe_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.probe_interval = probe_interval
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._open = False
        self._next_probe = 0.0
        self._probing = False
        self._closed = asyncio.Event()
        self._closed.set()
        self._nudge = asyncio.Event()  # set (and replaced) when waiters should look again before their time

    @property
    def is_open(self) -> bool:
        return self._open

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._open:
            self._open = False
            self._closed.set()
            if self._on_change:
                self._on_change(False)

    def failure(self) -> None:
        """A transient failure; returns nothing, opens the breaker at the threshold."""
        self._failures += 1
        self._probing = False
        if not self._open and self._failures >= self.threshold:
            self._open = True
            self._closed.clear()
            self._next_probe = self._clock() + self.probe_interval
            if self._on_change:
                self._on_change(True)
        elif self._open:
            self._next_probe = self._clock() + self.probe_interval

    def probe_now(self) -> None:
        """Let the next record probe at once (a fresh assignment: whatever waited to probe was abandoned)."""
        if self._open:
            self._next_probe = self._clock()
            self._probing = False
            self._nudge.set()
            self._nudge = asyncio.Event()

    def abandon(self) -> None:
        """A probe ended without an answer either way (cancelled): let another record probe."""
        self._probing = False

    async def admit(self) -> bool:
        """Wait until this caller may try; True when it goes as the probe of an open breaker."""
        while self._open:
            now = self._clock()
            if not self._probing and now >= self._next_probe:
                self._probing = True
                return True
            wait = max(self._next_probe - now, 0.05) if not self._probing else self.probe_interval
            closed, nudged = asyncio.ensure_future(self._closed.wait()), asyncio.ensure_future(self._nudge.wait())
            try:
                await asyncio.wait([closed, nudged], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                nudged.cancel()
        return False
