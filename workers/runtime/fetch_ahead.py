"""How many records an engine keeps fetched ahead of its handlers, and the rate that bound follows.

The engine pauses consumption when `fetched_ahead` records wait in its intake and resumes when half
are taken. librdkafka's broker thread takes a resumed partition up on its own cadence: its first
records came back 0.15-1.03 s after the resume (issue 18), so the half left must outlast a second's
worth of what the engine takes.

What it takes is known two ways (`TakeRate`):

- the rate records were taken at, decayed over a second (`RateMeter`);
- the rate the in-flight bound allows at the time a record spends in flight (Little's law:
  ``max_in_flight / mean time in flight``), known after a few dozen records whether or not the
  intake kept up.

The bound follows the first, unless it is less than half the second: then the engine is starved
(a dry intake takes records slowly) and the bound follows the second. The first alone starved a
starting engine: with few records taken yet the bound was its floor (four in-flight bounds' worth),
the intake ran dry before each refetch came back, the records in flight fell to 0 for 0.2-0.4 s of
every second, and so the rate measured stayed low for the next cycle too (a sampler of the engine
every 0.1 s in the 20 ms benchmark: three such gaps in its first 3.5 s). The second alone, or the
larger of the two, held more than needed once the engine ran: the mean time in flight is noisy
(the invoices worker's bound allowed 470-1,180/s while it took 520-700/s), and a process whose
re-keying companion's records take a millisecond held 4,000 records ahead for it; with a 100,000
invoice backlog the peak memory went from 137-144 MB to 142-158 MB (`benchmarks/bench_memory.py`).
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["FETCHED_AHEAD_MAX", "MeanMeter", "RateMeter", "TakeRate", "fetched_ahead"]

IN_FLIGHT_BOUNDS: Final = 4
"""Records waiting fetched ahead, at least, in multiples of max_in_flight."""
REFETCH_SECONDS: Final = 1.0
"""How long a resumed partition's records may take to come back (measured: 0.15-1.03 s)."""
FETCHED_AHEAD_MAX: Final = 4000
"""The most records waiting fetched ahead, however fast they are taken (a few MiB)."""


def fetched_ahead(max_in_flight: int, per_second: float) -> int:
    """How many records may wait fetched ahead: four in-flight bounds' worth, and at least twice what is taken in
    `REFETCH_SECONDS`, so that the half left when consumption resumes outlasts the refetch (at most
    `FETCHED_AHEAD_MAX`)."""
    wanted = int(2 * REFETCH_SECONDS * per_second)
    return max(IN_FLIGHT_BOUNDS * max_in_flight, min(wanted, FETCHED_AHEAD_MAX))


class RateMeter:
    """Events per second, decayed exponentially over `window` seconds (cheap enough for every record)."""

    __slots__ = ("_at", "_level", "_window")

    def __init__(self, window: float = 1.0) -> None:
        self._window = window
        self._level = 0.0
        self._at = 0.0

    def add(self, count: int, now: float) -> None:
        self._level = self._decayed(now) + count
        self._at = now

    def per_second(self, now: float) -> float:
        return self._decayed(now) / self._window

    def _decayed(self, now: float) -> float:
        return self._level * math.exp(-max(now - self._at, 0.0) / self._window)


class MeanMeter:
    """The mean of recent values, each new one weighing `weight` (an exponentially weighted mean); None before any."""

    __slots__ = ("_mean", "_weight")

    def __init__(self, weight: float = 0.05) -> None:
        self._weight = weight
        self._mean: float | None = None

    def add(self, value: float) -> None:
        self._mean = value if self._mean is None else self._mean + self._weight * (value - self._mean)

    @property
    def mean(self) -> float | None:
        return self._mean


class TakeRate:
    """The rate an engine takes records at, for `fetched_ahead`: measured, or what its bound allows when the engine
    takes less than half of that (starved)."""

    __slots__ = ("_in_flight", "_max_in_flight", "_taken")

    def __init__(self, max_in_flight: int, *, window: float = 1.0, weight: float = 0.05) -> None:
        self._max_in_flight = max_in_flight
        self._taken = RateMeter(window)
        self._in_flight = MeanMeter(weight)

    def taken(self, count: int, now: float) -> None:
        """`count` records were taken from the intake at `now`."""
        self._taken.add(count, now)

    def finished(self, seconds_in_flight: float) -> None:
        """A record finished after `seconds_in_flight` from its hand-over to its lane."""
        self._in_flight.add(seconds_in_flight)

    def per_second(self, now: float) -> float:
        measured = self._taken.per_second(now)
        mean = self._in_flight.mean
        allowed = self._max_in_flight / mean if mean else 0.0
        return allowed if measured < allowed / 2 else measured
