"""The engine: consume -> decode -> handle (key-ordered, concurrent) -> produce + commit, exactly once.

One asyncio loop runs everything but the librdkafka consumer (`ConsumerThread`) and the blocking
transaction calls (run in a worker thread, one at a time):

- **Accept**: each consumed record is registered with its partition's `PartitionProgress` and
  queued on its key's lane (`KeyLanes`): one key's records strictly in order, different keys
  concurrently; a record without a key waits for every earlier record of its partition. At most
  `max_in_flight` records are unfinished, and up to four times as many (or two seconds' worth at the
  rate they are taken, up to 4,000) wait fetched ahead; when those are there, consumption pauses
  until half of them are taken.
- **Handle** (`workers.runtime.attempts`): decode once (a failure is a ``deserialization`` dead
  letter), call the worker's handler, retry `Retry` outcomes in place with full-jitter backoff (only
  that key waits), dead-letter ``transient`` once the budget is spent. Consecutive failures open the
  `OutageBreaker`: consumption pauses, one record probes, nothing is dead-lettered for an outage.
- **Outbox** (`workers.runtime.outbox`): results encoded, or the dead letter, with the headers that
  name their source and the context of their ``send`` span.
- **Commit**: every `commit_interval_ms` (or `commit_batch_size` finished records) one Kafka
  transaction carries the outputs of each partition's finished prefix and the offset after it
  (`send_offsets_to_transaction`), so outputs and progress become visible together.
- **Defer**: a handler may answer "not due yet" (`Defer`); the record sleeps in place until then,
  holding its partition's later offsets (a delay topic's later records are due later), and is
  called again. Deferred records are abandoned at once on revocation or shutdown.
- **Rebalance and shutdown**: on revocation or SIGTERM, stop taking records, give those in flight
  (deferred ones excepted) `drain_seconds` to finish (a revocation: within half a session, and not at
  all while the breaker is open), commit what finished if the group still counts this member, abandon
  the rest (they are consumed again by whoever owns the partition next, and the workers' own
  duplicate detection holds on the Cesce side). Each stay of a partition is one `Assignment`.
- **Refusals**: a record the cluster refuses comes back on `TransactionAborted`; its input is
  dead-lettered instead (a dead letter refused whole goes without key and value), and a topic that
  refuses everything stops the engine (`OutputUnwritable`).
- **Reconcile** (brokers without transactional semantics, see `workers.runtime.reconcile`).
- **Observe**: each record is handled in a ``process <topic>`` span continuing the trace in its
  headers, and every record published carries the context of its ``send`` span
  (`workers.observability.tracing`); records, retries, dead letters, in-flight, pauses and lag
  are metrics (`workers.observability.metrics`); `readiness()` answers the readiness probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from workers.observability import metrics
from workers.observability.tracing import consumer_span
from workers.runtime.assignment import Assignment
from workers.runtime.attempts import UNDECODED, Attempts
from workers.runtime.breaker import OutageBreaker
from workers.runtime.consumer_thread import ConsumerThread, Partition, headers_of
from workers.runtime.contract import ROW_KEY_HEADER, Defer, Handler, InputRecord
from workers.runtime.errors import OutputUnwritable, ProducerFailed, RegistryUnavailable, TransactionAborted
from workers.runtime.fetch_ahead import TakeRate, fetched_ahead
from workers.runtime.intake import UNRESOLVED, FifoIntake, Intake, OrderedIntake, Unresolved
from workers.runtime.lanes import KeyLanes
from workers.runtime.offsets import PartitionProgress
from workers.runtime.outbox import Outbox, failure_code
from workers.runtime.positions import Position
from workers.runtime.reconcile import Published, published_sources
from workers.runtime.settings import RuntimeSettings
from workers.runtime.spec import Decoder, Encoder
from workers.runtime.transactions import Encoded, Refusal, TransactionalPublisher, refusal_of

__all__ = ["Engine"]

_log = logging.getLogger(__name__)


_MIN_DEFER_SECONDS = 0.05  # a Defer already due still yields: no busy loop
_STUCK_ABORTS = 3  # consecutive aborted transactions after which readiness fails

_SESSION_TIMEOUT_MS = 45_000  # librdkafka's default session.timeout.ms
# what a commit from a member the group no longer counts is answered (REBALANCE_IN_PROGRESS is not: still a member)
_EVICTED = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.FENCED_INSTANCE_ID})


_STATISTICS_MS = 5000  # librdkafka statistics: partition ends (for the lag) and broker states (for readiness)


_ASIDE = "aside"  # the middle of the lane key of a row's records waiting aside: (assignment, _ASIDE, row key)


@dataclass(frozen=True)
class _Aside:
    """A record that waits (`Defer(keep_order=False)`) out of its key's lane, decoded as it was."""

    record: InputRecord
    defer: Defer


class Engine:
    def __init__(
        self,
        *,
        worker: str,
        settings: RuntimeSettings,
        handler: Handler,
        decode: Decoder,
        encode: Encoder,
        input_topics: Sequence[str],
        dlq_topic: Callable[[str], str],
        output_topics: Sequence[str],
        consumer_config: Mapping[str, Any],
        producer_config: Mapping[str, Any],
        reconcile: bool,
        rng: random.Random | None = None,
        order_by: Callable[[Any], Position | None] | None = None,
    ) -> None:
        self._worker = worker
        self._settings = settings
        self._input_topics = list(input_topics)
        self._output_topics = sorted({*output_topics, *(dlq_topic(t) for t in input_topics)})
        self._consumer_config = dict(consumer_config)
        self._producer_config = dict(producer_config)
        self._reconcile = reconcile
        self._partitions: dict[Partition, Assignment] = {}  # what this member owns now, one state each
        self._lanes = KeyLanes()
        # Records fetched and not yet handed to their lane: in fetch order, so that never more than max_in_flight
        # records are being handled, with four times as many fetched ahead at most (the pause is a command to the
        # consumer thread); or, for a spec that orders by source position, in the source's commit order across
        # partitions (`workers.runtime.intake`).
        self._decode = decode
        self._order_by = order_by
        self._intake: Intake[Partition, tuple[Assignment, InputRecord]] = (
            FifoIntake() if order_by is None else OrderedIntake(settings.order_max_wait_ms / 1000)
        )
        self._take_rate = TakeRate(settings.max_in_flight)  # how many records must wait fetched ahead
        self._dispatched = itertools.count()  # ordered engines publish in the order records were handed over
        self._dispatch_order: dict[tuple[str, int, int], int] = {}
        self._wake_intake: asyncio.TimerHandle | None = None
        self._finish_waiters: list[asyncio.Event] = []  # keyless records waiting for their partition's earlier ones
        # rows whose records wait aside (a Defer letting the key go on): (assignment, row key) -> their jobs queued
        self._aside_rows: dict[tuple[Assignment, bytes], int] = {}
        self._finished_since_commit = 0
        self._stopping = False
        self._wake = asyncio.Event()
        self._progressed = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._breaker = OutageBreaker(
            settings.outage_threshold, settings.probe_interval_seconds, on_change=self._breaker_changed
        )
        self._attempts = Attempts(
            worker=worker,
            settings=settings,
            decode=decode,
            handler=handler,
            breaker=self._breaker,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
        )
        self._outbox = Outbox(worker=worker, encode=encode, dlq_topic=dlq_topic)
        self._consumer: ConsumerThread | None = None
        self._publisher: TransactionalPublisher | None = None
        self._labels = {"worker": worker}
        self._group = str(consumer_config.get("group.id", ""))
        # a revocation's drain ends within half a session: the member is still in the group when it commits
        self._rebalance_drain = int(consumer_config.get("session.timeout.ms", _SESSION_TIMEOUT_MS)) / 2000
        self._paused_for: tuple[bool, bool] = (False, False)  # (outage, backpressure), as last reported
        for reason in ("outage", "backpressure"):  # reported from the start: a dashboard shows 0, not nothing
            metrics.PAUSED.set(0, {**self._labels, "reason": reason})
        self._assigned_once = False
        self._brokers_up: bool | None = None  # None until librdkafka's first statistics
        self._aborts = 0  # consecutive aborted transactions
        self._failed: BaseException | None = None  # the producer failed or an output is unwritable: commit nothing
        self._last_abort = ""

    @property
    def _in_flight(self) -> int:
        """Records handed to their key's lane and not finished, of the partitions this member still owns."""
        return sum(state.submitted for state in self._partitions.values())

    # --- health ----------------------------------------------------------------------------------

    def readiness(self) -> str | None:
        """None when ready (the group gave this member its partitions, possibly none, and a broker answers);
        otherwise what is missing."""
        if not self._assigned_once:
            return "no partition assignment yet"
        if self._brokers_up is None:
            return "no broker statistics yet"
        if not self._brokers_up:
            return "no broker reachable"
        if self._aborts >= _STUCK_ABORTS:
            return f"{self._aborts} transactions aborted in a row (last: {self._last_abort})"
        return None

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set (or the consumer fails), then drain, commit and close."""
        loop = asyncio.get_running_loop()
        self._publisher = await asyncio.to_thread(TransactionalPublisher, self._producer_config)
        self._consumer = ConsumerThread(
            {"statistics.interval.ms": _STATISTICS_MS, **self._consumer_config},
            self._input_topics,
            loop=loop,
            on_records=self._accept_all,
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
            on_statistics=self._statistics,
            batch_size=min(500, self._settings.max_in_flight),
            callback_timeout=self._settings.drain_seconds + 120,
        )
        self._consumer.start()
        committer = loop.create_task(self._committer(), name="committer")
        waiters = [loop.create_task(stop.wait()), loop.create_task(self._consumer.finished.wait()), committer]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if committer.done():
                committer.result()  # a fenced producer: stop without committing anything more
            _log.info("%s: stopping; draining %d record(s) in flight", self._worker, self._in_flight)
            self._stopping = True
            self._sync_pause()
            await self._revoked(list(self._partitions))
        finally:
            self._consumer.stop()
            await self._consumer.finished.wait()
            for task in waiters:
                task.cancel()
            self._lanes.cancel()
            await self._lanes.idle()
            await asyncio.to_thread(self._publisher.close)
            metrics.lag_board.forget(self._worker)
            self._sync_pause()
        if self._consumer.failure is not None:
            raise RuntimeError(f"{self._worker}: the Kafka consumer failed") from self._consumer.failure

    # --- partitions ------------------------------------------------------------------------------

    async def _assigned(self, partitions: list[Partition]) -> None:
        found: dict[Partition, Published] = {}
        if self._reconcile and partitions:
            found = await asyncio.to_thread(published_sources, self._consumer_config, self._output_topics, partitions)
        for partition in partitions:
            published = found.get(partition) or Published()
            progress: PartitionProgress[Encoded] = PartitionProgress(
                skip=published.complete, published=published.partial
            )
            self._partitions[partition] = Assignment(progress)
        self._intake.assigned(partitions)
        self._assigned_once = True
        if partitions:
            self._breaker.probe_now()  # whatever an open breaker held was abandoned: try again at once
        self._sync_pause()  # a fresh assignment is not paused; pause it if the engine is holding back
        _log.info("%s: assigned %s", self._worker, sorted(partitions))

    async def _revoked(self, partitions: list[Partition]) -> None:
        """Finish (within the drain deadline) or abandon what is in flight, and commit what finished."""
        states = [self._partitions[p] for p in partitions if p in self._partitions]
        if not states:
            return
        if self._failed is not None:  # nothing more may be committed: whoever owns them next handles them again
            self._forget([p for p in partitions if p in self._partitions])
            return
        for state in states:
            state.closing = True
        # A revocation is a rebalance: the group waits for this member only about a session, and a member
        # that drains past it is evicted while another takes its partitions over. SIGTERM is no rebalance.
        drain = (
            self._settings.drain_seconds if self._stopping else min(self._settings.drain_seconds, self._rebalance_drain)
        )
        deadline = time.monotonic() + drain
        while (
            any(state.draining for state in states)
            and not self._breaker.is_open  # an outage holds them: abandon them at once
            and (left := deadline - time.monotonic()) > 0
        ):
            self._progressed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progressed.wait(), timeout=left)
        if self._stopping or await self._still_member(states):
            await self._commit()
        mine = [p for p in partitions if p in self._partitions]
        self._forget(mine)
        _log.info("%s: revoked %s", self._worker, sorted(mine))

    async def _still_member(self, states: Sequence[Assignment]) -> bool:
        """Whether the group still counts this member, asked by committing the offsets already committed (a no-op
        for a member, refused for one evicted). A real cluster would also refuse the transaction's offsets of an
        evicted member (KIP-447), unless librdkafka already forgot the generation; the mock refuses nothing."""
        if self._consumer is None:
            return False
        positions = [
            TopicPartition(t, p, position)
            for (t, p), state in self._partitions.items()
            if state in states and (position := state.progress.position) is not None
        ]
        if not positions:
            return True
        try:
            await self._consumer.commit(positions)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() in _EVICTED:
                _log.warning(
                    "%s: evicted from the group during the drain (%s): nothing is published for its partitions",
                    self._worker,
                    error.name(),
                )
                return False
        return True

    async def _lost(self, partitions: list[Partition]) -> None:
        """Lost (not revoked): another member owns them already; nothing may be committed for them."""
        self._forget([p for p in partitions if p in self._partitions])

    def _forget(self, partitions: list[Partition]) -> None:
        """Drop these partitions' states (librdkafka unassigns them, pause flags included)."""
        gone = {self._partitions.pop(p) for p in partitions if p in self._partitions}
        metrics.IN_FLIGHT.add(-sum(state.submitted for state in gone), self._labels)
        self._intake.forget(partitions, lambda item: item[0] not in gone)
        self._aside_rows = {row: jobs for row, jobs in self._aside_rows.items() if row[0] not in gone}
        for topic, number in partitions:
            self._forget_dispatched(topic, number, below=sys.maxsize)
        self._lanes.cancel(lambda lane: lane[0] in gone)  # type: ignore[index]
        self._publish_lag()

    # --- accepting and handling ------------------------------------------------------------------

    def _accept_all(self, messages: list[Message]) -> None:
        for message in messages:
            self._accept(message)
        self._start_backlog()
        self._sync_pause()

    def _accept(self, message: Message) -> None:
        topic, number, offset = message.topic(), message.partition(), message.offset()
        if topic is None or number is None or offset is None:
            return
        partition: Partition = (topic, number)
        if message.error() is not None:  # the end of the partition (enable.partition.eof, ordered engines only)
            if partition in self._partitions:
                self._intake.reached_end(partition)
            return
        state = self._partitions.get(partition)
        if state is None or state.closing or self._stopping:
            return  # not ours (any more): whoever owns it next consumes it from the committed offset
        progress = state.progress
        if not progress.begin(offset):
            return
        timestamp_type, timestamp = message.timestamp()
        key, value = message.key(), message.value()
        record = InputRecord(
            topic=topic,
            partition=number,
            offset=offset,
            timestamp_ms=timestamp if timestamp_type else None,
            key=key.encode() if isinstance(key, str) else key,
            value=value.encode() if isinstance(value, str) else value,
            headers=headers_of(message),
            decoded=UNDECODED,
            assignment=state.number,
        )
        if progress.should_skip(offset):
            _log.info("%s: %s[%d]@%d already published; skipped", self._worker, *partition, offset)
            metrics.RECORDS.add(1, {**self._labels, "outcome": "skipped"})
            progress.finish(offset, [])
            self._record_finished()
            return
        record, position = self._position(record)
        self._intake.add(partition, (state, record), position)

    def _position(self, record: InputRecord) -> tuple[InputRecord, Position | Unresolved | None]:
        """For an ordered engine, `record` decoded (decoding once serves its attempts too) and its source position;
        None when its bytes cannot be decoded (it goes first: dead-lettered, never ordered); `UNRESOLVED` while the
        Schema Registry does not answer (everything waits for it: letting it go first would break the order)."""
        if self._order_by is None:
            return record, None
        try:
            decoded = self._decode(record.value, record.topic)
        except RegistryUnavailable:
            return record, UNRESOLVED
        except Exception:  # decoded again by its attempts, which dead-letter it
            return record, None
        return replace(record, decoded=decoded), self._order_by(decoded)

    def _resolved(
        self, held: tuple[Assignment, InputRecord]
    ) -> tuple[tuple[Assignment, InputRecord], Position | Unresolved | None]:
        state, record = held
        record, position = self._position(record)
        return (state, record), position

    def _owns(self, state: Assignment, record: InputRecord) -> bool:
        """Whether `state` is still this member's assignment of `record`'s partition."""
        return self._partitions.get((record.topic, record.partition)) is state

    def _start_backlog(self) -> None:
        self._intake.resolve(self._resolved)
        taken_count, now = 0, time.monotonic()  # the records handed over now, all at this moment
        while self._in_flight < self._settings.max_in_flight:
            taken = self._intake.take()
            if taken is None:
                break
            taken_count += 1
            state, record = taken
            if not self._owns(state, record):
                continue  # revoked while waiting
            if self._order_by is not None:
                self._dispatch_order[(record.topic, record.partition, record.offset)] = next(self._dispatched)
            state.submitted += 1
            metrics.IN_FLIGHT.add(1, self._labels)
            job = functools.partial(self._process, state, record, handed=now)
            self._lanes.submit((state, record.key), job)
        if taken_count:
            self._take_rate.taken(taken_count, now)
        self._schedule_intake()

    def _schedule_intake(self) -> None:
        """Look at the intake again when a record's wait for a silent partition ends."""
        wake = self._intake.wake_at()
        if wake is None or (self._wake_intake is not None and not self._wake_intake.cancelled()):
            return
        loop = asyncio.get_running_loop()

        def look() -> None:
            self._wake_intake = None
            self._start_backlog()
            self._sync_pause()

        self._wake_intake = loop.call_later(max(wake - time.monotonic(), _MIN_DEFER_SECONDS), look)

    async def _process(
        self,
        state: Assignment,
        record: InputRecord,
        deferred: Defer | None = None,
        *,
        aside_lane: bool = False,
        handed: float | None = None,
    ) -> None:
        """Handle `record` to its outputs. A record that waits aside (`Defer(keep_order=False)`) continues in a lane
        of its row's own, and every later record of that row follows it there (`_aside_rows`), so only other rows
        of the key pass it. `handed`: when it was handed to its key's lane (its time in flight, for `TakeRate`)."""
        row = record.header(ROW_KEY_HEADER)
        if not aside_lane and row is not None and (state, row) in self._aside_rows:
            self._set_aside(state, row, record, None)  # its row waits aside: so does it, behind
            return
        moved = False
        try:
            if record.key is None:
                await self._earlier_finished(state, record)
            if deferred is not None:
                await self._sleep_deferred(state, deferred)
            # in its row's own lane a record waits in place: the row's later records are behind it there
            encoded = await self._outcome(state, record, may_step_aside=row is not None and not aside_lane)
            if isinstance(encoded, _Aside):  # the key's later records go on; this one (and its row) waits aside
                moved = True
                self._set_aside(state, row or b"", encoded.record, encoded.defer)
                return
        finally:
            if not moved:
                self._done(state, record, aside_lane=aside_lane)
        if self._owns(state, record):
            progress = state.progress
            out = progress.published_outputs(record.offset)  # a partial publish found by reconciliation
            progress.finish(record.offset, [e for index, e in enumerate(encoded) if index not in out])
            self._record_finished()
            if handed is not None:
                self._take_rate.finished(time.monotonic() - handed)

    def _set_aside(self, state: Assignment, row: bytes, record: InputRecord, deferred: Defer | None) -> None:
        """Queue `record` (still in flight) in the lane of its row's records that wait aside."""
        self._aside_rows[(state, row)] = self._aside_rows.get((state, row), 0) + 1
        job = functools.partial(self._process, state, record, deferred, aside_lane=True)
        self._lanes.submit((state, _ASIDE, row), job)

    async def _earlier_finished(self, state: Assignment, record: InputRecord) -> None:
        """A record without a key has no key to be ordered by: it waits until every earlier record of its partition
        has finished (a delete the re-keyer could not attribute to a debtor must not overtake the row's sale)."""
        while self._owns(state, record) and min(state.progress.pending_offsets, default=record.offset) < record.offset:
            finished = asyncio.Event()
            self._finish_waiters.append(finished)
            await finished.wait()

    def _done(self, state: Assignment, record: InputRecord, *, aside_lane: bool = False) -> None:
        """`record` is no longer in flight (finished, failed or cancelled)."""
        state.submitted -= 1
        row = record.header(ROW_KEY_HEADER)
        if aside_lane and row is not None and (state, row) in self._aside_rows:
            self._aside_rows[(state, row)] -= 1
            if not self._aside_rows[(state, row)]:  # the row's records that waited aside are all done
                del self._aside_rows[(state, row)]
        for waiter in self._finish_waiters:
            waiter.set()
        self._finish_waiters.clear()
        if self._owns(state, record):  # a forgotten assignment's records left the count with it
            metrics.IN_FLIGHT.add(-1, self._labels)
        self._progressed.set()
        self._start_backlog()
        self._sync_pause()

    def _record_finished(self) -> None:
        self._finished_since_commit += 1
        if self._finished_since_commit >= self._settings.commit_batch_size:
            self._wake.set()

    async def _outcome(self, state: Assignment, record: InputRecord, *, may_step_aside: bool) -> list[Encoded] | _Aside:
        """Handle `record` in its span (one per look: a deferred record's early look is a short span of its own);
        a `Defer` that lets the key's later records go on is handed back to `_process` to wait aside."""
        while True:
            with consumer_span(
                record.topic,
                record.partition,
                record.offset,
                group=self._group,
                size=len(record.value or b""),
                headers=record.headers,
            ) as span:
                started, topic = time.perf_counter(), record.topic
                try:
                    record, handled = await self._attempts.run(record, span)
                    outputs = [] if isinstance(handled, Defer) else self._outbox.outputs(record, span, *handled)
                except Exception as exc:  # not a cancellation (a revoked partition, a stop): that look did not end
                    metrics.record_processing(time.perf_counter() - started, topic, self._group, type(exc).__name__)
                    raise
                metrics.record_processing(time.perf_counter() - started, topic, self._group, failure_code(outputs))
                if not isinstance(handled, Defer):
                    return outputs
                span.set_attribute("cesce.deferred_until", handled.until.isoformat())
            if not handled.keep_order and may_step_aside:  # a record with no row key cannot: its row is unknown
                return _Aside(record, handled)
            await self._sleep_deferred(state, handled)

    async def _sleep_deferred(self, state: Assignment, defer: Defer) -> None:
        state.deferred += 1
        self._progressed.set()  # a drain waiting for this record stops waiting
        try:
            await asyncio.sleep(max(_MIN_DEFER_SECONDS, (defer.until - datetime.now(UTC)).total_seconds()))
        finally:
            state.deferred -= 1

    def _dispatch_rank(self, encoded: Encoded) -> int:
        source = encoded.source
        key = (source.topic, source.partition, source.offset) if source is not None else None
        return self._dispatch_order.get(key, -1) if key is not None else -1

    def _forget_dispatched(self, topic: str, partition: int, below: int) -> None:
        if self._dispatch_order:
            gone = [key for key in self._dispatch_order if key[:2] == (topic, partition) and key[2] < below]
            for key in gone:
                del self._dispatch_order[key]

    # --- records the cluster refused -------------------------------------------------------------

    def _aborted(self, exc: TransactionAborted) -> None:
        """Count the abort; reroute each refused record, or stop when its topic cannot be written at all."""
        self._aborts += 1
        self._last_abort = str(exc)
        metrics.TRANSACTIONS_ABORTED.add(1, {**self._labels, "reason": "refused" if exc.refused else "error"})
        rerouted = 0
        for encoded, error in exc.refused:
            kind = refusal_of(error)
            if kind == Refusal.CONFIGURATION:
                raise OutputUnwritable(
                    f"{self._worker}: cannot write to {encoded.topic} ({error.str()}): create the topic or grant "
                    "this worker's principal write access to it; nothing was committed, the worker stops"
                )
            if kind == Refusal.RECORD:
                rerouted += self._reroute(encoded, error)
        _log.warning(
            "%s: transaction aborted (%s); the batch goes again%s (%d in a row)",
            self._worker,
            exc,
            f", {rerouted} record(s) rerouted to their dead-letter topic" if rerouted else "",
            self._aborts,
        )

    def _reroute(self, encoded: Encoded, error: KafkaError) -> int:
        """Replace the outputs of the record that made `encoded` by what the cluster will take (`Outbox.replacement`);
        1 when rerouted, 0 when the partition is no longer ours (whoever owns it handles the record again)."""
        record = encoded.source
        state = None if record is None else self._partitions.get((record.topic, record.partition))
        if record is None or state is None:
            return 0
        state.progress.replace(record.offset, [self._outbox.replacement(encoded, error)])
        return 1

    # --- flow control ----------------------------------------------------------------------------

    def _breaker_changed(self, is_open: bool) -> None:
        _log.warning("%s: downstream %s", self._worker, "failing: consumption paused" if is_open else "answers again")
        self._sync_pause()

    def _sync_pause(self) -> None:
        if self._consumer is None:
            return
        in_flight, limit = self._in_flight, self._settings.max_in_flight
        # Records fetched ahead wait in the intake (`workers.runtime.fetch_ahead`), so a finished record's successor
        # is at hand, not a resume and a fetch away (librdkafka drops a paused partition's fetched records). Paused
        # once the intake is full, resumed once it is half taken: pausing at the in-flight bound itself paused and
        # resumed after nearly every record, and the records in flight swung between 0 and the bound (issue 18;
        # with one bound's worth ahead the refetch after a resume still starved them at 20 ms). Half of the intake
        # must outlast the refetch, so the bound follows the rate records are taken at, or could be: a fixed 2,000
        # cost 23 MB with a backlog waiting.
        ahead = fetched_ahead(limit, self._take_rate.per_second(time.monotonic()))
        full = len(self._intake) > ahead // 2 if self._paused_for[1] else self._intake.full(ahead)
        # an open breaker holds consumption only while some record is there to probe with: after a
        # rebalance abandoned them all, records must come in again, or nothing would ever probe
        holding = self._breaker.is_open and in_flight > 0
        want = self._stopping or holding or full
        reasons = (holding and not self._stopping, full and not self._stopping)
        if reasons != self._paused_for:
            self._paused_for = reasons
            metrics.PAUSED.set(int(reasons[0]), {**self._labels, "reason": "outage"})
            metrics.PAUSED.set(int(reasons[1]), {**self._labels, "reason": "backpressure"})
        # an ordered intake waiting for a silent partition must let that one fetch: only those holding records pause
        wanted = {p: want if not full or holding or self._stopping else self._intake.holds(p) for p in self._partitions}
        pause = sorted(p for p, state in self._partitions.items() if wanted[p] and not state.paused)
        resume = sorted(p for p, state in self._partitions.items() if not wanted[p] and state.paused)
        for partition in pause + resume:
            self._partitions[partition].paused = wanted[partition]
        self._consumer.pause(pause)
        self._consumer.resume(resume)

    # --- statistics: lag and brokers --------------------------------------------------------------

    def _statistics(self, document: str) -> None:
        """librdkafka's statistics (JSON): the brokers' states and each partition's last stable offset."""
        try:
            stats = json.loads(document)
            brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
            self._brokers_up = any(b.get("state") == "UP" for b in brokers)
            for topic, about in stats.get("topics", {}).items():
                for number, partition in about.get("partitions", {}).items():
                    state = self._partitions.get((topic, int(number)))
                    end, delivered = partition.get("ls_offset", -1), partition.get("app_offset", -1)
                    if state is not None and end >= 0:
                        state.end = end
                        state.fetched = delivered if delivered >= 0 else None
        except (ValueError, TypeError, AttributeError) as exc:
            _log.warning("%s: unreadable librdkafka statistics (%s)", self._worker, exc)
            return
        self._publish_lag()

    def _publish_lag(self) -> None:
        lags = {partition: lag for partition, state in self._partitions.items() if (lag := state.lag) is not None}
        metrics.lag_board.publish(self._worker, lags)

    # --- committing ------------------------------------------------------------------------------

    async def _committer(self) -> None:
        interval = self._settings.commit_interval_ms / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            await self._commit()

    def _released(self) -> tuple[list[Encoded], dict[Partition, tuple[PartitionProgress[Encoded], int]]]:
        """Every partition's finished prefix: its outputs and the offset after it. An ordered engine's outputs go
        in the order its intake handed their records over (the source's commit order); others' by partition."""
        records: list[Encoded] = []
        offsets: dict[Partition, tuple[PartitionProgress[Encoded], int]] = {}
        for partition, state in self._partitions.items():
            released, next_offset = state.progress.release()
            records.extend(released)
            if next_offset is not None:
                offsets[partition] = (state.progress, next_offset)
        if self._order_by is not None:
            records.sort(key=self._dispatch_rank)
        return records, offsets

    async def _commit(self) -> None:
        """One transaction: every released output and the offsets after them."""
        if self._publisher is None or self._consumer is None:
            raise RuntimeError("the engine is not running")
        publisher, consumer = self._publisher, self._consumer
        async with self._commit_lock:
            if self._failed is not None:
                raise self._failed
            records, offsets = self._released()
            self._finished_since_commit = 0
            if not offsets:
                return
            positions = [TopicPartition(t, p, o) for (t, p), (_, o) in sorted(offsets.items())]
            try:
                metadata = await consumer.group_metadata()
                await asyncio.to_thread(publisher.commit, records, positions, metadata)
            except TransactionAborted as exc:
                try:
                    self._aborted(exc)
                except OutputUnwritable as unwritable:
                    self._failed = unwritable
                    raise
                return
            except ProducerFailed as exc:
                self._failed = exc
                raise
            self._aborts = 0
            for progress, next_offset in offsets.values():
                progress.confirm(next_offset)
            for (topic, number), (_, next_offset) in offsets.items():
                self._forget_dispatched(topic, number, next_offset)
            if self._reconcile:
                try:
                    await consumer.commit(positions)
                except KafkaException as exc:
                    # e.g. a rebalance began: the outputs are out, and whoever owns these partitions
                    # next finds them by reconciliation, so nothing is published twice
                    _log.warning("%s: plain offset commit failed (%s); reconciliation covers it", self._worker, exc)
