"""What a change worker last sent to Cesce for each ERP row, kept in a compacted topic partitioned like its input.

Debezium's ``before`` is not always there: on PostgreSQL's default REPLICA IDENTITY an update carries
no before-image and a delete only the primary key. And when it is there it says what the ERP had,
not what Cesce has: after a dead-lettered update the two differ. So a worker keeps, per ERP row,
what it last sent (the changelog pattern of Kafka Streams), and diffs each change against that:

- **Where.** A compacted state topic keyed by the row's identity whose partition N holds the rows
  of input partition N: `PartitionRows.remember` returns the `Output` with the input record's
  partition set explicitly, and the handler publishes it with its result, so the state commits in
  the same transaction as the result and the input's offset (a delete writes a tombstone). The
  state topic must have at least as many partitions as the input.
- **When it is loaded.** Lazily, and only for partitions this member holds: the first record of a
  new stay of a partition (`InputRecord.assignment` changed) loads that partition of the state
  topic from the beginning up to its end as of then (``read_committed``, the last stable offset:
  `workers.runtime.table.TopicReader`), replacing the previous stay's rows, which other members may
  have changed meanwhile. Records of the partition that arrive during the load wait for it.
- **Memory.** Each row's encoded value (Avro bytes) under its key bytes; decoded on read.
- **Consistency.** Memory changes when the handler decides to publish: the engine sends exactly
  those encoded outputs again after an aborted transaction (it never handles the record twice), and
  a record abandoned uncommitted (a revocation, a crash) ends the stay, so its memory is reloaded
  from what was committed. A record whose handling ends in `Retry` or `DeadLetter` must not call
  `remember`.
- **Limits.** A partition taken away keeps its rows in memory until it comes back (and is reloaded)
  or the process ends: the runtime tells handlers of no revocation. A load that fails (the broker
  unreachable, a partition stalled) is `StateUnavailable`, which a handler answers with `Retry`; the
  next record of the partition loads it again; so is a value whose writer's schema the registry cannot
  give now. A stored value that no longer decodes is logged and reads as unknown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaException

from workers.runtime.contract import InputRecord, Output
from workers.runtime.errors import RegistryUnavailable
from workers.runtime.table import TopicReader

__all__ = ["Load", "PartitionRows", "RowState", "StateUnavailable", "read_partition"]

_log = logging.getLogger(__name__)

Load = Callable[[int], Awaitable[dict[bytes, bytes]]]
"""Partition N of the state topic, read from its beginning to its end: each key's latest value (no tombstones)."""


class StateUnavailable(Exception):
    """The state of a partition could not be loaded now; the record is retried and the load tried again."""


class _Codec(Protocol):  # what we use of `AvroCodec`
    def encode(self, value: Mapping[str, Any], topic: str) -> bytes: ...
    def decode(self, data: bytes | None, topic: str) -> dict[str, Any]: ...


def read_partition(topic: str, config: Mapping[str, Any], partition: int) -> dict[bytes, bytes]:
    """Partition `partition` of `topic` to its end (blocking): each key's latest value, tombstones applied."""
    rows: dict[bytes, bytes] = {}

    def take(_partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            _log.warning("%s: a record with no key at %d/%d ignored", topic, partition, offset)
        elif value is None:
            rows.pop(key, None)
        else:
            rows[key] = value

    reader = TopicReader(topic, config, partitions=[partition])
    try:
        reader.catch_up(take)
    finally:
        reader.close()
    return rows


class PartitionRows:
    """The rows of one input partition during one stay: what was last sent for each, and `remember` to change it."""

    def __init__(
        self, topic: str, partition: int, codec: _Codec, rows: dict[bytes, bytes], *, stale: bool = False
    ) -> None:
        self.topic = topic
        self.partition = partition
        self._codec = codec
        self._rows = rows
        self._stale = stale

    def stale(self) -> PartitionRows:
        """These rows for a record of an earlier stay, still being handled: read as they are, never changed by it
        (the engine drops that record's outputs)."""
        return PartitionRows(self.topic, self.partition, self._codec, self._rows, stale=True)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes) -> dict[str, Any] | None:
        """What was last sent for the row `key`, decoded; None if nothing (or a value that no longer decodes).
        StateUnavailable when the registry cannot give the value's schema now."""
        data = self._rows.get(key)
        if data is None:
            return None
        try:
            return self._codec.decode(data, self.topic)
        except RegistryUnavailable as exc:  # the writer's schema not fetched: not the value's fault, try again
            raise StateUnavailable(f"{self.topic}: the state of {key!r} cannot be read now: {exc}") from exc
        except Exception:  # one bad state record must not stop the partition: the row reads as unknown
            _log.exception("%s: the state of %r in partition %d cannot be decoded", self.topic, key, self.partition)
            return None

    def remember(self, key: bytes, value: Mapping[str, Any] | None) -> Output:
        """Record that `value` was sent for row `key` (None: the row is gone), and the state record saying so, to
        publish with the result. Encoded first: a value the schema refuses changes nothing and raises."""
        data = None if value is None else self._codec.encode(value, self.topic)
        if self._stale:
            return Output(self.topic, key, data, partition=self.partition, traced=False)
        if data is None:
            self._rows.pop(key, None)
        else:
            self._rows[key] = data
        return Output(self.topic, key, data, partition=self.partition, traced=False)


@dataclass(slots=True)
class _Stay:
    number: int
    loading: asyncio.Task[PartitionRows]


class RowState:
    """Per input partition, the latest value per row key of a compacted state topic, loaded per stay."""

    def __init__(self, topic: str, codec: _Codec, load: Load) -> None:
        self.topic = topic
        self._codec = codec
        self._load = load
        self._stays: dict[int, _Stay] = {}

    @classmethod
    def of_topic(cls, topic: str, config: Mapping[str, Any], codec: _Codec) -> RowState:
        """A state read from Kafka with the consumer settings `config` (`WorkerContext.kafka(True)`)."""
        return cls(topic, codec, lambda partition: asyncio.to_thread(read_partition, topic, config, partition))

    def __repr__(self) -> str:
        return f"RowState({self.topic!r}, partitions {sorted(self._stays)})"

    async def rows(self, record: InputRecord) -> PartitionRows:
        """The rows of `record`'s partition, loaded first if this is the first record of its stay."""
        stay = self._stays.get(record.partition)
        if stay is None or stay.number < record.assignment:
            stay = _Stay(record.assignment, asyncio.create_task(self._loaded(record.partition)))
            self._stays[record.partition] = stay  # the previous stay's rows go with it
        try:
            # shielded: a waiter cancelled (its record abandoned) must not cancel the load the others wait for
            rows = await asyncio.shield(stay.loading)
        except StateUnavailable:
            if self._stays.get(record.partition) is stay:
                del self._stays[record.partition]  # the next record loads it again
            raise
        return rows.stale() if record.assignment < stay.number else rows

    async def _loaded(self, partition: int) -> PartitionRows:
        try:
            rows = await self._load(partition)
        except (KafkaException, TimeoutError, OSError) as exc:
            raise StateUnavailable(f"{self.topic}: partition {partition} could not be loaded: {exc}") from exc
        _log.info("%s: partition %d loaded, %d rows", self.topic, partition, len(rows))
        return PartitionRows(self.topic, partition, self._codec, rows)
