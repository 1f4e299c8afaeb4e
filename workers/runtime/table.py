"""A compacted topic read as a table: the latest value of every key, caught up on demand.

A worker that keeps state in a compacted topic (the risk poller's last known limits, the row state
of the change workers) needs, before it decides anything, every value committed so far, including
those its own previous transaction wrote. `TopicReader.catch_up` brings its partitions up to their
end *as of the call*: it asks the broker for each partition's end offset, which for a
``read_committed`` consumer is the last stable offset (librdkafka >= 1.7.1 honours
``isolation.level`` there), and consumes until every partition reached it. Reaching the end is known
from the fetch position that librdkafka reports with ``_PARTITION_EOF`` (it counts transaction
markers and compacted-away offsets, which a consumed record's offset does not), or from a record at
the end itself.

The reader is a plain consumer with no group: it assigns every partition of the topic (or only
those it was given) from the beginning, picks up partitions that appear later (a state topic
created by its first write), and commits nothing; it hands each record's raw key and value to its
caller. `CompactedTable` is the decoded table over it: a tombstone deletes its key; a value that
cannot be decoded is logged and leaves its key out (the risk poller then sees that limit as new,
and publishes it once more rather than stop). Its calls are serialised; the consumer runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

__all__ = ["CompactedTable", "TopicReader"]

_log = logging.getLogger(__name__)
_TIMEOUT: Final = 10.0
_BATCH_WAIT: Final = 0.1
_OWN_IDENTITY: Final = ("group.id", "group.instance.id", "transactional.id", "enable.auto.commit")

Take = Callable[[int, int, bytes | None, bytes | None], None]
"""What a reader hands each record to: (partition, offset, key, value)."""


class TopicReader:
    """Partitions of one topic, read from the beginning up to their end as of each `catch_up` (blocking)."""

    def __init__(self, topic: str, config: Mapping[str, Any], *, partitions: Collection[int] | None = None) -> None:
        self.topic = topic
        self._only = None if partitions is None else frozenset(partitions)
        settings = {k: v for k, v in config.items() if k not in _OWN_IDENTITY}
        self._consumer = Consumer(
            {
                **settings,
                "group.id": f"table-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # a read waits for its last fetch; the reader is paused between reads, so this costs no idle polling
                "fetch.wait.max.ms": 50,
                "isolation.level": "read_committed",
            }
        )
        self._reached: dict[int, int] = {}  # partition -> the offset read up to (the next one to fetch)

    def close(self) -> None:
        self._consumer.close()

    def catch_up(self, take: Take) -> None:
        """Hand every record from where the last call stopped up to each partition's end now to `take`."""
        targets = self._ends()
        pending = {p for p, end in targets.items() if self._reached.get(p, 0) < end}
        if not pending:
            return
        # paused between reads: no fetch is outstanding when the next read asks for the end offsets (on the
        # same connection, a fetch waiting for data would hold that request for fetch.wait.max.ms)
        partitions = [TopicPartition(self.topic, p) for p in self._reached]
        self._consumer.resume(partitions)
        try:
            self._consume_to(targets, pending, take)
        finally:
            self._consumer.pause(partitions)

    def _consume_to(self, targets: Mapping[int, int], pending: set[int], take: Take) -> None:
        stalled_at = time.monotonic() + _TIMEOUT
        while pending:
            messages = self._consumer.consume(1000, _BATCH_WAIT)
            for message in messages:
                self._take(message, take)
            pending = {p for p in pending if self._reached.get(p, 0) < targets[p]}
            if messages:
                stalled_at = time.monotonic() + _TIMEOUT
            elif pending and time.monotonic() > stalled_at:
                raise TimeoutError(f"{self.topic}: stalled reading partitions {sorted(pending)} to their end")

    def _take(self, message: Any, take: Take) -> None:
        error = message.error()
        partition = message.partition()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
            self._reached[partition] = max(self._reached.get(partition, 0), message.offset())
            return
        self._reached[partition] = max(self._reached.get(partition, 0), message.offset() + 1)
        take(partition, message.offset(), message.key(), message.value())

    def _ends(self) -> dict[int, int]:
        """Each partition's end offset now; partitions not assigned yet are assigned from the beginning."""
        described = self._consumer.list_topics(self.topic, timeout=_TIMEOUT).topics.get(self.topic)
        if described is None or described.error is not None:
            return {}  # nothing written there yet
        mine = [p for p in described.partitions if self._only is None or p in self._only]
        new = [p for p in mine if p not in self._reached]
        if new:
            self._consumer.incremental_assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in new])
            self._consumer.pause([TopicPartition(self.topic, p) for p in new])
            for p in new:
                self._reached[p] = 0
        ends: dict[int, int] = {}
        for p in mine:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=_TIMEOUT)
            if high > low:
                ends[p] = high
        return ends


class CompactedTable:
    """The latest decoded value per key of one compacted topic."""

    def __init__(self, topic: str, config: Mapping[str, Any], decode: Callable[[bytes, str], Any]) -> None:
        self._reader = TopicReader(topic, config)
        self._topic = topic
        self._decode = decode
        self._values: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CompactedTable({self._topic!r}, {len(self._values)} keys)"

    async def read(self) -> Mapping[str, Any]:
        """Every key's latest value, including everything committed before this call."""
        async with self._lock:
            await asyncio.to_thread(self._reader.catch_up, self._take)
            return dict(self._values)

    def close(self) -> None:
        self._reader.close()

    def _take(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            _log.warning("%s: a record with no key at %d/%d ignored", self._topic, partition, offset)
            return
        name = key.decode("utf-8", errors="replace")
        if value is None:
            self._values.pop(name, None)
            return
        try:
            self._values[name] = self._decode(value, self._topic)
        except Exception:  # one bad record must not stop every reader of the table: the key reads as unknown
            _log.exception(
                "%s: the value of %r at %d/%d cannot be decoded; the key is left out",
                self._topic,
                name,
                partition,
                offset,
            )
            self._values.pop(name, None)
