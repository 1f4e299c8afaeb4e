"""The sales follow-up's decisions with a fake Sales API: which read, what is published, when the next tick is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from tests.unit.workers.test_sales_followup_changes import item
from workers.cesce import CesceTransientError
from workers.cesce.models.sales import SaleListItem
from workers.cli import main
from workers.polling import MOVEMENTS_WINDOW
from workers.runtime.contract import Defer, InputRecord, Output, Publish
from workers.runtime.serde import TOMBSTONE
from workers.runtime.table import CompactedTable
from workers.sales_followup import SalesFollowupTopics
from workers.sales_followup.changes import CHANGE_SCHEMA, STATE_SCHEMA, state_key, state_of
from workers.sales_followup.poller import SCHEDULE_SCHEMA, Intervals, SalesFollowup

ORO = "34109150331"
NOW = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)
first_schedule = SalesFollowup.first


class FakeSales:
    """GET .../sales: the whole list, or with recentMovementsInd Y the recent movements only."""

    def __init__(self, whole: list[SaleListItem], recent: list[SaleListItem], fail: Exception | None = None) -> None:
        self.whole, self.recent, self.fail = whole, recent, fail
        self.calls: list[bool | None] = []

    async def list(self, contract_no: str, *, recent_movements: bool | None = None) -> AsyncIterator[SaleListItem]:
        assert contract_no == ORO
        self.calls.append(recent_movements)
        if self.fail is not None:
            raise self.fail
        for found in self.recent if recent_movements else self.whole:
            yield found


class FakeCesce:
    def __init__(self, sales: FakeSales) -> None:
        self.sales = sales


class FakeStates:
    def __init__(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        self.states = dict(states)

    async def read(self) -> dict[str, Mapping[str, Any]]:
        return self.states


def record(value: Any, offset: int = 0) -> InputRecord:
    return InputRecord("schedule", 0, offset, None, ORO.encode(), b"...", (), value)


def followup(sales: FakeSales, states: Mapping[str, Mapping[str, Any]] | None = None) -> SalesFollowup:
    return SalesFollowup(
        FakeCesce(sales),
        cast(CompactedTable, FakeStates(states or {})),
        contracts=(ORO,),
        changes_topic="changes",
        states_topic="states",
        schedule_topic="schedule",
        intervals=Intervals(timedelta(minutes=5), timedelta(days=1)),
        clock=lambda: NOW,
    )


def read_before(schedule: dict[str, Any], hours: float = 1) -> dict[str, Any]:
    """A schedule whose last read was `hours` ago and whose movements read is due now."""
    return schedule | {"lastReadAt": NOW - timedelta(hours=hours), "nextFullReadAt": NOW + timedelta(hours=5)}


def by_topic(outcome: Any, topic: str) -> list[Output]:
    assert isinstance(outcome, Publish)
    return [o for o in outcome.outputs if o.topic == topic]


async def test_the_first_read_is_the_whole_list_and_publishes_no_change() -> None:
    """001 line 1019-1020: the list is either the last 48 hours' movements or "la consulta de ventas de una póliza";
    the first read learns every sale, so a later movement of an old sale is known as a change."""
    sales = FakeSales(whole=[item(), item("200000000002", invoiceNo="F-2")], recent=[])
    outcome = await followup(sales)(record(first_schedule(ORO, NOW)))
    assert sales.calls == [None]
    assert by_topic(outcome, "changes") == []
    assert {o.key for o in by_topic(outcome, "states")} == {f"{ORO}/200000000001", f"{ORO}/200000000002"}
    [schedule] = by_topic(outcome, "schedule")
    assert schedule.value is not None
    assert schedule.schema == SCHEDULE_SCHEMA
    assert schedule.value["nextMovementsAt"] == NOW + timedelta(minutes=5)  # type: ignore[index]
    assert schedule.value["nextFullReadAt"] == NOW + timedelta(days=1)  # type: ignore[index]
    assert (schedule.value["reads"], schedule.value["lastReadAt"]) == (1, NOW)  # type: ignore[index]


async def test_a_tick_reads_the_recent_movements_and_publishes_what_changed() -> None:
    """001 line 1019-1020: "la consulta de ventas que han sufrido algún movimiento en las últimas 48 horas";
    002 line 622: "collectedAmount"."""
    states = {state_key(ORO, "200000000001"): state_of(ORO, item(), NOW - timedelta(hours=1))}
    sales = FakeSales(whole=[], recent=[item(collectedAmount="4000,00", statusDate="20240508")])
    outcome = await followup(sales, states)(record(read_before(first_schedule(ORO, NOW))))
    assert sales.calls == [True]
    [change] = by_topic(outcome, "changes")
    assert (change.key, change.schema) == (f"{ORO}/200000000001", CHANGE_SCHEMA)
    assert change.value is not None
    assert change.value["kinds"] == ["COLLECTED"]  # type: ignore[index]
    [state] = by_topic(outcome, "states")
    assert state.schema == STATE_SCHEMA


async def test_states_of_other_contracts_are_not_compared() -> None:
    other = {state_key("38100029218", "200000000009"): state_of("38100029218", item("200000000009"), NOW)}
    sales = FakeSales(whole=[], recent=[])
    outcome = await followup(sales, other)(record(read_before(first_schedule(ORO, NOW))))
    assert by_topic(outcome, "states") == []  # not forgotten, not touched


async def test_after_a_gap_the_movements_cannot_cover_the_whole_list_is_read() -> None:
    """001 line 1026-1027: the movements are from "dos días antes al de ejecución": a longer gap reads everything."""
    sales = FakeSales(whole=[item()], recent=[])
    gap = MOVEMENTS_WINDOW.total_seconds() / 3600
    await followup(sales)(record(read_before(first_schedule(ORO, NOW), hours=gap)))
    assert sales.calls == [None]


async def test_a_schedule_not_due_is_deferred() -> None:
    later = first_schedule(ORO, NOW) | {"nextMovementsAt": NOW + timedelta(minutes=3)}
    outcome = await followup(FakeSales([], []))(record(later))
    assert isinstance(outcome, Defer)
    assert outcome.until == NOW + timedelta(minutes=3)


async def test_a_failed_read_is_tried_at_the_next_tick_and_counted() -> None:
    sales = FakeSales([], [], fail=CesceTransientError("maintenance", operation="sales.list", error_code="18"))
    outcome = await followup(sales)(record(read_before(first_schedule(ORO, NOW))))
    assert isinstance(outcome, Publish)
    [schedule] = outcome.outputs
    assert schedule.topic == "schedule"
    assert schedule.value is not None
    assert (schedule.value["failures"], schedule.value["nextMovementsAt"]) == (1, NOW + timedelta(minutes=5))  # type: ignore[index]


async def test_a_deleted_schedule_does_nothing_and_a_dropped_contract_is_deleted() -> None:
    assert await followup(FakeSales([], []))(record(TOMBSTONE)) == Publish([])
    gone = first_schedule("38100029218", NOW)
    assert await followup(FakeSales([], []))(record(gone)) == Publish([Output("schedule", "38100029218", None)])


async def test_a_second_schedule_chain_of_a_contract_is_dropped() -> None:
    handler = followup(FakeSales(whole=[], recent=[]))
    await handler(record(read_before(first_schedule(ORO, NOW)), offset=0))
    assert await handler(record(read_before(first_schedule(ORO, NOW)), offset=1)) == Publish([])


def test_contracts_are_a_comma_separated_list_of_contract_numbers() -> None:
    topics = SalesFollowupTopics.model_validate({"SALES_FOLLOWUP_CONTRACTS": f"{ORO}, 38100029218"})
    assert topics.contract_numbers == (ORO, "38100029218")
    assert topics.schemas == {
        "cesce.sale-changes": CHANGE_SCHEMA,
        "cesce.sale-states": STATE_SCHEMA,
        "cesce.sales-followup-schedule": SCHEDULE_SCHEMA,
    }
    with pytest.raises(ValidationError):
        SalesFollowupTopics.model_validate({"SALES_FOLLOWUP_CONTRACTS": "123"})


def test_cesce_worker_run_sales_followup_names_a_missing_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Registered with the other workers: `cesce-worker run sales-followup` reads its settings like them."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    for name in ("SALES_FOLLOWUP_CONTRACTS", "CESCE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run", "sales-followup"]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == "cesce-worker run sales-followup: configuration error: SALES_FOLLOWUP_CONTRACTS: Field required"
    )
