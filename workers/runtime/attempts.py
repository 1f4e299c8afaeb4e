"""One record's attempts: decode once, handle, retry in place, defer, and the outage breaker's say.

`Attempts.run` takes a record as consumed (its value not yet decoded) and returns it decoded, with
its final outcome (`Publish`, `DeadLetter` or `Skip`, the attempts it took, the first failure's time)
or a `Defer` to sleep on:

- decode until it succeeds once; the decoded record serves every later attempt and every later look
  after a `Defer`, and a decoded `Skip` (a tombstone) is final: the handler is not called. A Schema
  Registry outage is an ordinary `Retry`; bytes that do not decode are a ``deserialization`` dead
  letter at once;
- a handler that raises is an ``internal`` dead letter (a defect, not a business outcome);
- `Retry` waits in place with full-jitter backoff (never shorter than a Retry-After) and spends the
  record's budget (`WORKER_RETRY_ATTEMPTS` / `WORKER_RETRY_MAX_SECONDS`), after which the record is
  dead-lettered ``transient``; while the `OutageBreaker` is open nobody's budget is spent, and one
  record at a time probes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from opentelemetry.trace import Span

from workers.observability import metrics
from workers.runtime.breaker import OutageBreaker
from workers.runtime.contract import (
    DeadLetter,
    Defer,
    ErrorCategory,
    Handler,
    InputRecord,
    Outcome,
    Publish,
    Retry,
    Skip,
)
from workers.runtime.errors import RegistryUnavailable
from workers.runtime.settings import RuntimeSettings
from workers.runtime.spec import Decoder

__all__ = ["UNDECODED", "Attempts", "Settled", "backoff_seconds"]

_log = logging.getLogger(__name__)

UNDECODED: Final = object()
"""An accepted record's value until its first successful decode."""

Settled = tuple[Publish | DeadLetter | Skip, int, datetime | None]
"""The final outcome, the attempts it took, and the first failure's time (None without failures)."""


class _Undecodable(Exception):
    """The record's bytes cannot be decoded: dead-letter it at once, no retry will help."""

    def __init__(self, outcome: DeadLetter) -> None:
        super().__init__(outcome.description)
        self.outcome = outcome


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt - 1, 62)))


class Attempts:
    def __init__(
        self,
        *,
        worker: str,
        settings: RuntimeSettings,
        decode: Decoder,
        handler: Handler,
        breaker: OutageBreaker,
        rng: random.Random,
    ) -> None:
        self._worker = worker
        self._settings = settings
        self._decode = decode
        self._handler = handler
        self._breaker = breaker
        self._rng = rng
        self._labels = {"worker": worker}

    async def _attempt(self, record: InputRecord) -> tuple[InputRecord, Outcome]:
        """Decode (until it succeeds once: the record returned carries its value for every later attempt and
        look) and handle. A registry outage is an ordinary `Retry`; bad bytes are a dead letter at once."""
        if record.decoded is UNDECODED:
            try:
                record = replace(record, decoded=self._decode(record.value, record.topic))
            except RegistryUnavailable as exc:
                return record, Retry("registry-unavailable", str(exc))
            except Exception as exc:
                code = str(getattr(exc, "code", type(exc).__name__))
                raise _Undecodable(DeadLetter(ErrorCategory.DESERIALIZATION, code, str(exc) or repr(exc))) from exc
        if isinstance(record.decoded, Skip):  # nothing to do (a tombstone): the handler never sees it
            return record, record.decoded
        return record, await self._handler(record)

    async def run(self, record: InputRecord, span: Span) -> tuple[InputRecord, Settled | Defer]:
        """The record (decoded once it could be) and its final outcome; or a `Defer` to sleep on."""
        settings = self._settings
        attempts = budget_spent = 0
        first_failure: datetime | None = None
        budget_started: float | None = None
        while True:
            probing = await self._breaker.admit()
            attempts += 1
            try:
                record, outcome = await self._attempt(record)
            except asyncio.CancelledError:
                if probing:
                    self._breaker.abandon()
                raise
            except _Undecodable as undecodable:
                if probing:
                    self._breaker.abandon()
                return record, (undecodable.outcome, attempts, None)
            except Exception as exc:
                _log.exception("%s: handler failed on %s@%d", self._worker, record.topic, record.offset)
                if probing:
                    self._breaker.abandon()
                internal = DeadLetter(ErrorCategory.INTERNAL, type(exc).__name__, str(exc) or repr(exc))
                return record, (internal, attempts, None)
            if isinstance(outcome, Defer | Skip):
                if probing:
                    self._breaker.abandon()
                # a Defer: nothing was tried, the retry budget starts afresh after the sleep
                return record, outcome if isinstance(outcome, Defer) else (outcome, attempts, first_failure)
            if not isinstance(outcome, Retry):
                self._breaker.success()
                return record, (outcome, attempts, first_failure)
            metrics.RETRIES.add(1, {**self._labels, "code": outcome.code})
            span.add_event("retry", {"attempt": attempts, "code": outcome.code})
            first_failure = first_failure or datetime.now(UTC)
            counted = not self._breaker.is_open  # an outage does not spend anyone's budget
            self._breaker.failure()
            if counted:
                budget_spent += 1
                budget_started = budget_started or time.monotonic()
                over_time = time.monotonic() - budget_started > settings.retry_max_seconds
                if budget_spent >= settings.retry_attempts or over_time:
                    failure = DeadLetter(ErrorCategory.TRANSIENT, outcome.code, outcome.description)
                    return record, (failure, attempts, first_failure)
            wait = backoff_seconds(
                max(budget_spent, 1), settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds, self._rng
            )
            await asyncio.sleep(max(wait, outcome.retry_after or 0.0))
