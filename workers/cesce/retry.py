"""When to try a Cesce call again, and how long to wait first.

Only `CesceTransientError` is retried: a rejection, a duplicate, a missing resource, bad
credentials or a refused field give the same answer however often they are sent. A transient error
whose outcome is unknown (the request may have been processed) is retried only for idempotent
calls: repeating a classification request or a non-payment declaration could create a second one,
so those go back to the caller, which looks the first one up (assumptions "outcome-unknown").

A call resent after an attempt whose outcome was unknown can end in an answer that only means
something knowing that: a sale declaration refused because its first attempt went in, whatever
Cesce's words for that. `follows_unknown_attempt` tells the caller: the error a resent call ends
with is marked when an earlier attempt of the call may have been processed (and a transient error
it ends with says ``outcome_unknown`` then, whatever its own cause).

The decisions are pure functions (`is_retryable`, `backoff_seconds`, `delay_seconds`,
`parse_retry_after`) tested on their own; `RetryPolicy` feeds them to tenacity with an injectable
sleep, clock and random source, so unit tests neither sleep nor depend on chance.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from workers.cesce.errors import CesceTransientError
from workers.observability.metrics import CESCE_RETRIES

if TYPE_CHECKING:
    from workers.cesce.config import CesceSettings

__all__ = [
    "Clock",
    "RetryPolicy",
    "Sleep",
    "Uniform",
    "backoff_seconds",
    "delay_seconds",
    "follows_unknown_attempt",
    "is_retryable",
    "parse_retry_after",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

_MAX_DOUBLINGS = 62  # beyond this the exponential is above any sane cap anyway
_AFTER_UNKNOWN = "cesce_follows_unknown_attempt"  # the mark `RetryPolicy.run` sets on an error


def follows_unknown_attempt(error: BaseException) -> bool:
    """Whether `error` ended a call resent after an attempt that may have been processed (a read timeout, a
    connection dropped after sending, a 502/504): Cesce may hold what the call asked for, whatever it answered."""
    return bool(getattr(error, _AFTER_UNKNOWN, False))


def _mark_after_unknown(error: BaseException) -> None:
    setattr(error, _AFTER_UNKNOWN, True)
    if isinstance(error, CesceTransientError):
        error.outcome_unknown = True  # the call's outcome is unknown, whatever this last attempt's cause


class Uniform(Protocol):
    """The part of `random.Random` the backoff needs."""

    def uniform(self, a: float, b: float) -> float: ...


def backoff_seconds(attempt: int, base: float, cap: float, rng: Uniform) -> float:
    """Full jitter: a uniform wait in [0, min(cap, base * 2 ** (attempt - 1))].

    `attempt` is the number of the attempt that just failed, from 1. Jitter spreads the retries of
    many workers hit by the same outage instead of sending them back in step.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = cap if attempt > _MAX_DOUBLINGS else min(cap, base * 2 ** (attempt - 1))
    return rng.uniform(0.0, ceiling)


def delay_seconds(error: BaseException | None, attempt: int, base: float, cap: float, rng: Uniform) -> float:
    """The wait before the next attempt: the jittered backoff, but never less than Retry-After."""
    backoff = backoff_seconds(attempt, base, cap, rng)
    retry_after = error.retry_after if isinstance(error, CesceTransientError) else None
    return max(backoff, retry_after or 0.0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def is_retryable(error: BaseException, *, idempotent: bool) -> bool:
    """Whether repeating the call can help and cannot do harm."""
    if not isinstance(error, CesceTransientError):
        return False
    return idempotent or not error.outcome_unknown


class RetryPolicy:
    """Runs one Cesce call with retries, within a cap on attempts and on total time."""

    def __init__(
        self,
        *,
        attempts: int,
        max_seconds: float,
        base_seconds: float,
        cap_seconds: float,
        sleep: Sleep | None = None,
        rng: Uniform | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.attempts = attempts
        self.max_seconds = max_seconds
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng: Uniform = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock: Clock = clock or time.monotonic

    @classmethod
    def from_settings(
        cls,
        settings: CesceSettings,
        *,
        sleep: Sleep | None = None,
        rng: Uniform | None = None,
        clock: Clock | None = None,
    ) -> RetryPolicy:
        return cls(
            attempts=settings.retry_attempts,
            max_seconds=settings.retry_max_seconds,
            base_seconds=settings.retry_backoff_base_seconds,
            cap_seconds=settings.retry_backoff_max_seconds,
            sleep=sleep,
            rng=rng,
            clock=clock,
        )

    async def run(self, call: Callable[[], Awaitable[T]], *, idempotent: bool, operation: str = "") -> T:
        """Await `call()` until it succeeds, fails for good, or the budget is spent.

        The error raised is the last one, unchanged but for `attempts` on a transient error, and the mark of
        `follows_unknown_attempt` when an earlier attempt's outcome was unknown.
        """
        started = self._clock()
        try:  # most calls succeed at once: tenacity's machinery is entered only after a failure
            return await call()
        except Exception as error:
            first: BaseException = error
            if self.attempts <= 1 or not is_retryable(error, idempotent=idempotent):
                if isinstance(error, CesceTransientError):
                    error.attempts = 1
                raise
        tries = 0
        unknown = isinstance(first, CesceTransientError) and first.outcome_unknown
        delays: dict[int, float] = {}

        def delay(state: RetryCallState) -> float:
            # tenacity asks for the wait and the stop decision separately; both must see one draw.
            if state.attempt_number not in delays:
                error = state.outcome.exception() if state.outcome else None
                delays[state.attempt_number] = delay_seconds(
                    error, state.attempt_number, self.base_seconds, self.cap_seconds, self._rng
                )
            return delays[state.attempt_number]

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.attempts:
                return True
            return self._clock() - started + delay(state) > self.max_seconds

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            code = getattr(error, "error_code", None) or getattr(error, "http_status", None) or type(error).__name__
            CESCE_RETRIES.add(1, {"operation": operation, "code": str(code)})
            _log.warning(
                "cesce %s: attempt %d failed (%s: %s); retrying in %.2fs",
                operation,
                state.attempt_number,
                type(error).__name__,
                error,
                delay(state),
            )

        async def attempt() -> T:
            nonlocal tries, unknown
            tries += 1
            if tries == 1:  # the first attempt, made above: its failure decides as any other
                raise first
            try:
                return await call()
            except Exception as error:
                if unknown:
                    _mark_after_unknown(error)
                unknown = unknown or (isinstance(error, CesceTransientError) and error.outcome_unknown)
                raise

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: is_retryable(error, idempotent=idempotent)),
            wait=delay,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return await retrying(attempt)
        except CesceTransientError as error:
            error.attempts = tries
            raise
