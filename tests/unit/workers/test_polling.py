"""The contract pollers' shared parts: which read is whole, the schedule after a read or a failed one, the handler."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import Field, ValidationError

from workers.cesce import CesceRejection, CesceTransientError
from workers.polling import (
    MOVEMENTS_WINDOW,
    Comparison,
    ContractPoller,
    ContractSchedule,
    ContractsSettings,
    Intervals,
    States,
    first_schedule,
)
from workers.runtime import TOMBSTONE, CompactedTable, Defer, InputRecord, Output, Publish

CONTRACT = "34109150331"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LOG = logging.getLogger("tests.polling")


def schedule(subject: str = "contract %s") -> ContractSchedule:
    intervals = Intervals(timedelta(minutes=5), timedelta(days=1))
    return ContractSchedule("schedule", "cesce.state.Schedule", intervals, "nextWholeAt", LOG, subject=subject)


def read_before(hours: float, *, whole_in: timedelta = timedelta(hours=5)) -> dict[str, object]:
    first = first_schedule(CONTRACT, NOW - timedelta(days=2), full_field="nextWholeAt")
    return first | {"lastReadAt": NOW - timedelta(hours=hours), "nextWholeAt": NOW + whole_in, "reads": 3}


def test_a_first_schedule_is_due_now_with_a_whole_read_under_the_pollers_field_name() -> None:
    first = first_schedule(CONTRACT, NOW, full_field="nextWholeAt")
    assert first == {
        "contractNo": CONTRACT,
        "since": NOW,
        "nextMovementsAt": NOW,
        "nextWholeAt": NOW,
        "lastReadAt": None,
        "reads": 0,
        "failures": 0,
    }
    assert schedule().full_read_due(first, NOW)


def test_a_whole_read_is_due_at_its_time_else_after_a_gap_the_movements_cannot_cover() -> None:
    """001 line 694: the movements are the records "que han experimentado cambios en las últimas 48 horas"; a read
    after a longer gap (less an hour's margin for clocks) reads everything."""
    assert not schedule().full_read_due(read_before(1), NOW)
    assert schedule().full_read_due(read_before(1, whole_in=timedelta(0)), NOW)
    assert not schedule().full_read_due(read_before(46.9), NOW)
    assert schedule().full_read_due(read_before(MOVEMENTS_WINDOW / timedelta(hours=1) - 1), NOW)


def test_after_a_read_the_next_tick_is_one_interval_later_and_a_whole_read_moves_its_own_time() -> None:
    before = read_before(1) | {"failures": 2}
    after = schedule().next(before, NOW, full=False)
    assert (after.topic, after.key, after.schema) == ("schedule", CONTRACT, "cesce.state.Schedule")
    assert after.value == before | {
        "nextMovementsAt": NOW + timedelta(minutes=5),
        "lastReadAt": NOW,
        "reads": 4,
        "failures": 0,
    }
    whole = cast(Mapping[str, Any], schedule().next(before, NOW, full=True).value)
    assert whole["nextWholeAt"] == NOW + timedelta(days=1)


def test_a_failed_read_is_tried_at_the_next_tick_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    before = read_before(1) | {"failures": 1}
    outage = CesceTransientError("maintenance", operation="sales.list", error_code="18")
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        again = schedule("contract %s's sales").failed(before, outage, NOW)
    assert again.value == before | {"nextMovementsAt": NOW + timedelta(minutes=5), "failures": 2}
    [line] = caplog.records
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith(f"contract {CONTRACT}'s sales not read (CesceTransientError: ")
    assert line.getMessage().endswith("; 2 failure(s) in a row); tried again at the next tick")


def test_a_failure_that_is_not_transient_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    refusal = CesceRejection("refused", http_status=403, error_code="6", error_description="NO AUTORIZADO")
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        schedule().failed(read_before(1), refusal, NOW)
    [line] = caplog.records
    assert line.levelno == logging.ERROR
    assert line.getMessage().startswith(f"contract {CONTRACT} not read (CesceRejection: ")


class Topics(ContractsSettings):
    contracts: str = Field(alias="TEST_CONTRACTS", min_length=1)
    changes: str = "changes"
    schedule: str = "schedule"
    movements_seconds: float = Field(default=300.0, alias="TEST_MOVEMENTS_SECONDS")
    full_seconds: float = Field(default=86400.0, alias="TEST_FULL_SECONDS")


def test_the_contracts_are_comma_separated_contract_numbers_and_the_intervals_seconds() -> None:
    topics = Topics.model_validate({"TEST_CONTRACTS": f" {CONTRACT}, ,38100029218 ", "TEST_MOVEMENTS_SECONDS": "0.5"})
    assert topics.contract_numbers == (CONTRACT, "38100029218")
    assert topics.intervals == Intervals(timedelta(seconds=0.5), timedelta(days=1))
    for wrong in ("12345", " , "):
        with pytest.raises(ValidationError):
            Topics.model_validate({"TEST_CONTRACTS": wrong})


class Echo(ContractPoller[list[str], str]):
    """A poller whose Cesce is a list of names: each one read is a change of its own."""

    schedule_schema, full_field, change_schema, state_schema = "Schedule", "nextWholeAt", "Change", "State"
    log, setting, reads, items = LOG, "TEST_CONTRACTS", ("movements", "whole"), "name(s)"
    not_due = "contract {} waits until {}"

    async def _read(self, contract: str, *, full: bool) -> list[str]:
        return self._cesce if full else self._cesce[:1]

    def _compare(self, contract: str, known: States, found: list[str], *, full: bool, now: datetime) -> Comparison:
        return Comparison([{"name": name} for name in found if f"{contract}/{name}" not in known])

    def _change_key(self, contract: str, change: Mapping[str, Any]) -> str:
        return f"{contract}/{change['name']}"


class Known:
    async def read(self) -> dict[str, Mapping[str, Any]]:
        return {f"{CONTRACT}/a": {}, "38100029218/b": {}}


def poll(*, contracts: tuple[str, ...] = (CONTRACT,)) -> Echo:
    intervals = Intervals(timedelta(minutes=5), timedelta(days=1))
    return Echo(
        ["a", "b"],
        cast(CompactedTable, Known()),
        contracts=contracts,
        changes_topic="changes",
        states_topic="states",
        schedule_topic="schedule",
        intervals=intervals,
        clock=lambda: NOW,
    )


def record(value: Any, offset: int = 0) -> InputRecord:
    return InputRecord("schedule", 0, offset, None, CONTRACT.encode(), b"...", (), value)


async def test_a_due_read_publishes_its_changes_and_the_next_schedule_and_logs_what_it_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name):
        outcome = await poll()(record(Echo.first(CONTRACT, NOW)))
    assert isinstance(outcome, Publish)
    [change, schedule] = outcome.outputs
    assert (change.topic, change.key, change.value, change.schema) == (
        "changes",
        f"{CONTRACT}/b",
        {"name": "b"},
        "Change",
    )
    assert (schedule.topic, schedule.schema) == ("schedule", "Schedule")
    assert cast(Mapping[str, Any], schedule.value)["nextWholeAt"] == NOW + timedelta(days=1)
    assert [r.getMessage() for r in caplog.records] == [f"contract {CONTRACT}: whole read, 2 name(s), 1 change(s)"]


async def test_a_record_not_due_waits_and_a_contract_no_longer_listed_has_its_schedule_deleted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = Echo.first(CONTRACT, NOW) | {"nextMovementsAt": NOW + timedelta(minutes=3)}
    waits = Defer(
        NOW + timedelta(minutes=3), f"contract {CONTRACT} waits until {(NOW + timedelta(minutes=3)).isoformat()}"
    )
    assert await poll()(record(later)) == waits
    assert await poll()(record(TOMBSTONE)) == Publish([])
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        dropped = await poll(contracts=("38100029218",))(record(later))
    assert dropped == Publish([Output("schedule", CONTRACT, None)])
    assert (
        caplog.records[0].getMessage() == f"contract {CONTRACT} is no longer in TEST_CONTRACTS: its schedule is deleted"
    )
