"""The runtime's pure pieces, without a broker: offsets, the breaker, key lanes, dead-letter headers."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from confluent_kafka import KafkaError

from workers.runtime.assignment import Assignment
from workers.runtime.attempts import backoff_seconds
from workers.runtime.breaker import OutageBreaker
from workers.runtime.chains import Chains
from workers.runtime.contract import DeadLetter, Defer, ErrorCategory, InputRecord
from workers.runtime.dlq import Failure, dead_letter_headers, replay_count, replay_headers, source_headers
from workers.runtime.errors import OutputUnwritable, ProducerFailed
from workers.runtime.lanes import KeyLanes
from workers.runtime.offsets import PartitionProgress
from workers.runtime.reconcile import Published
from workers.runtime.run import _stopping_reason

# --- PartitionProgress: what may be committed ------------------------------------------------------


def test_outputs_wait_for_every_earlier_offset() -> None:
    progress: PartitionProgress[str] = PartitionProgress()
    for offset in (10, 11, 12):
        assert progress.begin(offset)
    progress.finish(12, ["out-12"])
    progress.finish(11, ["out-11a", "out-11b"])
    assert progress.release() == ([], None)  # 10 still in flight: nothing may go out
    progress.finish(10, ["out-10"])
    assert progress.release() == (["out-10", "out-11a", "out-11b", "out-12"], 13)


def test_release_forgets_nothing_until_confirmed() -> None:
    progress: PartitionProgress[str] = PartitionProgress()
    progress.begin(0)
    progress.finish(0, ["a"])
    assert progress.release() == (["a"], 1)
    assert progress.release() == (["a"], 1)  # an aborted transaction: the same batch again
    progress.confirm(1)
    assert progress.release() == ([], None)
    assert not progress.begin(0)  # committed: a redelivery of it is ignored


def test_gaps_in_offsets_commit_past_the_last_finished() -> None:
    progress: PartitionProgress[str] = PartitionProgress()
    progress.begin(5)
    progress.begin(9)  # 6-8: transaction markers or compacted away
    progress.finish(5, [])
    progress.finish(9, ["x"])
    assert progress.release() == (["x"], 10)


def test_in_flight_and_repeats() -> None:
    progress: PartitionProgress[str] = PartitionProgress()
    assert progress.begin(1)
    assert not progress.begin(1)
    assert progress.in_flight == 1
    assert progress.pending_offsets == [1]
    with pytest.raises(KeyError):
        progress.finish(2, [])
    progress.finish(1, [])
    with pytest.raises(KeyError):
        progress.finish(1, [])
    progress.begin(2)
    with pytest.raises(ValueError, match="still in flight"):
        progress.confirm(3)


def test_skipped_offsets_are_used_once() -> None:
    progress: PartitionProgress[str] = PartitionProgress(skip={4})
    assert progress.should_skip(4)
    assert not progress.should_skip(4)
    assert not progress.should_skip(5)


# --- the outage breaker ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_at_the_threshold_and_closes_on_success() -> None:
    clock = Clock()
    changes: list[bool] = []
    breaker = OutageBreaker(3, 1.0, clock=clock, on_change=changes.append)
    breaker.failure()
    breaker.failure()
    assert not breaker.is_open
    breaker.success()  # a success resets the count
    breaker.failure()
    breaker.failure()
    assert not breaker.is_open
    breaker.failure()
    assert breaker.is_open
    assert changes == [True]
    clock.now = 1.0
    assert await breaker.admit() is True  # the probe
    breaker.success()
    assert not breaker.is_open
    assert changes == [True, False]
    assert await breaker.admit() is False  # closed: everyone goes, no probe


async def test_only_one_probe_at_a_time_and_a_failed_probe_waits_again() -> None:
    clock = Clock()
    breaker = OutageBreaker(1, 10.0, clock=clock)
    breaker.failure()
    clock.now = 10.0
    assert await breaker.admit() is True
    second = asyncio.create_task(breaker.admit())
    await asyncio.sleep(0.05)
    assert not second.done()  # the first probe is out
    breaker.success()
    assert await asyncio.wait_for(second, 1) is False
    with pytest.raises(ValueError, match="at least 1"):
        OutageBreaker(0, 1.0)


# --- key lanes -------------------------------------------------------------------------------------


async def test_one_key_in_order_different_keys_concurrently() -> None:
    lanes = KeyLanes()
    log: list[tuple[str, int, str]] = []
    running = {"now": 0, "peak": 0}

    def job(key: str, n: int) -> object:
        async def run() -> None:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
            log.append((key, n, "start"))
            await asyncio.sleep(0.01)
            log.append((key, n, "end"))
            running["now"] -= 1

        return run

    for n in range(3):
        for key in ("a", "b"):
            lanes.submit(key, job(key, n))  # type: ignore[arg-type]
    await lanes.idle()
    for key in ("a", "b"):
        events = [(n, what) for k, n, what in log if k == key]
        assert events == [(n, what) for n in range(3) for what in ("start", "end")]
    assert running["peak"] == 2
    assert len(lanes) == 0


async def test_cancelling_lanes_drops_their_queued_jobs() -> None:
    lanes = KeyLanes()
    done: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(10)

    async def quick() -> None:
        done.append("quick")

    lanes.submit(("p0", b"k"), slow)
    lanes.submit(("p0", b"k"), quick)
    lanes.submit(("p1", b"k"), quick)
    lanes.cancel(lambda key: key[0] == "p0")  # type: ignore[index]
    await lanes.idle()
    assert done == ["quick"]  # only p1's


# --- dead letters and backoff ---------------------------------------------------------------------


def record() -> InputRecord:
    return InputRecord(
        topic="erp.invoices",
        partition=2,
        offset=41,
        timestamp_ms=1763600000000,
        key=b"CLI-0001",
        value=b"\x00raw",
        headers=(("traceparent", b"00-abc-def-01"), ("dlq.category", b"old"), ("source.offset", b"1")),
        decoded=None,
    )


def test_dead_letter_headers_keep_the_originals_and_say_why() -> None:
    first = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    last = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    failure = Failure(
        DeadLetter(ErrorCategory.BUSINESS, "2809", "2809 PORCENTAJES  EXCLUIDO DE LA PÓLIZA"), 3, first, last
    )
    headers = dict(dead_letter_headers(record(), failure, "invoices"))
    assert "traceparent" not in headers  # the dead letter gets its own (the engine adds it)
    assert headers["dlq.original.traceparent"] == b"00-abc-def-01"
    assert headers["dlq.category"] == b"business"  # an earlier dead letter's header replaced, not repeated
    assert headers["dlq.error.code"] == b"2809"
    assert headers["dlq.error.description"].decode() == "2809 PORCENTAJES  EXCLUIDO DE LA PÓLIZA"
    assert headers["dlq.original.topic"] == b"erp.invoices"
    assert headers["dlq.original.partition"] == b"2"
    assert headers["dlq.original.offset"] == b"41"
    assert headers["dlq.original.timestamp"] == b"1763600000000"
    assert headers["dlq.worker"] == b"invoices"
    assert headers["dlq.attempts"] == b"3"
    assert headers["dlq.first.failure"] == b"2026-11-20T10:00:00.000+00:00"
    assert headers["dlq.last.failure"] == b"2026-11-20T10:05:00.000+00:00"
    assert headers["source.offset"] == b"41"
    names = [name for name, _ in dead_letter_headers(record(), failure, "invoices")]
    assert names.count("dlq.category") == 1
    assert names.count("source.offset") == 1


def test_replay_headers_restore_the_originals_and_count_the_replay() -> None:
    failure = Failure(
        DeadLetter(ErrorCategory.BUSINESS, "1522", "No existe periodo de seguro"), 1, *[datetime.now(UTC)] * 2
    )
    original = replace(record(), headers=(("traceparent", b"00-abc-def-01"), ("erp.batch", b"7")))
    letter = [*dead_letter_headers(original, failure, "invoices"), ("traceparent", b"00-dead-letter-01")]
    replayed = replay_headers(letter, "erp.invoices.dlq[0]@3")
    assert replayed == [
        ("erp.batch", b"7"),
        ("traceparent", b"00-abc-def-01"),
        ("replay.count", b"1"),
        ("replay.source", b"erp.invoices.dlq[0]@3"),
    ]
    # it fails again: the count survives the second dead-lettering and goes up at the next replay
    again = replace(original, headers=tuple(replayed))
    letter = list(dead_letter_headers(again, failure, "invoices"))
    assert replay_count(letter) == 1
    assert dict(replay_headers(letter, "erp.invoices.dlq[0]@9"))["replay.count"] == b"2"
    assert replay_count([("replay.count", b"junk")]) == 0
    assert replay_count([]) == 0


def test_source_headers_name_the_input() -> None:
    assert source_headers(record()) == [
        ("source.topic", b"erp.invoices"),
        ("source.partition", b"2"),
        ("source.offset", b"41"),
    ]


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 70):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        waits = [backoff_seconds(attempt, 0.5, 30.0, rng) for _ in range(50)]
        assert all(0.0 <= wait <= ceiling for wait in waits)
    assert max(backoff_seconds(1, 0.5, 30.0, rng) for _ in range(200)) > 0.4  # spread over the whole range


def test_reconciliation_tells_complete_publishes_from_partial_ones() -> None:
    found = Published()
    found.add(7, 0, 1)  # one output, out
    found.add(8, 1, 2)  # the second of two outputs out, the first missing
    found.add(9, 0, 2)
    found.add(9, 1, 2)
    assert found.complete == {7, 9}
    assert found.partial == {8: {1}}
    progress: PartitionProgress[str] = PartitionProgress(skip=found.complete, published=found.partial)
    assert progress.should_skip(9)
    assert progress.published_outputs(8) == {1}
    assert progress.published_outputs(8) == set(), "used once"


def test_a_defer_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        Defer(datetime(2026, 11, 21, 12, 0))
    assert Defer(datetime(2026, 11, 21, 12, 0, tzinfo=UTC)).until.tzinfo is UTC


def chain_record(offset: int, parent: int | None) -> InputRecord:
    headers = (
        ()
        if parent is None
        else (("source.topic", b"t"), ("source.partition", b"0"), ("source.offset", str(parent).encode()))
    )
    return InputRecord("t", 0, offset, None, b"k", b"v", headers, None)


def test_chains_follow_one_chain_per_key_record_by_record() -> None:
    chains = Chains()
    first, later = (datetime(2026, 1, 1, tzinfo=UTC), "erp:0:5"), (datetime(2026, 1, 2, tzinfo=UTC), "erp:0:8")
    assert chains.admit("k", first, chain_record(10, None))
    assert chains.admit("k", first, chain_record(10, None)), "the same record handled again (after a Defer)"
    assert not chains.admit("k", later, chain_record(11, None)), "a later chain"
    assert chains.admit("k", first, chain_record(12, 10)), "the child of the record handled (a re-append)"
    assert not chains.admit("k", first, chain_record(13, 10)), "its twin, left by a retried transaction"
    assert chains.admit("k", first, chain_record(14, 12))
    assert chains.admit("other", later, chain_record(15, None)), "keys are independent"
    fresh = Chains()  # after a restart: the later chain met first, then the earlier one takes over for good
    assert fresh.admit("k", later, chain_record(11, None))
    assert fresh.admit("k", first, chain_record(14, 12))
    assert not fresh.admit("k", later, chain_record(16, 11))


def test_chains_forget_a_partition_once_it_has_been_away() -> None:
    """Issue 15, defect 1: this member handled 100; others handled 150 and 200 while the partition was
    theirs; back here, 250 (child of 200) is the chain's next record, not a stale twin."""
    chains = Chains()
    chain = (datetime(2026, 1, 1, tzinfo=UTC), "erp:0:5")
    assert chains.admit("k", chain, replace(chain_record(100, 90), assignment=1))
    assert not chains.admit("k", chain, replace(chain_record(250, 200), assignment=1)), "the same stay: stale"
    assert chains.admit("k", chain, replace(chain_record(250, 200), assignment=2)), "a new stay: followed"
    assert not chains.admit("k", chain, replace(chain_record(251, 200), assignment=2)), "its twin still is not"
    assert chains.admit("k", chain, replace(chain_record(7, None), topic="u", assignment=3)), "partitions apart"
    assert chains.admit("k", chain, replace(chain_record(300, 250), assignment=2)), "the other partition kept"


async def test_a_fresh_assignment_lets_an_open_breaker_probe_at_once() -> None:
    clock = Clock()
    breaker = OutageBreaker(1, 60.0, clock=clock)
    breaker.failure()
    waiting = asyncio.create_task(breaker.admit())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "the next probe is a minute away"
    breaker.probe_now()
    assert await asyncio.wait_for(waiting, 1) is True
    breaker.success()
    breaker.probe_now()  # closed: nothing to do
    assert await breaker.admit() is False


def test_lag_counts_records_not_transaction_markers() -> None:
    state = Assignment(PartitionProgress())
    assert state.lag is None, "no end known yet"
    state.end, state.fetched = 6, 6  # three transactions: records at 0, 2, 4 and their commit markers
    assert state.lag == 0, "nothing consumed in this stay, and librdkafka is past the end"
    for offset in (0, 2):
        state.progress.begin(offset)
        state.progress.finish(offset, [])
    state.progress.begin(4)
    assert state.lag == 6, "records unfinished: behind by the committed position (markers included)"
    state.progress.finish(4, [])
    _, next_offset = state.progress.release()
    assert next_offset == 5
    state.progress.confirm(next_offset)
    assert state.lag == 0, "everything committed: the marker at 5 is not lag"
    state.end = 8
    state.fetched = 6
    assert state.lag == 2, "a record appended since"
    assert Assignment(PartitionProgress()).number != state.number, "every stay has its own number"


def test_a_worker_stopped_on_purpose_says_why_in_one_line() -> None:
    """`run_worker` logs these without a traceback (exit 1): the message is the whole story."""
    fenced = ProducerFailed("commit_transaction: fenced", KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    unwritable = OutputUnwritable("invoices: cannot write to erp.invoices.dlq (Broker: Topic authorization failed)")
    wrapped = RuntimeError("invoices: the Kafka consumer failed")  # raised in a revocation
    wrapped.__cause__ = unwritable
    assert _stopping_reason(wrapped) is unwritable
    assert _stopping_reason(fenced) is fenced
    assert fenced.fenced
    assert _stopping_reason(ValueError("a defect")) is None, "anything else keeps its traceback"


def test_the_runtime_raises_from_one_tree() -> None:
    """Each class the runtime raises on purpose is a RuntimeFailure, drawn in `workers.runtime.errors`."""
    from workers.runtime import errors  # noqa: PLC0415 - the module itself is what is tested

    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.RuntimeFailure), name
        assert name in doc, f"{name} is not drawn in the tree"
    assert issubclass(errors.ProducerFailed, errors.WorkerStopped)
    assert issubclass(errors.OutputUnwritable, errors.WorkerStopped)
    assert issubclass(errors.RegistryMismatch, RuntimeError), "its callers catch RuntimeError"


def test_a_records_origin_is_the_change_record_its_origin_header_names() -> None:
    own = InputRecord("erp.invoices", 2, 40, None, b"k", b"v", (("source.topic", b"elsewhere"),), None)
    assert own.origin == ("erp.invoices", 2, 40)  # source.* name what a record answers, not where a change entered
    rekeyed = InputRecord(
        "erp.invoices.by-debtor", 0, 7, None, b"CLI-0001", b"v", (("cesce.origin", b"erp.invoices:2:40"),), None
    )
    assert rekeyed.origin == ("erp.invoices", 2, 40)
    for garbled in (b"x:-1:3", b"erp.invoices:2", b":1:2"):
        record = InputRecord("t", 1, 3, None, None, None, (("cesce.origin", garbled),), None)
        assert record.origin == ("t", 1, 3)
