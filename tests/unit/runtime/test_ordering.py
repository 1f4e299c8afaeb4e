"""Restoring a source's commit order across partitions: Debezium's positions, and the intake that waits for them."""

from __future__ import annotations

from typing import Any

import pytest

from workers.runtime.envelope import Envelope
from workers.runtime.intake import UNRESOLVED, FifoIntake, OrderedIntake
from workers.runtime.positions import source_position


def change(source: dict[str, Any], ts_ms: int | None = None) -> Envelope:
    return Envelope(op="c", before=None, after={}, ts_ms=ts_ms, source=source)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        # PostgreSQL: a transaction committed later can hold a lower LSN; sequence[0] (last commit) orders them
        ({"lsn": 900, "sequence": '["100","900"]'}, {"lsn": 500, "sequence": '["950","500"]'}),
        ({"lsn": "24023128"}, {"lsn": "24023200"}),
        ({"file": "mysql-bin.000003", "pos": 900, "row": 1}, {"file": "mysql-bin.000004", "pos": 4, "row": 0}),
        ({"file": "mysql-bin.000003", "pos": "154", "row": "0"}, {"file": "mysql-bin.000003", "pos": 154, "row": 1}),
        (
            {"commit_lsn": "0000002a:00000b48:0003", "change_lsn": "0000002a:00000b48:0002", "event_serial_no": 1},
            {"commit_lsn": "0000002a:00000c10:0001", "change_lsn": "0000002a:00000b50:0002", "event_serial_no": 1},
        ),
        ({"commit_scn": "1000", "scn": "990"}, {"commit_scn": "1001", "scn": "980"}),
        ({"ts_ms": 1000}, {"ts_ms": "1001"}),
    ],
)
def test_positions_follow_each_connectors_commit_order(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    first, second = source_position(change(earlier)), source_position(change(later))
    assert first is not None
    assert second is not None
    assert first < second


def test_without_source_fields_the_envelope_time_and_then_nothing() -> None:
    assert source_position(change({}, ts_ms=5)) == source_position(change({"ts_ms": 5}))
    assert source_position(change({})) is None
    assert source_position(change({"lsn": "not a number"})) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_records_go_in_position_order_across_partitions() -> None:
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0)
    intake.assigned([0, 1])
    # a backlog read: partition 0 delivered first, but partition 1 holds the earlier changes
    for item, position in (("sale-2", 20), ("credit-note-2", 40)):
        intake.add(0, item, (0, position))
    assert intake.take() is None  # partition 1 has shown nothing yet: it may hold something earlier
    for item, position in (("sale-1", 10), ("credit-note-1", 30)):
        intake.add(1, item, (0, position))
    taken = [intake.take() for _ in range(3)]
    assert taken == ["sale-1", "sale-2", "credit-note-1"]
    assert intake.take() is None  # partition 1 may still show something before 40
    intake.reached_end(1)
    assert intake.take() == "credit-note-2"


def test_a_silent_partition_is_waited_for_until_it_reports_its_end() -> None:
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0)
    intake.assigned([0, 1])
    intake.add(0, "a", (0, 5))
    assert intake.take() is None
    assert intake.holds(0)
    assert not intake.holds(1)
    intake.reached_end(1)
    assert intake.take() == "a"
    intake.add(1, "b", (0, 9))  # a new record: the partition is no longer at its end
    intake.add(0, "c", (0, 12))
    assert intake.take() == "b"
    assert intake.take() is None  # 1 has shown nothing after 9 and has not reported its end again


def test_a_partition_that_never_answers_delays_but_never_stalls() -> None:
    clock = Clock()
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0, clock=clock)
    intake.assigned([0, 1])
    intake.add(0, "a", (0, 5))
    assert intake.take() is None
    assert intake.wake_at() == 2.0
    clock.now = 2.0
    assert intake.take() == "a"
    assert intake.wake_at() is None


def test_records_without_a_position_go_first() -> None:
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0)
    intake.assigned([0, 1])
    intake.add(0, "ordered", (0, 5))
    intake.add(1, "undecodable", None)
    assert intake.take() == "undecodable"  # a partition's records still go in offset order; across them, first
    assert intake.take() is None


def test_revoked_partitions_and_their_records_are_forgotten() -> None:
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0)
    intake.assigned([0, 1])
    intake.add(0, "a", (0, 5))
    intake.add(1, "b", (0, 6))
    intake.forget([1], keep=lambda item: True)
    assert len(intake) == 1
    assert intake.take() == "a"  # nobody left to wait for
    assert intake.full(1) is False


def test_fifo_is_fetch_order_and_full_with_as_many_fetched_ahead_as_in_flight() -> None:
    intake: FifoIntake[int, str] = FifoIntake()
    intake.add(1, "x", (0, 9))
    assert not intake.full(2)
    intake.add(0, "y", (0, 1))
    assert intake.full(2)
    assert intake.holds(3)  # full, it holds every partition back
    assert [intake.take(), intake.take(), intake.take()] == ["x", "y", None]
    assert not intake.full(2)


def test_a_record_whose_position_cannot_be_known_yet_holds_everything_back() -> None:
    """The registry did not answer for its schema: letting it go first (or last) could break the order."""
    clock = Clock()
    intake: OrderedIntake[int, str] = OrderedIntake(max_wait=2.0, clock=clock)
    intake.assigned([0, 1])
    intake.add(0, "unknown yet", UNRESOLVED)
    intake.add(1, "later", (0, 50))
    clock.now = 10.0
    assert intake.take() is None  # not even after the wait for silent partitions
    assert intake.wake_at() == 11.0  # asked again in a second
    intake.resolve(lambda item: (item, UNRESOLVED))
    assert intake.take() is None
    intake.resolve(lambda item: (item + ", known", (0, 40)))
    assert [intake.take(), intake.take()] == ["unknown yet, known", "later"]
