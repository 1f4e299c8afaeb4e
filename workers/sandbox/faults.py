"""Deciding which fault a request meets, without touching a socket.

The ASGI middleware (`workers.sandbox.middleware`) asks this module, in order:

1. `admit`: the token bucket (429, errorCode 29, Retry-After) and maintenance (400, errorCode
   18) refuse a request before anything else, as a gateway would;
2. `delay`: latency plus a uniform jitter, slept before handling;
3. `fails`: the error rate answers 500 errorCode 3 without processing;
4. `outcome`: after processing, the answer is delivered, held (hang) or cut (drop).

Each random draw has its own generator seeded from the sandbox seed and the fault's name, so a
test with a fixed seed sees the same sequence, and turning one fault on does not shift another's.
The token bucket holds up to one second's worth of requests (at least one) and refills
continuously at ``rate_limit`` per second, on an injectable monotonic clock.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import MSG_MAINTENANCE
from workers.sandbox.config import Faults
from workers.sandbox.wire import ApiError

__all__ = ["FaultCounters", "FaultInjector", "Outcome", "TokenBucket"]


class Outcome(StrEnum):
    DELIVER = "deliver"
    HANG = "hang"
    DROP = "drop"


@dataclass(slots=True)
class FaultCounters:
    rate_limited: int = 0
    maintenance: int = 0
    errors: int = 0
    hung: int = 0
    dropped: int = 0


class TokenBucket:
    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._monotonic = monotonic
        self._tokens = self.capacity
        self._updated = monotonic()

    def take(self) -> float | None:
        """Take one token: None when granted, else the seconds until one is available."""
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.rate


class FaultInjector:
    def __init__(
        self, faults: Faults, seed: int | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self._monotonic = monotonic
        # Simulation, not security: reproducible draws are the point.
        self._rngs = {name: random.Random(f"{self._seed}:{name}") for name in ("jitter", "error", "hang", "drop")}  # noqa: S311
        self.counters = FaultCounters()
        self._faults = faults
        self._bucket = self._new_bucket(faults)

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        if faults.rate_limit != self._faults.rate_limit:
            self._bucket = self._new_bucket(faults)
        self._faults = faults

    def admit(self) -> ApiError | None:
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait is not None:
                self.counters.rate_limited += 1
                retry_after = str(max(1, math.ceil(wait)))
                return ApiError(429, cat.ERROR_CODE_RATE_LIMITED, cat.MSG_RATE_LIMITED, {"Retry-After": retry_after})
        if self._faults.maintenance:
            self.counters.maintenance += 1
            return ApiError(400, cat.ERROR_CODE_MAINTENANCE, MSG_MAINTENANCE)
        return None

    def delay(self) -> float:
        jitter = self._rngs["jitter"].uniform(0, self._faults.jitter_ms) if self._faults.jitter_ms else 0.0
        return (self._faults.latency_ms + jitter) / 1000

    def fails(self) -> bool:
        if self._draw("error", self._faults.error_rate):
            self.counters.errors += 1
            return True
        return False

    def outcome(self) -> Outcome:
        if self._draw("hang", self._faults.hang_rate):
            self.counters.hung += 1
            return Outcome.HANG
        if self._draw("drop", self._faults.drop_rate):
            self.counters.dropped += 1
            return Outcome.DROP
        return Outcome.DELIVER

    def _draw(self, name: str, probability: float) -> bool:
        return probability > 0 and self._rngs[name].random() < probability

    def _new_bucket(self, faults: Faults) -> TokenBucket | None:
        return None if faults.rate_limit is None else TokenBucket(faults.rate_limit, self._monotonic)
