"""Reading dead letters for `cesce-worker dlq`: the records, the filters, the replay ledger.

A dead-letter topic is read without a consumer group, ``read_committed``, from the beginning of
each partition to its end offset taken at the start (the last stable offset): records that
arrive meanwhile wait for the next run, and a partition ends at its end-of-partition event too,
so a transaction's control record at the end never keeps the reader waiting. ``--timeout`` bounds
the whole read; a read that did not reach every end says so (`Read.complete`).

The replay ledger (``DLQ_REPLAYS_TOPIC``, compacted) holds, per dead letter, its latest replay:
key ``<dlq topic>[<partition>]@<offset>``, value `LedgerEntry` as JSON (and, under key
``<dlq topic>:replay-lock``, the replay lock of `workers.ops.dlq_lock`). Everything here
but `read_records` and `read_ledger` is a pure function.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from workers.ops.consume import consumer_settings
from workers.ops.kafka_options import ensure_reached
from workers.runtime import dlq
from workers.runtime.dlq import replay_count

__all__ = [
    "DeadLetterRecord",
    "Filters",
    "Ledger",
    "LedgerEntry",
    "Read",
    "dead_letter_ref",
    "fold_ledger",
    "iso_ms",
    "parse_duration",
    "read_ledger",
    "read_records",
]

_DURATION: Final = re.compile(r"(\d+)([smhd])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_POLL_SECONDS: Final = 0.5


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``7d`` or a sum of them (``1h30m``); ValueError otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h, 7d or 1h30m)")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def dead_letter_ref(topic: str, partition: int, offset: int) -> str:
    """``<topic>[<partition>]@<offset>``: how a dead letter is named everywhere (ledger key, replay.source)."""
    return f"{topic}[{partition}]@{offset}"


def iso_ms(timestamp_ms: int | None) -> str | None:
    """A Kafka timestamp as UTC ISO to the second (``2030-01-10T12:00:00Z``)."""
    if timestamp_ms is None:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One record of a dead-letter topic, as read (key and value bytes untouched)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def ref(self) -> str:
        return dead_letter_ref(self.topic, self.partition, self.offset)

    @property
    def key_text(self) -> str | None:
        return _text(self.key)

    def header(self, name: str) -> str | None:
        """The last value of header `name` as text, if any."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = _text(value)
        return found

    @property
    def original_topic(self) -> str | None:
        return self.header(dlq.ORIGINAL_TOPIC) or None

    @property
    def original_partition(self) -> int | None:
        text = self.header(dlq.ORIGINAL_PARTITION)
        return int(text) if text is not None and text.isdigit() else None

    @property
    def original(self) -> str | None:
        """``topic[partition]@offset`` of the record that failed, when the headers say."""
        topic = self.original_topic
        if topic is None:
            return None
        return f"{topic}[{self.header('dlq.original.partition')}]@{self.header('dlq.original.offset')}"

    @property
    def replay_count(self) -> int:
        return replay_count(self.headers)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The latest replay of one dead letter, as the replay ledger holds it."""

    dlq_topic: str
    partition: int
    offset: int
    replayed_to: str
    replayed_at: str
    times: int
    """How many times this dead letter has been replayed, this one included."""
    replay_count: int
    """The ``replay.count`` header the replayed record carried."""

    @property
    def key(self) -> str:
        return dead_letter_ref(self.dlq_topic, self.partition, self.offset)

    def to_json(self) -> dict[str, Any]:
        return {
            "dlqTopic": self.dlq_topic,
            "partition": self.partition,
            "offset": self.offset,
            "replayedTo": self.replayed_to,
            "replayedAt": self.replayed_at,
            "times": self.times,
            "replayCount": self.replay_count,
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> LedgerEntry:
        """ValueError (or KeyError/TypeError) for a value that is not a ledger entry."""
        found = json.loads(data)
        return cls(
            dlq_topic=str(found["dlqTopic"]),
            partition=int(found["partition"]),
            offset=int(found["offset"]),
            replayed_to=str(found["replayedTo"]),
            replayed_at=str(found["replayedAt"]),
            times=int(found["times"]),
            replay_count=int(found["replayCount"]),
        )


@dataclass(frozen=True, slots=True)
class Filters:
    """Which dead letters a command works on; None matches anything."""

    code: str | None = None
    category: str | None = None
    since: timedelta | None = None
    key: str | None = None
    partition: int | None = None
    offset: int | None = None

    def matches(self, record: DeadLetterRecord, now: datetime) -> bool:
        if self.code is not None and record.header(dlq.ERROR_CODE) != self.code:
            return False
        if self.category is not None and record.header(dlq.CATEGORY) != self.category:
            return False
        if self.key is not None and record.key_text != self.key:
            return False
        if self.partition is not None and record.partition != self.partition:
            return False
        if self.offset is not None and record.offset != self.offset:
            return False
        if self.since is not None:
            cutoff = (now - self.since).timestamp() * 1000
            return record.timestamp_ms is not None and record.timestamp_ms >= cutoff
        return True

    def select(self, records: Iterable[DeadLetterRecord], now: datetime) -> list[DeadLetterRecord]:
        return [r for r in records if self.matches(r, now)]


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """What a read found; `complete` False when the timeout came before every partition's end."""

    records: list[DeadLetterRecord]
    complete: bool
    cluster_id: str | None = None
    """The cluster's id, as its metadata gave it (a librdkafka mock cluster's starts with ``mockCluster``)."""


def read_records(
    settings: Mapping[str, str],
    topic: str,
    *,
    timeout: float,
    partition: int | None = None,
    offset: int | None = None,
) -> Read:
    """Every committed record of `topic` up to the end offsets at the start; a missing topic is empty.

    With `offset`, each partition is read from there and only that one offset is wanted (``show``).
    """
    from confluent_kafka import Consumer  # noqa: PLC0415 - keeps `--help` light

    config = {**consumer_settings(settings, group=None, from_beginning=True), "enable.partition.eof": "true"}
    ensure_reached(config)  # under the CLI: Kafka that does not answer is one line (kafka_options)
    consumer = Consumer(config)
    deadline = time.monotonic() + timeout
    try:
        described = consumer.list_topics(topic, timeout=_left(deadline))
        cluster_id = described.cluster_id if isinstance(described.cluster_id, str) else None
        ends = _assign(
            consumer, topic, described.topics.get(topic), partition=partition, offset=offset, deadline=deadline
        )
        if ends is None:
            return Read([], complete=True, cluster_id=cluster_id)
        found = _drain(consumer, topic, ends, deadline)
        return Read(sorted(found, key=lambda r: (r.partition, r.offset)), complete=not ends, cluster_id=cluster_id)
    finally:
        consumer.close()


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _assign(
    consumer: Any, topic: str, described: Any, *, partition: int | None, offset: int | None, deadline: float
) -> dict[int, int] | None:
    """Assign the partitions of the `described` topic (its metadata) that have something to read;
    their end offsets (None: no such topic)."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415

    if described is None or described.error is not None or not described.partitions:
        return None
    ends: dict[int, int] = {}
    starts = []
    for number in sorted(described.partitions):
        if partition is not None and number != partition:
            continue
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=_left(deadline), cached=False)
        start = low if offset is None else max(low, offset)
        end = high if offset is None else min(high, offset + 1)
        if start < end:
            ends[number] = end
            starts.append(TopicPartition(topic, number, start))
    if starts:
        consumer.assign(starts)
    return ends


def _drain(consumer: Any, topic: str, ends: dict[int, int], deadline: float) -> list[DeadLetterRecord]:
    """Read until every partition in `ends` reached its end (each is removed then) or the deadline."""
    from confluent_kafka import KafkaError  # noqa: PLC0415

    found: list[DeadLetterRecord] = []
    while ends and (left := deadline - time.monotonic()) > 0:
        message = consumer.poll(min(_POLL_SECONDS, left))
        if message is None:
            continue
        number: int = message.partition() or 0
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:  # also past a transaction marker at the end
                ends.pop(number, None)
            elif error.fatal():
                raise SystemExit(f"cesce-worker dlq: {error.str()}")
            else:
                print(f"cesce-worker dlq: {error.str()}", file=sys.stderr)
            continue
        at: int = message.offset() or 0
        end = ends.get(number)
        if end is None or at >= end:
            ends.pop(number, None)
            continue
        kind, stamp = message.timestamp()
        found.append(
            DeadLetterRecord(
                topic=topic,
                partition=number,
                offset=at,
                timestamp_ms=None if kind == 0 else stamp,  # 0: TIMESTAMP_NOT_AVAILABLE
                key=message.key(),
                value=message.value(),
                headers=tuple(message.headers() or ()),
            )
        )
        if at + 1 >= end:
            ends.pop(number, None)
    return found


def fold_ledger(records: Iterable[DeadLetterRecord], dlq_topic: str) -> tuple[dict[str, LedgerEntry], list[str]]:
    """The ledger's latest entry per dead letter of `dlq_topic` (a tombstone forgets one), and the
    refs of values that could not be read."""
    entries: dict[str, LedgerEntry] = {}
    unreadable: list[str] = []
    prefix = f"{dlq_topic}["
    for record in records:
        key = record.key_text
        if key is None or not key.startswith(prefix):
            continue
        if record.value is None:
            entries.pop(key, None)
            continue
        try:
            entries[key] = LedgerEntry.decode(record.value)
        except (ValueError, KeyError, TypeError):
            unreadable.append(record.ref)
    return entries, unreadable


@dataclass(frozen=True, slots=True)
class Ledger:
    """The replay ledger as read: the latest entry per dead letter of one DLQ, and every record."""

    entries: dict[str, LedgerEntry]
    records: list[DeadLetterRecord]
    """Every record of the ledger topic, by partition and offset (the replay lock folds its own)."""

    def pairs(self) -> list[tuple[bytes | None, bytes | None]]:
        return [(r.key, r.value) for r in self.records]


def read_ledger(settings: Mapping[str, str], ledger_topic: str, dlq_topic: str, *, timeout: float) -> Ledger | None:
    """`fold_ledger` of the whole ledger topic; None (after saying why) if it could not be read to its end."""
    read = read_records(settings, ledger_topic, timeout=timeout)
    if not read.complete:
        print(f"cesce-worker dlq: the replay ledger {ledger_topic} was not read to its end in time", file=sys.stderr)
        return None
    entries, unreadable = fold_ledger(read.records, dlq_topic)
    for ref in unreadable:
        print(f"cesce-worker dlq: {ref}: not a replay-ledger entry, ignored", file=sys.stderr)
    return Ledger(entries, read.records)
