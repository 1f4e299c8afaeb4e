"""The sales follow-up: reads each contract's sales list on a schedule and publishes what Cesce changed.

A contract poller like the risk poller (`workers.polling`, `workers.risk.poller`): the compacted topic
``cesce.sales-followup-schedule`` holds one record per contract, keyed by contractNo and due at nextMovementsAt; the
poller consumes it as a delay queue (`Defer`), so the consumer group gives each contract to exactly one replica, and
`Chains` keeps one schedule chain per contract. For each due record, in one transaction with its offset:

1. read the sales list's recent movements (``recentMovementsInd`` Y: guide 4.3.2, "los movimientos a partir de dos
   días antes al de ejecución"), page after page with ``initialValue`` until it comes back empty; the whole list
   instead at a contract's first read, every full-read interval, and after a gap the movements cannot cover;
2. compare every sale with its last known state (the compacted ``cesce.sale-states``, read to its end first;
   `workers.sales_followup.changes`);
3. publish the changes to ``cesce.sale-changes``, the new states, and the schedule record again.

A Cesce failure never ends a contract's schedule and nothing is dead-lettered for it: the read is tried again at the
next tick.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from workers.cesce.models.sales import SaleListItem
from workers.polling import ContractPoller, Intervals, States
from workers.sales_followup.changes import CHANGE_SCHEMA, STATE_SCHEMA, Comparison, change_key, compare

__all__ = ["FULL_READ_FIELD", "SCHEDULE_SCHEMA", "HasSalesList", "Intervals", "SalesFollowup", "SalesList"]

_log = logging.getLogger(__name__)

SCHEDULE_SCHEMA: Final = "cesce.state.SaleSchedule"
FULL_READ_FIELD: Final = "nextFullReadAt"
"""When the whole sales list is read next: the schedule's full-read field."""


class SalesList(Protocol):
    """The one Sales API call the follow-up makes (`workers.cesce.sales.SalesApi.list`)."""

    def list(self, contract_no: str, *, recent_movements: bool | None = None) -> AsyncIterator[SaleListItem]: ...


class HasSalesList(Protocol):
    @property
    def sales(self) -> SalesList: ...


class SalesFollowup(ContractPoller[HasSalesList, SaleListItem]):
    """Callable as the runtime's handler over the schedule topic."""

    schedule_schema = SCHEDULE_SCHEMA
    full_field = FULL_READ_FIELD
    change_schema = CHANGE_SCHEMA
    state_schema = STATE_SCHEMA
    log = _log
    setting = "SALES_FOLLOWUP_CONTRACTS"
    subject = "contract %s's sales"
    reads = ("recent movements", "whole sales list")
    items = "sale(s)"
    not_due = "contract {}'s sales are read again at {}"

    async def _read(self, contract: str, *, full: bool) -> list[SaleListItem]:
        """The whole list, else its recent movements (``recentMovementsInd`` Y)."""
        return [item async for item in self._cesce.sales.list(contract, recent_movements=None if full else True)]

    def _compare(
        self, contract: str, known: States, found: list[SaleListItem], *, full: bool, now: datetime
    ) -> Comparison:
        return compare(contract, known, found, now=now)

    def _change_key(self, contract: str, change: Mapping[str, Any]) -> str:
        return change_key(change)
