"""A contract's schedule record: when a contract poller reads the contract next, and how a read moves it on.

One record per contract in the poller's compacted schedule topic, keyed by contractNo and due at nextMovementsAt:
each tick reads the contract's recent movements (Cesce shows the last 48 hours). A whole read (the risk portfolio,
the whole sales list) is done instead at the first tick at or after the record's full-read field, at a contract's
first read, and after a gap longer than the movements cover. Each poller names that field in its own Avro schema
(``nextPortfolioAt``, ``nextFullReadAt``). `ContractSchedule` makes the records: a contract's first (due at once,
with a whole read), the next one after a read, and after a failed read the same one a tick later, with its log line
(a Cesce failure never ends a schedule).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from workers.cesce import CesceError, CesceTransientError
from workers.cesce_handling import describe
from workers.runtime import Output

__all__ = ["MOVEMENTS_WINDOW", "ContractSchedule", "Intervals", "first_schedule"]

MOVEMENTS_WINDOW: Final = timedelta(hours=48)
_WINDOW_MARGIN: Final = timedelta(hours=1)  # clocks and read times differ: read the whole a little early


@dataclass(frozen=True, slots=True)
class Intervals:
    movements: timedelta
    full: timedelta


def first_schedule(contract_no: str, now: datetime, *, full_field: str) -> dict[str, Any]:
    """A new contract's schedule: due now, with a whole read (the state starts empty)."""
    return {
        "contractNo": contract_no,
        "since": now,
        "nextMovementsAt": now,
        full_field: now,
        "lastReadAt": None,
        "reads": 0,
        "failures": 0,
    }


@dataclass(frozen=True, slots=True)
class ContractSchedule:
    """The schedule records of one poller: its topic and Avro schema, its intervals, its full-read field.

    A failed read is logged on `log` (the poller's), naming the contract's read as `subject` does
    (``contract %s``, ``contract %s's sales``).
    """

    topic: str
    schema: str
    intervals: Intervals
    full_field: str
    log: logging.Logger
    subject: str = "contract %s"

    def full_read_due(self, schedule: Mapping[str, Any], now: datetime) -> bool:
        """A whole read: its time has come, the contract was never read, or the movements cannot cover the gap."""
        last: datetime | None = schedule["lastReadAt"]
        return schedule[self.full_field] <= now or last is None or now - last >= MOVEMENTS_WINDOW - _WINDOW_MARGIN

    def next(self, schedule: Mapping[str, Any], now: datetime, *, full: bool) -> Output:
        """The schedule after a read at `now`: due one movements interval later (a whole read: the next whole too)."""
        value = dict(schedule) | {
            "nextMovementsAt": now + self.intervals.movements,
            "lastReadAt": now,
            "reads": schedule["reads"] + 1,
            "failures": 0,
        }
        if full:
            value[self.full_field] = now + self.intervals.full
        return self.record(value)

    def failed(self, schedule: Mapping[str, Any], exc: CesceError, now: datetime) -> Output:
        """The schedule again, one movements interval later: a read that failed is tried at the next tick."""
        failures = schedule["failures"] + 1
        level = logging.WARNING if isinstance(exc, CesceTransientError) else logging.ERROR
        self.log.log(
            level,
            f"{self.subject} not read (%s: %s; %d failure(s) in a row); tried again at the next tick",
            schedule["contractNo"],
            type(exc).__name__,
            describe(exc),
            failures,
        )
        later = {"nextMovementsAt": now + self.intervals.movements, "failures": failures}
        return self.record(dict(schedule) | later)

    def record(self, value: Mapping[str, Any]) -> Output:
        """The contract's schedule record, appended again."""
        return Output(self.topic, value["contractNo"], value, schema=self.schema)
