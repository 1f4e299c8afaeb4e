"""The one place that owns the librdkafka consumer, on a thread of its own.

`consume()` blocks, and librdkafka runs the rebalance callbacks inside it; a revocation must wait
for the records in flight to finish and their offsets to commit before it returns, and that work
happens on the asyncio loop. So the consumer lives on this thread: it hands records to the loop,
and when partitions are assigned or revoked it runs the engine's coroutine on the loop and waits
for it, which is exactly the blocking librdkafka wants.

The Python consumer must not be called from two threads at once (a `pause()` from another thread
hangs while `consume()` runs; measured with confluent-kafka 2.16). So the loop never touches it:
pause, resume, commit and the group metadata are commands queued to this thread, which serves
them between `consume()` calls and while it waits inside a rebalance callback (a revocation's
commit needs them then).

Pause and resume belong to one assignment. librdkafka forgets a partition's pause flag when the
partition is assigned again, so a pause queued before a rebalance and served after it would
pause a fresh assignment behind the engine's back (and nothing would ever resume it). Every
rebalance callback therefore starts a new generation, and a pause or resume queued in an earlier
one is dropped. An assignment is applied (`assign()`) before the engine hears of it, so what the
engine decides about a fresh assignment is applied to it, not undone by the assignment.

librdkafka's statistics are handed to the loop after the records of the same `consume()` call, so
a statistics document never counts records the engine has not been given yet (the lag).

At most `HANDOFF_BATCHES` batches are on their way to the loop at any time: the thread consumes the
next one only once the loop has taken an earlier one. Without that bound, a loop kept busy (a
backlog to re-key, while the engine's pause is still a command in the queue) let this thread drain
librdkafka's whole prefetch queue into Python objects waiting for the loop, tens of thousands of
records and hundreds of MB; with it, what waits is librdkafka's queue, which its settings bound
(``queued.max.messages.kbytes``, ``queued.min.messages``: `workers.runtime.kafka_config`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

__all__ = ["HANDOFF_BATCHES", "ConsumerThread", "Partition", "headers_of"]

_log = logging.getLogger(__name__)

Partition = tuple[str, int]
HANDOFF_BATCHES = 2
"""Batches of records handed to the loop and not taken yet, at most: one to handle, one coming."""
_WAIT_SECONDS = 0.05  # the longest the thread waits for the loop (or librdkafka) before serving commands again
PartitionsCallback = Callable[[list[Partition]], Coroutine[Any, Any, None]]


def headers_of(message: Message) -> tuple[tuple[str, bytes], ...]:
    """A record's headers as (name, bytes) pairs, in order; librdkafka may give a list or a dict, str or None."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple((name, value if isinstance(value, bytes) else (value or "").encode()) for name, value in pairs)


class ConsumerThread:
    def __init__(
        self,
        config: Mapping[str, Any],
        topics: Sequence[str],
        *,
        loop: asyncio.AbstractEventLoop,
        on_records: Callable[[list[Message]], None],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
        on_statistics: Callable[[str], None],
        batch_size: int,
        callback_timeout: float,
    ) -> None:
        self._statistics: list[str] = []  # documents waiting for the records consumed with them
        self._on_statistics = on_statistics
        self._consumer = Consumer({**config, "stats_cb": self._statistics.append})
        self._generation = 0  # bumped by every rebalance callback: pause and resume belong to one
        self._topics = list(topics)
        self._loop = loop
        self._on_records = on_records
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self._batch_size = batch_size
        self._callback_timeout = callback_timeout
        self._stop = threading.Event()
        self._handoff = threading.Semaphore(HANDOFF_BATCHES)  # one taken per batch handed, given back when taken
        self._commands: queue.SimpleQueue[tuple[Callable[[Consumer], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="kafka-consumer", daemon=True)
        self.failure: BaseException | None = None
        self.finished = asyncio.Event()

    def start(self) -> None:
        self._consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        self._thread.start()

    def stop(self) -> None:
        """Leave the group: the thread stops consuming, revokes (draining) and closes the consumer."""
        self._stop.set()

    def pause(self, partitions: Sequence[Partition]) -> None:
        if partitions:
            self._command(self._of_generation(lambda c: c.pause([TopicPartition(t, p) for t, p in partitions])))

    def resume(self, partitions: Sequence[Partition]) -> None:
        if partitions:
            self._command(self._of_generation(lambda c: c.resume([TopicPartition(t, p) for t, p in partitions])))

    def _of_generation(self, action: Callable[[Consumer], None]) -> Callable[[Consumer], None]:
        """`action`, dropped if a rebalance happens before it is served (its partitions were reassigned)."""
        generation = self._generation

        def act(consumer: Consumer) -> None:
            if generation == self._generation:
                action(consumer)

        return act

    async def group_metadata(self) -> Any:
        return await asyncio.wrap_future(self._command(lambda c: c.consumer_group_metadata()))

    async def commit(self, offsets: Sequence[TopicPartition]) -> None:
        """A plain synchronous offset commit (for brokers that ignore transactional offsets)."""
        await asyncio.wrap_future(self._command(lambda c: c.commit(offsets=list(offsets), asynchronous=False)))

    def _command(self, action: Callable[[Consumer], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._thread.is_alive():
            self._commands.put((action, future))
        else:
            future.set_exception(RuntimeError("the Kafka consumer is closed"))
        return future

    def _serve(self) -> None:
        """Run the queued commands, on this thread."""
        while True:
            try:
                action, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(action(self._consumer))
                except BaseException as exc:
                    future.set_exception(exc)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._serve()
                if not self._handoff.acquire(timeout=_WAIT_SECONDS):
                    continue  # the loop has not taken the earlier batches yet: leave the records with librdkafka
                messages = self._consumer.consume(self._batch_size, _WAIT_SECONDS)
                records = [m for m in messages if self._usable(m)]
                if records:
                    self._loop.call_soon_threadsafe(self._take, records)
                else:
                    self._handoff.release()
                self._hand_statistics()
        except BaseException as exc:  # surfaced by the engine, which stops the worker
            self.failure = exc
            _log.exception("kafka consumer thread failed")
        finally:
            try:
                self._consumer.close()  # revokes what is assigned (draining it), then leaves the group
            except Exception as exc:
                self.failure = self.failure or exc
                _log.exception("kafka consumer close failed")
            self._serve_closed()
            self._loop.call_soon_threadsafe(self.finished.set)

    def _take(self, records: list[Message]) -> None:
        """On the loop: hand `records` to the engine, and let the thread consume another batch."""
        try:
            self._on_records(records)
        finally:
            self._handoff.release()

    def _hand_statistics(self) -> None:
        while self._statistics:
            self._loop.call_soon_threadsafe(self._on_statistics, self._statistics.pop(0))

    def _serve_closed(self) -> None:
        while True:
            try:
                _, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the Kafka consumer is closed"))

    @staticmethod
    def _usable(message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return True  # only with enable.partition.eof: the engine learns the partition has nothing more now
        _log.warning("kafka consumer: %s", error)
        if error.fatal():
            raise RuntimeError(f"fatal consumer error: {error}")
        return False

    def _in_loop(self, kind: str, partitions: list[TopicPartition]) -> None:
        self._generation += 1
        self._hand_statistics()
        names = [(tp.topic, tp.partition) for tp in partitions]
        future = asyncio.run_coroutine_threadsafe(self._callbacks[kind](names), self._loop)
        deadline = time.monotonic() + self._callback_timeout
        while True:
            self._serve()  # the coroutine may need the consumer (a revocation commits)
            try:
                future.result(timeout=0.01)
                return
            except concurrent.futures.TimeoutError:
                if time.monotonic() > deadline:
                    future.cancel()
                    raise

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # assigned now, and not paused (a pause from an earlier assignment can survive the rebalance), so that
        # the engine starts from a known state and what it decides is not undone by the assignment
        consumer.assign(partitions)
        if partitions:
            consumer.resume(partitions)
        self._in_loop("assign", partitions)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._in_loop("revoke", partitions)

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._in_loop("lost", partitions)
