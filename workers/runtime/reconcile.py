"""Reconciliation: which input offsets already have their outputs in the output topics.

A real Kafka cluster makes a transaction's outputs and offsets visible together or not at all,
and this is never needed. librdkafka's mock cluster (the embedded default) speaks the transaction
protocol but does neither: offsets sent in a transaction are not stored, and records of an
aborted transaction stay visible to read_committed readers. A worker killed after producing and
before its offsets were committed would then publish the same outputs again when the records are
consumed anew. So on such a broker, when partitions are assigned, the engine reads its output
topics (every record we publish carries ``source.topic/partition/offset`` headers) and skips the
input offsets found there. Within one key, outputs are produced in input order to one partition,
so what a crash leaves published is a prefix, and skipping it keeps the per-key order.

A record with several outputs (a result and a follow-up record, in two topics) may be cut between
them by a crash. Each output says which it is (``source.output: <index>/<count>``): an offset
with every output found is skipped; one with some found is handled again and only the missing
outputs are published.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from workers.runtime.consumer_thread import headers_of
from workers.runtime.dlq import SOURCE_OFFSET, SOURCE_OUTPUT, SOURCE_PARTITION, SOURCE_TOPIC

__all__ = ["Published", "published_sources", "source_of"]

_log = logging.getLogger(__name__)
_TIMEOUT: Final = 10.0
_BATCH_WAIT: Final = 0.2
_OWN_IDENTITY: Final = ("group.id", "group.instance.id", "transactional.id")


def source_of(message: Message) -> tuple[str, int, int] | None:
    """The (topic, partition, offset) a published record names in its headers, if it names one."""
    headers = dict(headers_of(message))
    try:
        return headers[SOURCE_TOPIC].decode(), int(headers[SOURCE_PARTITION]), int(headers[SOURCE_OFFSET])
    except (KeyError, UnicodeDecodeError, ValueError):
        return None


def output_index(message: Message) -> tuple[int, int]:
    """(index, count) of a published record among its source's outputs; (0, 1) when it does not say."""
    header = dict(headers_of(message)).get(SOURCE_OUTPUT, b"0/1")
    try:
        index, count = (int(part) for part in header.decode().split("/"))
    except (UnicodeDecodeError, ValueError):
        return 0, 1
    return index, count


class Published:
    """What reconciliation found for one input partition: offsets with every output out, and partial ones."""

    def __init__(self) -> None:
        self._seen: dict[int, set[int]] = {}
        self._counts: dict[int, int] = {}

    def add(self, offset: int, index: int, count: int) -> None:
        self._seen.setdefault(offset, set()).add(index)
        self._counts[offset] = max(self._counts.get(offset, 1), count)

    @property
    def complete(self) -> set[int]:
        return {offset for offset, seen in self._seen.items() if len(seen) >= self._counts[offset]}

    @property
    def partial(self) -> dict[int, set[int]]:
        """Offset -> the indexes of its outputs already published (the others are missing)."""
        return {offset: seen for offset, seen in self._seen.items() if len(seen) < self._counts[offset]}

    def __len__(self) -> int:
        return len(self._seen)


def _ends(consumer: Consumer, topics: Collection[str]) -> dict[tuple[str, int], int]:
    """High watermark of every non-empty partition of `topics`."""
    metadata = consumer.list_topics(timeout=_TIMEOUT)
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            continue  # nothing published there yet
        for partition in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_TIMEOUT)
            if high > low:
                ends[(topic, partition)] = high
    return ends


def published_sources(
    config: Mapping[str, Any], output_topics: Collection[str], inputs: Collection[tuple[str, int]]
) -> dict[tuple[str, int], Published]:
    """For each input partition in `inputs`, the offsets (and which of their outputs) named by `output_topics`."""
    found: dict[tuple[str, int], Published] = {partition: Published() for partition in inputs}
    settings = {k: v for k, v in config.items() if k not in _OWN_IDENTITY}
    consumer = Consumer({**settings, "group.id": f"reconcile-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        remaining = _ends(consumer, output_topics)
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in remaining])
        stalled_at = time.monotonic() + _TIMEOUT
        while remaining:
            # a short wait per batch: consume() waits its whole timeout unless the batch fills up
            messages = consumer.consume(1000, _BATCH_WAIT)
            for message in messages:
                source = source_of(message) if message.error() is None else None
                if source is not None and (source[0], source[1]) in found:
                    found[(source[0], source[1])].add(source[2], *output_index(message))
            positions = consumer.position([TopicPartition(t, p) for t, p in remaining])
            for position in positions:
                if position.offset >= remaining[(position.topic, position.partition)]:
                    del remaining[(position.topic, position.partition)]
            if messages:
                stalled_at = time.monotonic() + _TIMEOUT
            elif remaining and time.monotonic() > stalled_at:
                raise TimeoutError(f"reconciliation stalled reading {sorted(remaining)}")
    finally:
        consumer.close()
    _log.info("reconciliation: %d published input offsets found", sum(len(v) for v in found.values()))
    return found
