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
The schedule and the handling above are the contract pollers' own (`workers.polling`); this module
reads and compares.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from workers.cesce import Classification, HasClassifications
from workers.polling import ContractPoller, Intervals, States
from workers.risk.changes import CHANGE_SCHEMA, LIMIT_SCHEMA, Comparison, Source, compare, debtor_key

__all__ = ["FULL_READ_FIELD", "SCHEDULE_SCHEMA", "Intervals", "RiskPoller"]

_log = logging.getLogger(__name__)

SCHEDULE_SCHEMA: Final = "cesce.state.RiskSchedule"
FULL_READ_FIELD: Final = "nextPortfolioAt"
"""When the whole portfolio is read next: the schedule's full-read field (a production schema's name, kept)."""


class RiskPoller(ContractPoller[HasClassifications, Classification]):
    """Callable as the runtime's handler over the schedule topic."""

    schedule_schema = SCHEDULE_SCHEMA
    full_field = FULL_READ_FIELD
    change_schema = CHANGE_SCHEMA
    state_schema = LIMIT_SCHEMA
    log = _log
    setting = "RISK_CONTRACTS"
    reads = ("movements", "portfolio")
    items = "record(s)"
    not_due = "contract {} is read again at {}"

    async def _read(self, contract: str, *, full: bool) -> list[Classification]:
        """The movements, then the portfolio for a reconciliation, else its requests EN TRÁMITE on known debtors
        (the 300xxx records, found by walking the portfolio from its first page: so that their decision is known
        as one): in the order things happened."""
        api = self._cesce.classifications
        records = [record async for record in api.movements(contract)]
        rest = api.portfolio(contract) if full else api.pending_requests(contract)
        return records + [record async for record in rest]

    def _compare(
        self, contract: str, known: States, found: list[Classification], *, full: bool, now: datetime
    ) -> Comparison:
        return compare(contract, known, found, source=Source.PORTFOLIO if full else Source.MOVEMENTS, now=now)

    def _change_key(self, contract: str, change: Mapping[str, Any]) -> str:
        return debtor_key(contract, change)
