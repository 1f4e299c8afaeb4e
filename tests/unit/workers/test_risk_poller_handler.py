"""The risk poller's handler on what needs no Cesce call: not due yet, a deleted schedule, a contract dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tests.unit.cesce.fakes import FakeCesce, client_for
from workers.risk.poller import Intervals, RiskPoller
from workers.runtime.contract import Defer, InputRecord, Output, Publish
from workers.runtime.serde import TOMBSTONE
from workers.runtime.table import CompactedTable

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
first_schedule = RiskPoller.first


def record(value: Any, offset: int = 0) -> InputRecord:
    return InputRecord("schedule", 0, offset, None, b"34109150331", b"...", (), value)


async def handle(value: Any, contracts: tuple[str, ...] = ("34109150331",)) -> Any:
    async with client_for(FakeCesce()) as cesce:  # a Cesce that fails the test if it is called
        poller = RiskPoller(
            cesce,
            cast(CompactedTable, None),  # never read on these paths
            contracts=contracts,
            changes_topic="changes",
            states_topic="limits",
            schedule_topic="schedule",
            intervals=Intervals(timedelta(minutes=5), timedelta(days=1)),
            clock=lambda: NOW,
        )
        return await poller(record(value))


async def test_a_schedule_not_due_is_deferred_to_its_next_movements_read() -> None:
    later = first_schedule("34109150331", NOW) | {"nextMovementsAt": NOW + timedelta(minutes=3)}
    outcome = await handle(later)
    assert isinstance(outcome, Defer)
    assert outcome.until == NOW + timedelta(minutes=3)


async def test_a_deleted_schedule_does_nothing() -> None:
    assert await handle(TOMBSTONE) == Publish([])


async def test_a_contract_no_longer_configured_has_its_schedule_deleted() -> None:
    outcome = await handle(first_schedule("34109150331", NOW), contracts=("38100029218",))
    assert outcome == Publish([Output("schedule", "34109150331", None)])
