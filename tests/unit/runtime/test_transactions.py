"""`TransactionalPublisher` against a scripted fake producer, no broker: every path of librdkafka's transactional
error contract (``rdkafka.h``, "Transactional producer API"; INTRODUCTION.md, "Transactional Producer") as
`workers.runtime.transactions` implements it. Retriable: the same call again until the transaction's time is up;
abortable (``txn_requires_abort``, a refused record, time up): abort, then `TransactionAborted`; fatal, or neither
retriable nor abortable: `ProducerFailed`, and nothing more is asked of the producer. The fake clock moves only
when the publisher sleeps or a scripted call blocks, so every test is instant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from workers.runtime.errors import ProducerFailed, TransactionAborted
from workers.runtime.transactions import (
    DEFAULT_TRANSACTION_TIMEOUT_MS,
    Encoded,
    Refusal,
    TransactionalPublisher,
    refusal_of,
)

# --- the fake producer -----------------------------------------------------------------------------

INIT, BEGIN, FLUSH, POLL = "init_transactions", "begin_transaction", "flush", "poll"
OFFSETS, COMMIT, ABORT = "send_offsets_to_transaction", "commit_transaction", "abort_transaction"
PRODUCE = "produce"

Failure: TypeAlias = KafkaError | type[BufferError]


@dataclass
class Script:
    """What one method does wrong: `failure` at the `at`-th calls (1-based; None: every call), after blocking
    `takes` seconds of the fake clock ("timeout": the whole timeout it was given, as a real timeout does)."""

    failure: Failure
    at: Collection[int] | None
    takes: float | Literal["timeout"]


@dataclass
class FakeMessage:
    topic: str
    key: bytes | None
    value: bytes | None


@dataclass
class FakeProducer:
    """Records every call in order (`calls`; a produce as ``produce <topic>``), with the timeout each was given
    (`timeouts`). Scripted with `fail` (raise at the n-th call of a method), `report` (an error in the delivery
    report of the n-th produced record, given to its ``on_delivery`` from `flush`) and `undelivered` (what `flush`
    returns: the last that many records get no report). It owns the clock and the sleep the publisher uses."""

    now: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    timeouts: list[tuple[str, float]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    produced: list[dict[str, Any]] = field(default_factory=list)
    offsets_sent: list[tuple[list[TopicPartition], object]] = field(default_factory=list)
    undelivered: int = 0
    scripts: dict[str, list[Script]] = field(default_factory=dict)
    reports: dict[int, KafkaError] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    waiting: list[tuple[int, Callable[[KafkaError | None, FakeMessage], None], FakeMessage]] = field(
        default_factory=list
    )

    # scripting

    def fail(
        self,
        method: str,
        failure: Failure,
        *,
        at: Iterable[int] | None = (1,),
        takes: float | Literal["timeout"] = 0.0,
    ) -> FakeProducer:
        self.scripts.setdefault(method, []).append(Script(failure, None if at is None else frozenset(at), takes))
        return self

    def report(self, nth: int, error: KafkaError) -> FakeProducer:
        self.reports[nth] = error
        return self

    # what the publisher is given

    def connect(self, config: dict[str, Any]) -> FakeProducer:
        self.config = config
        return self

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    # the producer

    def _call(self, name: str, method: str, timeout: float | None = None) -> None:
        self.calls.append(name)
        if timeout is not None:
            self.timeouts.append((method, timeout))
        self.counts[method] += 1
        for script in self.scripts.get(method, []):
            if script.at is None or self.counts[method] in script.at:
                self.now += (timeout or 0.0) if script.takes == "timeout" else script.takes
                if isinstance(script.failure, KafkaError):
                    raise KafkaException(script.failure)
                raise script.failure("Local: Queue full")

    def init_transactions(self, timeout: float) -> None:
        self._call(INIT, INIT, timeout)

    def begin_transaction(self) -> None:
        self._call(BEGIN, BEGIN)

    def produce(self, topic: str, **kwargs: Any) -> None:
        self._call(f"{PRODUCE} {topic}", PRODUCE)
        self.produced.append({"topic": topic, **kwargs})
        message = FakeMessage(topic, kwargs.get("key"), kwargs.get("value"))
        self.waiting.append((len(self.produced), kwargs["on_delivery"], message))

    def poll(self, timeout: float) -> int:
        self._call(POLL, POLL, timeout)
        return 0

    def flush(self, timeout: float) -> int:
        self._call(FLUSH, FLUSH, timeout)
        delivered = self.waiting[: len(self.waiting) - self.undelivered]
        self.waiting = self.waiting[len(delivered) :]
        for nth, on_delivery, message in delivered:
            on_delivery(self.reports.get(nth), message)
        return len(self.waiting)

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: Any, timeout: float) -> None:
        self.offsets_sent.append((offsets, metadata))
        self._call(OFFSETS, OFFSETS, timeout)

    def commit_transaction(self, timeout: float) -> None:
        self._call(COMMIT, COMMIT, timeout)

    def abort_transaction(self, timeout: float) -> None:
        self._call(ABORT, ABORT, timeout)
        purged, self.waiting = self.waiting, []  # what librdkafka does to what is still queued or in flight
        for _, on_delivery, message in purged:
            on_delivery(KafkaError(KafkaError._PURGE_INFLIGHT), message)


# --- helpers ---------------------------------------------------------------------------------------

TOPIC = "out"
GROUP = object()  # the consumer's group metadata: opaque to the publisher
OFFSETS_OF_BATCH = [TopicPartition("in", 0, 42), TopicPartition("in", 1, 7)]

RETRIABLE = KafkaError(KafkaError._TIMED_OUT, "Timed out waiting for operation to finish", retriable=True)
ABORTABLE = KafkaError(KafkaError.NOT_ENOUGH_REPLICAS, "Not enough in-sync replicas", txn_requires_abort=True)
FENCED = KafkaError(KafkaError._FENCED, "Producer fenced by newer instance", fatal=True)
NEITHER = KafkaError(KafkaError._INVALID_ARG, "Invalid argument")  # neither retriable, abortable nor fatal

START = [INIT, BEGIN]


def encoded(name: str) -> Encoded:
    return Encoded(TOPIC, name.encode(), f"value of {name}".encode(), (("h", name.encode()),))


BATCH = [encoded("a"), encoded("b"), encoded("c")]
PRODUCED = [f"{PRODUCE} {TOPIC}"] * len(BATCH)


def publisher(producer: FakeProducer, config: dict[str, Any] | None = None) -> TransactionalPublisher:
    return TransactionalPublisher(
        {"transactional.id": "invoices-0", **(config or {})},
        producer=producer.connect,
        clock=producer.clock,
        sleep=producer.sleep,
    )


def commit(txn: TransactionalPublisher, records: list[Encoded] | None = None) -> None:
    txn.commit(BATCH if records is None else records, OFFSETS_OF_BATCH, GROUP)


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


# --- the transaction that works --------------------------------------------------------------------


def test_a_transaction_produces_waits_for_every_report_then_sends_the_offsets_and_commits(
    producer: FakeProducer,
) -> None:
    commit(publisher(producer))
    assert producer.calls == [*START, *PRODUCED, FLUSH, OFFSETS, COMMIT]
    assert [(p["topic"], p["key"], p["value"], p["headers"]) for p in producer.produced] == [
        (TOPIC, r.key, r.value, list(r.headers)) for r in BATCH
    ]
    assert producer.offsets_sent == [(OFFSETS_OF_BATCH, GROUP)]


def test_without_offsets_nothing_is_sent_to_the_group(producer: FakeProducer) -> None:
    publisher(producer).commit(BATCH, [], GROUP)
    assert producer.calls == [*START, *PRODUCED, FLUSH, COMMIT]


def test_close_waits_for_what_is_queued(producer: FakeProducer) -> None:
    publisher(producer).close()
    assert producer.calls == [INIT, FLUSH]
    assert producer.timeouts[-1] == (FLUSH, 15.0)


# --- init_transactions -----------------------------------------------------------------------------


def test_init_transactions_retries_a_retriable_error_then_succeeds(producer: FakeProducer) -> None:
    producer.fail(INIT, RETRIABLE, at=(1, 2))
    publisher(producer)
    assert producer.calls == [INIT, INIT, INIT]
    assert producer.sleeps == pytest.approx([0.1, 0.2])  # a pause between tries, longer each time


@pytest.mark.parametrize(
    "error",
    [
        FENCED,
        KafkaError(KafkaError.INVALID_TRANSACTION_TIMEOUT, "outside the broker's range", fatal=True),
        KafkaError(KafkaError._UNSUPPORTED_FEATURE, "no transactions before Kafka 0.11", fatal=True),
        KafkaError(KafkaError._NOT_CONFIGURED, "transactional.id not set"),  # neither: treated as fatal
        KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "not authorized"),
    ],
    ids=lambda e: e.name(),
)
def test_init_transactions_fatal_or_neither_retriable_nor_abortable_is_producer_failed(
    producer: FakeProducer, error: KafkaError
) -> None:
    producer.fail(INIT, error)
    with pytest.raises(ProducerFailed) as failed:
        publisher(producer)
    assert failed.value.error is error
    assert producer.calls == [INIT]  # not retried


# --- begin_transaction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [FENCED, KafkaError(KafkaError._STATE, "a transaction is already in progress"), RETRIABLE],
    ids=["fatal", "state", "even-retriable"],
)
def test_begin_transaction_raising_anything_is_producer_failed_never_a_raw_kafka_exception(
    producer: FakeProducer, error: KafkaError
) -> None:
    producer.fail(BEGIN, error)
    txn = publisher(producer)
    with pytest.raises(ProducerFailed) as failed:
        commit(txn)
    assert failed.value.error is error
    assert producer.calls == START  # nothing produced, nothing aborted


# --- produce ---------------------------------------------------------------------------------------


def test_a_full_local_queue_is_polled_then_the_same_record_produced_again(producer: FakeProducer) -> None:
    producer.fail(PRODUCE, BufferError, at=(2, 3))
    commit(publisher(producer))
    assert producer.calls == [
        *START,
        *PRODUCED[:2],
        POLL,
        PRODUCED[1],
        POLL,
        *PRODUCED[1:],
        FLUSH,
        OFFSETS,
        COMMIT,
    ]
    assert [p["key"] for p in producer.produced] == [b"a", b"b", b"c"]  # each once, in order


def test_a_record_refused_at_produce_aborts_the_transaction_and_travels_on_the_exception(
    producer: FakeProducer,
) -> None:
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large")
    producer.fail(PRODUCE, too_large, at=(2,))
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == [(BATCH[1], too_large)]
    assert aborted.value.refused[0][1] is too_large
    assert producer.calls == [*START, *PRODUCED, FLUSH, ABORT]  # nothing offered for commit
    assert [p["key"] for p in producer.produced] == [b"a", b"c"]


def test_a_fatal_error_at_produce_is_producer_failed_without_abort(producer: FakeProducer) -> None:
    producer.fail(PRODUCE, FENCED, at=(2,))
    txn = publisher(producer)
    with pytest.raises(ProducerFailed) as failed:
        commit(txn)
    assert failed.value.fenced
    assert producer.calls == [*START, *PRODUCED[:2]]


def test_produce_failing_with_fatal_as_the_binding_reports_it_is_producer_failed_without_abort(
    producer: FakeProducer,
) -> None:
    producer.fail(PRODUCE, KafkaError(KafkaError._FATAL, "Unable to produce message: Local: Fatal error"), at=(2,))
    txn = publisher(producer)
    with pytest.raises(ProducerFailed):
        commit(txn)
    assert ABORT not in producer.calls


def sized(name: str, size: int) -> Encoded:
    """A record of exactly `size` bytes as `Encoded.size` counts them."""
    record = Encoded(TOPIC, name.encode(), b"", ())
    return Encoded(TOPIC, record.key, b"x" * (size - record.size), ())


@pytest.mark.parametrize(("config", "limit"), [({}, 1_000_000), ({"message.max.bytes": 2_000}, 2_000)])
def test_records_over_message_max_bytes_are_refused_before_the_transaction_begins(
    producer: FakeProducer, config: dict[str, Any], limit: int
) -> None:
    big, fits = sized("big", limit + 1), sized("fits", limit)
    txn = publisher(producer, config)
    with pytest.raises(TransactionAborted, match=r"over message\.max\.bytes") as aborted:
        commit(txn, [encoded("a"), big, fits])
    assert [(record, error.code()) for record, error in aborted.value.refused] == [(big, KafkaError.MSG_SIZE_TOO_LARGE)]
    assert refusal_of(aborted.value.refused[0][1]) == Refusal.RECORD
    assert producer.calls == [INIT]  # no transaction begun, so none to abort
    commit(txn, [encoded("a"), fits])
    assert producer.calls == [INIT, BEGIN, *PRODUCED[:2], FLUSH, OFFSETS, COMMIT]


# --- delivery reports ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        (KafkaError.MSG_SIZE_TOO_LARGE, Refusal.RECORD),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, Refusal.CONFIGURATION),
        (KafkaError._UNKNOWN_TOPIC, Refusal.CONFIGURATION),
    ],
    ids=["too-large", "not-authorized", "unknown-topic"],
)
def test_an_error_in_a_delivery_report_aborts_with_that_record_refused_and_commits_nothing(
    producer: FakeProducer, code: int, refusal: str
) -> None:
    error = KafkaError(code, "refused by the cluster")
    producer.report(2, error)
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == [(BATCH[1], error)]
    assert refusal_of(aborted.value.refused[0][1]) == refusal
    assert producer.calls == [*START, *PRODUCED, FLUSH, ABORT]  # neither offsets nor commit


def test_purge_reports_are_a_consequence_not_a_refusal(producer: FakeProducer) -> None:
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    producer.report(1, too_large)
    producer.report(2, KafkaError(KafkaError._PURGE_QUEUE))
    producer.report(3, KafkaError(KafkaError._PURGE_INFLIGHT))
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == [(BATCH[0], too_large)]


def test_purge_reports_alone_abort_nothing_commit_transaction_decides(producer: FakeProducer) -> None:
    producer.report(1, KafkaError(KafkaError._PURGE_QUEUE)).report(2, KafkaError(KafkaError._PURGE_INFLIGHT))
    commit(publisher(producer))
    assert producer.calls == [*START, *PRODUCED, FLUSH, OFFSETS, COMMIT]


def test_reports_not_in_within_the_timeout_abort(producer: FakeProducer) -> None:
    producer.undelivered = 1
    txn = publisher(producer)
    with pytest.raises(TransactionAborted, match="delivery not confirmed within 15 s") as aborted:
        commit(txn)
    assert aborted.value.refused == []
    assert producer.calls == [*START, *PRODUCED, FLUSH, ABORT]
    assert producer.timeouts[1] == (FLUSH, 15.0)


def test_reports_not_in_keep_the_refusals_already_reported(producer: FakeProducer) -> None:
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    producer.report(1, too_large)
    producer.undelivered = 2
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == [(BATCH[0], too_large)]


# --- send_offsets_to_transaction and commit_transaction --------------------------------------------

END = {OFFSETS: [OFFSETS], COMMIT: [OFFSETS, COMMIT]}
"""The calls up to and including the first of each method, after the flush."""


@pytest.mark.parametrize("method", [OFFSETS, COMMIT])
def test_a_retriable_error_makes_the_same_call_again_without_abort_or_new_transaction(
    producer: FakeProducer, method: str
) -> None:
    producer.fail(method, RETRIABLE)
    commit(publisher(producer))
    expected = {
        OFFSETS: [OFFSETS, OFFSETS, COMMIT],
        COMMIT: [OFFSETS, COMMIT, COMMIT],
    }[method]
    assert producer.calls == [*START, *PRODUCED, FLUSH, *expected]
    assert producer.calls.count(BEGIN) == 1
    assert ABORT not in producer.calls


def test_send_offsets_is_retried_with_identical_offsets_and_group_metadata(producer: FakeProducer) -> None:
    producer.fail(OFFSETS, RETRIABLE, at=(1, 2))
    commit(publisher(producer))
    assert producer.offsets_sent == [(OFFSETS_OF_BATCH, GROUP)] * 3  # not resumable: the same request again


@pytest.mark.parametrize("method", [OFFSETS, COMMIT])
def test_an_abortable_error_aborts_then_raises_transaction_aborted(producer: FakeProducer, method: str) -> None:
    producer.fail(method, ABORTABLE)
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == []
    assert producer.calls == [*START, *PRODUCED, FLUSH, *END[method], ABORT]


def test_after_an_abort_the_next_commit_begins_a_new_transaction(producer: FakeProducer) -> None:
    producer.fail(COMMIT, ABORTABLE)
    txn = publisher(producer)
    with pytest.raises(TransactionAborted):
        commit(txn)
    producer.calls.clear()
    commit(txn)
    assert producer.calls == [BEGIN, *PRODUCED, FLUSH, OFFSETS, COMMIT]


@pytest.mark.parametrize("method", [OFFSETS, COMMIT])
@pytest.mark.parametrize(
    "error",
    [
        FENCED,
        KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "no longer authorized", fatal=True),
        NEITHER,
        KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "group not authorized"),
    ],
    ids=["fenced", "fatal", "invalid-arg", "group-authorization"],
)
def test_a_fatal_or_unclassified_error_is_producer_failed_and_nothing_more_is_asked(
    producer: FakeProducer, method: str, error: KafkaError
) -> None:
    producer.fail(method, error)
    txn = publisher(producer)
    with pytest.raises(ProducerFailed) as failed:
        commit(txn)
    assert failed.value.error is error
    assert producer.calls == [*START, *PRODUCED, FLUSH, *END[method]]  # no abort after a fatal error


def test_send_offsets_still_retriable_when_the_time_is_up_aborts(producer: FakeProducer) -> None:
    producer.fail(OFFSETS, RETRIABLE, at=None, takes=5.0)
    txn = publisher(producer)
    with pytest.raises(TransactionAborted, match="still after 15 s"):
        commit(txn)
    tries = producer.calls.count(OFFSETS)
    assert producer.calls == [*START, *PRODUCED, FLUSH, *[OFFSETS] * tries, ABORT]
    assert tries == 3  # at 0, 5.1 and 10.3 s; the third ends at 15.3, past the 15 s deadline


def test_commit_still_retriable_when_the_time_is_up_is_not_answered_with_an_abort(producer: FakeProducer) -> None:
    producer.fail(COMMIT, RETRIABLE, at=range(1, 6), takes="timeout")  # resumed 5 times more, it commits
    txn = publisher(producer)
    outcome: Exception | None = None
    try:
        commit(txn)
    except (ProducerFailed, TransactionAborted) as exc:  # which one (or resuming) is for the fix to choose
        outcome = exc
    assert not isinstance(outcome, TransactionAborted)
    assert ABORT not in producer.calls


# --- abort_transaction -----------------------------------------------------------------------------


def test_abort_retries_a_retriable_error_then_succeeds(producer: FakeProducer) -> None:
    producer.fail(COMMIT, ABORTABLE).fail(ABORT, RETRIABLE, at=(1, 2))
    txn = publisher(producer)
    with pytest.raises(TransactionAborted):
        commit(txn)
    assert producer.calls == [*START, *PRODUCED, FLUSH, OFFSETS, COMMIT, ABORT, ABORT, ABORT]
    producer.calls.clear()
    commit(txn)
    assert producer.calls == [BEGIN, *PRODUCED, FLUSH, OFFSETS, COMMIT]  # the abort finished: none pending


def test_an_abort_that_outlives_its_time_is_finished_before_the_next_transaction_begins(
    producer: FakeProducer,
) -> None:
    producer.fail(COMMIT, ABORTABLE)
    producer.fail(ABORT, RETRIABLE, at=(1, 2), takes="timeout").fail(ABORT, RETRIABLE, at=(3,))
    txn = publisher(producer)
    with pytest.raises(TransactionAborted, match="abort_transaction"):
        commit(txn)
    assert producer.calls == [*START, *PRODUCED, FLUSH, OFFSETS, COMMIT, ABORT]  # its one try took 15 s
    producer.calls.clear()
    with pytest.raises(TransactionAborted, match="abort_transaction"):
        commit(txn)  # still not finished: no transaction begins
    assert producer.calls == [ABORT]
    producer.calls.clear()
    commit(txn)
    assert producer.calls == [ABORT, ABORT, BEGIN, *PRODUCED, FLUSH, OFFSETS, COMMIT]  # abort #3 failed, #4 did it
    producer.calls.clear()
    commit(txn)
    assert producer.calls == [BEGIN, *PRODUCED, FLUSH, OFFSETS, COMMIT]


def test_refused_records_travel_on_the_exception_even_when_the_abort_outlives_its_time(
    producer: FakeProducer,
) -> None:
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    producer.report(2, too_large).fail(ABORT, RETRIABLE, at=None, takes="timeout")
    txn = publisher(producer)
    with pytest.raises(TransactionAborted) as aborted:
        commit(txn)
    assert aborted.value.refused == [(BATCH[1], too_large)]


def test_a_fatal_error_during_abort_is_producer_failed(producer: FakeProducer) -> None:
    producer.fail(COMMIT, ABORTABLE).fail(ABORT, FENCED)
    txn = publisher(producer)
    with pytest.raises(ProducerFailed) as failed:
        commit(txn)
    assert failed.value.fenced
    assert producer.calls == [*START, *PRODUCED, FLUSH, OFFSETS, COMMIT, ABORT]  # not retried


def test_a_fatal_error_during_a_pending_abort_is_producer_failed_before_any_begin(producer: FakeProducer) -> None:
    producer.fail(COMMIT, ABORTABLE).fail(ABORT, RETRIABLE, at=(1,), takes="timeout").fail(ABORT, FENCED, at=(2,))
    txn = publisher(producer)
    with pytest.raises(TransactionAborted):
        commit(txn)
    producer.calls.clear()
    with pytest.raises(ProducerFailed):
        commit(txn)
    assert producer.calls == [ABORT]


# --- timeouts --------------------------------------------------------------------------------------


def test_the_transaction_timeout_defaults_to_15_s_and_reaches_the_producer(producer: FakeProducer) -> None:
    txn = publisher(producer)
    assert DEFAULT_TRANSACTION_TIMEOUT_MS == 15_000
    assert producer.config == {"transactional.id": "invoices-0", "transaction.timeout.ms": 15_000}
    assert txn.timeout == 15.0


@pytest.mark.parametrize(("configured", "limit"), [(None, 15.0), (4_000, 4.0), ("60000", 60.0)])
def test_no_call_is_given_more_than_the_transaction_timeout(
    producer: FakeProducer, configured: int | str | None, limit: float
) -> None:
    config = {} if configured is None else {"transaction.timeout.ms": configured}
    for method in (INIT, OFFSETS, COMMIT, ABORT):
        producer.fail(method, RETRIABLE, at=(1, 2), takes=0.5)
    producer.fail(PRODUCE, BufferError, at=(1,))
    txn = publisher(producer, config)
    if configured is not None:
        assert producer.config["transaction.timeout.ms"] == configured  # an explicit value is kept
    commit(txn)
    producer.fail(COMMIT, ABORTABLE, at=(4,))
    with pytest.raises(TransactionAborted):
        commit(txn)
    given = {method for method, _ in producer.timeouts}
    assert given == {INIT, POLL, FLUSH, OFFSETS, COMMIT, ABORT}  # every call that takes a timeout was seen
    assert all(0 <= timeout <= limit + 1e-9 for _, timeout in producer.timeouts), producer.timeouts  # float sums
    assert max(timeout for _, timeout in producer.timeouts) == pytest.approx(limit)


@pytest.mark.parametrize("method", [INIT, OFFSETS, COMMIT, ABORT])
def test_the_timeout_given_shrinks_as_the_deadline_approaches(producer: FakeProducer, method: str) -> None:
    if method == ABORT:
        producer.fail(COMMIT, ABORTABLE)
    producer.fail(method, RETRIABLE, at=(1, 2, 3), takes=1.0)
    txn = publisher(producer)
    if method == ABORT:
        with pytest.raises(TransactionAborted):
            commit(txn)
    else:
        commit(txn)
    given = [timeout for name, timeout in producer.timeouts if name == method]
    # the deadline is 15 s after the first try; each failed try takes 1 s, then a pause of 0.1, 0.2, 0.3 s
    assert given == pytest.approx([15.0, 13.9, 12.7, 11.4])


def test_a_retriable_error_is_not_retried_past_the_deadline(producer: FakeProducer) -> None:
    producer.fail(OFFSETS, RETRIABLE, at=None, takes=4.0)
    txn = publisher(producer)
    with pytest.raises(TransactionAborted):
        commit(txn)
    tries = [timeout for name, timeout in producer.timeouts if name == OFFSETS]
    assert tries == pytest.approx([15.0, 10.9, 6.7, 2.4])  # the fourth ends at 16.6: no fifth
    assert producer.sleeps == pytest.approx([0.1, 0.2, 0.3])
    assert producer.calls[-2:] == [OFFSETS, ABORT]


# --- ProducerFailed.fenced -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "fenced"),
    [
        (KafkaError._FENCED, True),
        (KafkaError.PRODUCER_FENCED, True),
        (KafkaError.INVALID_PRODUCER_EPOCH, True),
        (KafkaError._FATAL, False),
        (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, False),
        (KafkaError.INVALID_TRANSACTION_TIMEOUT, False),
        (KafkaError._INVALID_ARG, False),
    ],
    ids=lambda v: str(v) if isinstance(v, bool) else KafkaError(v).name(),
)
def test_fenced_only_for_a_newer_producer_with_our_transactional_id(code: int, fenced: bool) -> None:
    assert ProducerFailed("x", KafkaError(code, fatal=True)).fenced is fenced


def test_not_fenced_without_an_error() -> None:
    assert ProducerFailed("x").fenced is False


# --- refusal_of ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        *[
            (code, Refusal.RECORD)
            for code in (
                KafkaError.MSG_SIZE_TOO_LARGE,
                KafkaError.RECORD_LIST_TOO_LARGE,
                KafkaError.INVALID_RECORD,
                KafkaError.INVALID_MSG,
            )
        ],
        *[
            (code, Refusal.CONFIGURATION)
            for code in (
                KafkaError.TOPIC_AUTHORIZATION_FAILED,
                KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                KafkaError.GROUP_AUTHORIZATION_FAILED,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_TOPIC,
                KafkaError._UNKNOWN_PARTITION,
                KafkaError.TOPIC_EXCEPTION,
                KafkaError.POLICY_VIOLATION,
                KafkaError._AUTHENTICATION,
            )
        ],
        *[
            (code, Refusal.TRANSIENT)
            for code in (
                KafkaError._MSG_TIMED_OUT,
                KafkaError._TIMED_OUT,
                KafkaError.REQUEST_TIMED_OUT,
                KafkaError.NOT_ENOUGH_REPLICAS,
                KafkaError.NOT_LEADER_FOR_PARTITION,
                KafkaError._TRANSPORT,
                KafkaError._PURGE_QUEUE,
                KafkaError._STATE,
                KafkaError._FENCED,
            )
        ],
    ],
    ids=lambda v: v if isinstance(v, str) else KafkaError(v).name(),
)
def test_refusal_of_sorts_record_configuration_and_transient_errors(code: int, refusal: str) -> None:
    assert refusal_of(KafkaError(code)) == refusal


def test_transaction_aborted_carries_no_refusal_unless_given() -> None:
    assert TransactionAborted("x").refused == []


def test_a_record_size_counts_key_value_and_headers_with_their_overhead() -> None:
    assert Encoded(TOPIC, b"ab", b"cde", ()).size == 5
    assert Encoded(TOPIC, None, None, ()).size == 0
    assert Encoded(TOPIC, b"ab", b"cde", (("h", b"12"),)).size > 5 + 1 + 2  # never less than librdkafka counts
