"""The benchmark's producer and read_committed reader, in a process of their own.

The ERP side (producing the invoices) and the downstream side (seeing the results) are not the
worker's work, so they run here, in a spawned child, and the benchmark's own process holds only
the system under test: its CPU time and peak RSS are then the worker's (or the naive loop's).

The conversation over the pipe, parent <-> child:

1. the child produces the warm-up invoices and reads until their results are visible: by then
   the worker has joined its group, fetched a token and opened its connections;
2. child -> ``("warm", None)``; parent samples CPU and memory, then -> ``"go"``;
3. the child starts the clock (``time.perf_counter``), produces the measured invoices, and reads
   until every one has a result (or a dead letter) visible to a ``read_committed`` reader;
4. child -> ``("done", timings)`` at once, so the parent's second CPU sample is not late, then
   ``("records", [...])``: every result and dead letter read, for the checks.

Any failure is sent as ``("error", text)``: the parent fails loudly instead of waiting forever.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from workers.runtime.embedded import MOCK_CLIENT_CONFIG

__all__ = ["Read", "observe", "position"]

_TOPIC_CHECK_SECONDS: Final = 0.5


@dataclass(frozen=True, slots=True)
class Read:
    """One record read from the results or the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes


def _produce(producer: Any, topic: str, records: Sequence[tuple[str, bytes]]) -> None:
    failures: list[str] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"producing to {topic} failed: {failures[:3] or 'flush timed out'}")


def position(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record, which has all three (the types allow None)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"a consumed record without a position: {topic}/{partition}/{offset}")
    return topic, partition, offset


def _read(message: Message) -> Read:
    topic, partition, offset = position(message)
    key = message.key()
    return Read(
        topic, partition, offset, key.decode() if isinstance(key, bytes) else str(key or ""), message.value() or b""
    )


class _Reader:
    """A read_committed consumer of the results and dead-letter topics, assigned once they exist."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-observer",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                # the instrument must not add its own delay: answer a fetch as soon as data is there
                # rather than after librdkafka's default 500 ms wait (the mock does not cut it short)
                "fetch.wait.max.ms": 5,
            }
            | dict(MOCK_CLIENT_CONFIG)
        )
        self._waiting = set(topics)
        self._checked = 0.0
        self.records: list[Read] = []
        self.arrivals: list[tuple[float, int]] = []
        """(perf_counter, records read so far) after each batch that brought records."""

    def _assign_new_topics(self) -> None:
        now = time.perf_counter()
        if not self._waiting or now - self._checked < _TOPIC_CHECK_SECONDS:
            return
        self._checked = now
        existing = self._consumer.list_topics(timeout=5).topics
        for topic in sorted(self._waiting & set(existing)):
            partitions = existing[topic].partitions
            self._consumer.incremental_assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            self._waiting.discard(topic)

    def read_until(self, count: int, deadline: float) -> None:
        while len(self.records) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {len(self.records)} of {count} results became visible in time")
            self._assign_new_topics()
            batch = self._consumer.consume(1000, 0.02)
            fresh = [_read(m) for m in batch if m.error() is None]
            if fresh:
                self.records.extend(fresh)
                self.arrivals.append((time.perf_counter(), len(self.records)))

    def close(self) -> None:
        self._consumer.close()


def observe(
    conn: Connection,
    *,
    bootstrap: str,
    input_topic: str,
    output_topics: Sequence[str],
    warmup: Sequence[tuple[str, bytes]],
    measured: Sequence[tuple[str, bytes]],
    timeout: float,
) -> None:
    """The child's body (see the module docstring); `output_topics` are the results and the DLQ."""
    try:
        producer = Producer(
            {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "enable.idempotence": True}
        )
        reader = _Reader(bootstrap, output_topics)
        try:
            deadline = time.perf_counter() + timeout
            _produce(producer, input_topic, warmup)
            reader.read_until(len(warmup), deadline)
            conn.send(("warm", None))
            conn.recv()  # "go"
            start = time.perf_counter()
            _produce(producer, input_topic, measured)
            produced = time.perf_counter()
            reader.arrivals.clear()
            reader.read_until(len(warmup) + len(measured), start + timeout)
            done = time.perf_counter()
            arrivals = [(at - start, count - len(warmup)) for at, count in reader.arrivals]
            timings = {
                "start": start,
                "seconds": done - start,
                "produce_seconds": produced - start,
                "arrivals": arrivals,
            }
            conn.send(("done", timings))
            conn.send(("records", reader.records))
        finally:
            reader.close()
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
