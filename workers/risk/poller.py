"""The risk poller: reads each contract's movements (and now and then its whole portfolio) and publishes what changed.

What drives it lives in Kafka: the compacted topic ``cesce.risk-schedule`` holds one record per
contract, keyed by contractNo and due at nextMovementsAt (a reconciliation is done at the first tick
at or after nextPortfolioAt). The
poller consumes it as a delay queue (`Defer` waits for the due time), so the consumer group gives
each contract to exactly one poller among the replicas, and a poller that takes a partition over
goes on from the schedule and the state it finds there. For each due record, in one transaction
with its offset:

1. read the 48-hour movements, paged until nextEndorsementNo is "0"; when a reconciliation is due
   (nextPortfolioAt, the first read, or a gap since the last read longer than the movements can
   cover) the whole portfolio too;
2. compare every record with the last known state (the compacted ``cesce.risk-limits``, read to
   its end first, so what the previous read wrote is known; `workers.risk.changes`);
3. publish the changes to ``cesce.risk-changes``, the new states, and the schedule record again.

Cesce failures never end a contract's schedule and nothing is dead-lettered for them: the read is
tried again at the next movements tick (an error that is not transient is logged as an error each
time, with Cesce's own words). One schedule chain per contract: a second one (two replicas seeding
the same new contract at once, a retried transaction's twin on the mock) is dropped by `Chains`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from workers.cesce import CesceError, CesceTransientError, Classification, HasClassifications
from workers.cesce_handling import describe
from workers.risk.changes import CHANGE_SCHEMA, LIMIT_SCHEMA, Comparison, Source, compare, debtor_key
from workers.runtime import TOMBSTONE, Chains, CompactedTable, Defer, InputRecord, Outcome, Output, Publish

__all__ = ["MOVEMENTS_WINDOW", "SCHEDULE_SCHEMA", "Intervals", "RiskPoller", "first_schedule"]

_log = logging.getLogger(__name__)

SCHEDULE_SCHEMA: Final = "cesce.state.RiskSchedule"
MOVEMENTS_WINDOW: Final = timedelta(hours=48)
_WINDOW_MARGIN: Final = timedelta(hours=1)  # clocks and read times differ: reconcile a little early
_ONE_CHAIN: Final = datetime(1970, 1, 1, tzinfo=UTC)  # every schedule of a contract is the same chain


@dataclass(frozen=True, slots=True)
class Intervals:
    movements: timedelta
    portfolio: timedelta


def first_schedule(contract_no: str, now: datetime) -> dict[str, Any]:
    """A new contract's schedule: due now, with a portfolio reconciliation (the state starts empty)."""
    return {
        "contractNo": contract_no,
        "since": now,
        "nextMovementsAt": now,
        "nextPortfolioAt": now,
        "lastReadAt": None,
        "reads": 0,
        "failures": 0,
    }


class RiskPoller:
    """Callable as the runtime's handler over the schedule topic."""

    def __init__(
        self,
        cesce: HasClassifications,
        limits: CompactedTable,
        *,
        contracts: Collection[str],
        changes_topic: str,
        limits_topic: str,
        schedule_topic: str,
        intervals: Intervals,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = cesce.classifications
        self._limits = limits
        self._contracts = frozenset(contracts)
        self._changes_topic, self._limits_topic, self._schedule_topic = changes_topic, limits_topic, schedule_topic
        self._intervals = intervals
        self._clock = clock
        self._chains = Chains()

    async def __call__(self, record: InputRecord) -> Outcome:
        if record.decoded is TOMBSTONE:  # a contract no longer polled
            return Publish([])
        schedule: Mapping[str, Any] = record.decoded
        contract = schedule["contractNo"]
        if contract not in self._contracts:
            _log.warning("contract %s is no longer in RISK_CONTRACTS: its schedule is deleted", contract)
            return Publish([Output(self._schedule_topic, contract, None)])
        if not self._chains.admit(contract, (_ONE_CHAIN, contract), record):
            _log.info("contract %s: a second schedule record dropped", contract)
            return Publish([])
        now = self._clock()
        due: datetime = schedule["nextMovementsAt"]  # a reconciliation waits for the first tick at or after it
        if due > now:
            return Defer(due, f"contract {contract} is read again at {due.isoformat()}")
        full = self._reconcile_due(schedule, now)
        try:
            records = await self._read(contract, full=full)
        except CesceError as exc:
            return Publish([self._failed(schedule, exc, now)])
        known = {k: v for k, v in (await self._limits.read()).items() if k.startswith(f"{contract}/")}
        found = compare(contract, known, records, source=Source.PORTFOLIO if full else Source.MOVEMENTS, now=now)
        _log.info(
            "contract %s: %s read, %d record(s), %d change(s)",
            contract,
            "portfolio" if full else "movements",
            len(records),
            len(found.changes),
        )
        return Publish([*self._outputs(contract, found), self._next(schedule, now, full=full)])

    def _reconcile_due(self, schedule: Mapping[str, Any], now: datetime) -> bool:
        last: datetime | None = schedule["lastReadAt"]
        return schedule["nextPortfolioAt"] <= now or last is None or now - last >= MOVEMENTS_WINDOW - _WINDOW_MARGIN

    async def _read(self, contract: str, *, full: bool) -> list[Classification]:
        """The movements, then the portfolio for a reconciliation, else its 300xxx requests EN TRÁMITE (so that
        their decision is known as one): in the order things happened."""
        records = [record async for record in self._api.movements(contract)]
        rest = self._api.portfolio(contract) if full else self._api.pending_requests(contract)
        return records + [record async for record in rest]

    def _outputs(self, contract: str, found: Comparison) -> list[Output]:
        outputs = [
            Output(self._changes_topic, debtor_key(contract, change), change, schema=CHANGE_SCHEMA)
            for change in found.changes
        ]
        outputs += [
            Output(self._limits_topic, key, state, schema=None if state is None else LIMIT_SCHEMA)
            for key, state in found.writes.items()
        ]
        return outputs

    def _next(self, schedule: Mapping[str, Any], now: datetime, *, full: bool) -> Output:
        value = dict(schedule) | {
            "nextMovementsAt": now + self._intervals.movements,
            "lastReadAt": now,
            "reads": schedule["reads"] + 1,
            "failures": 0,
        }
        if full:
            value["nextPortfolioAt"] = now + self._intervals.portfolio
        return self._schedule(value)

    def _failed(self, schedule: Mapping[str, Any], exc: CesceError, now: datetime) -> Output:
        """The schedule again, one movements interval later: a read that failed is tried at the next tick."""
        failures = schedule["failures"] + 1
        level = logging.WARNING if isinstance(exc, CesceTransientError) else logging.ERROR
        _log.log(
            level,
            "contract %s not read (%s: %s; %d failure(s) in a row); tried again at the next tick",
            schedule["contractNo"],
            type(exc).__name__,
            describe(exc),
            failures,
        )
        later = {"nextMovementsAt": now + self._intervals.movements, "failures": failures}
        return self._schedule(dict(schedule) | later)

    def _schedule(self, value: Mapping[str, Any]) -> Output:
        """The contract's schedule record, appended again."""
        return Output(self._schedule_topic, value["contractNo"], value, schema=SCHEDULE_SCHEMA)
