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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from workers.runtime.consumer_thread import headers_of
from workers.runtime.dlq import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC

__all__ = ["published_sources", "source_of"]

_log = logging.getLogger(__name__)
_TIMEOUT: Final = 10.0
_OWN_IDENTITY: Final = ("group.id", "group.instance.id", "transactional.id")


def source_of(message: Message) -> tuple[str, int, int] | None:
    """The (topic, partition, offset) a published record names in its headers, if it names one."""
    headers = dict(headers_of(message))
    try:
        return headers[SOURCE_TOPIC].decode(), int(headers[SOURCE_PARTITION]), int(headers[SOURCE_OFFSET])
    except (KeyError, UnicodeDecodeError, ValueError):
        return None


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
) -> dict[tuple[str, int], set[int]]:
    """For each input partition in `inputs`, the offsets named by records of `output_topics`."""
    found: dict[tuple[str, int], set[int]] = {partition: set() for partition in inputs}
    settings = {k: v for k, v in config.items() if k not in _OWN_IDENTITY}
    consumer = Consumer({**settings, "group.id": f"reconcile-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        remaining = _ends(consumer, output_topics)
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in remaining])
        while remaining:
            messages = consumer.consume(1000, _TIMEOUT)
            for message in messages:
                source = source_of(message) if message.error() is None else None
                if source is not None and (source[0], source[1]) in found:
                    found[(source[0], source[1])].add(source[2])
            positions = consumer.position([TopicPartition(t, p) for t, p in remaining])
            for position in positions:
                if position.offset >= remaining[(position.topic, position.partition)]:
                    del remaining[(position.topic, position.partition)]
            if not messages and remaining:
                raise TimeoutError(f"reconciliation stalled reading {sorted(remaining)}")
    finally:
        consumer.close()
    _log.info("reconciliation: %d published input offsets found", sum(len(v) for v in found.values()))
    return found
