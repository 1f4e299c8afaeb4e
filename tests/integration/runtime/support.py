"""Helpers for the runtime's integration tests: produce inputs, read outputs, run an engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from tests.kafka_backends import KafkaBackend, consumer_config, producer_config, unique_topic
from workers.runtime import Decoder
from workers.runtime.consumer_thread import headers_of
from workers.runtime.contract import Handler
from workers.runtime.engine import Engine
from workers.runtime.reconcile import source_of
from workers.runtime.settings import RuntimeSettings


def produce(kafka: KafkaBackend, topic: str, records: Iterable[tuple[str | None, bytes | None]]) -> int:
    producer = Producer(producer_config(kafka))
    count = 0
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        count += 1
        if count % 1000 == 0:
            producer.flush(30)
    assert producer.flush(30) == 0
    return count


def keyed_json(keys: int, per_key: int) -> list[tuple[str, bytes]]:
    """`per_key` records for each of `keys` keys, interleaved; ``n`` counts per key from 0."""
    return [(f"debtor-{k:03d}", json.dumps({"n": n}).encode()) for n in range(per_key) for k in range(keys)]


def read(kafka: KafkaBackend, topics: list[str], *, expect: int, timeout: float = 30.0) -> list[Message]:
    """Every record of `topics` visible to a read_committed reader, once `expect` are there (or timeout).

    The reader assigns itself every partition (no group to join), and after `expect` records it
    reads on briefly: anything more is a duplicate the test must see.
    """
    reader = Consumer(
        consumer_config(
            kafka,
            {"group.id": unique_topic("reader"), "isolation.level": "read_committed", "enable.auto.commit": "false"},
        )
    )
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    assigned: set[tuple[str, int]] = set()
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            metadata = reader.list_topics(timeout=5)
            fresh = [
                TopicPartition(topic, number, OFFSET_BEGINNING)
                for topic in topics
                if topic in metadata.topics
                for number in metadata.topics[topic].partitions
                if (topic, number) not in assigned
            ]
            if fresh:
                assigned.update((tp.topic, tp.partition) for tp in fresh)
                reader.incremental_assign(fresh)
            found.extend(m for m in reader.consume(1000, 0.2) if m.error() is None)
            if len(found) >= expect:
                quiet_until = quiet_until or time.monotonic() + 0.5
                if time.monotonic() > quiet_until:
                    break
    finally:
        reader.close()
    return found


def sources(messages: Iterable[Message]) -> list[tuple[str, int, int]]:
    found = [source_of(m) for m in messages]
    assert None not in found, "every published record names its source"
    return [s for s in found if s is not None]


def settings(kafka: KafkaBackend, **values: Any) -> RuntimeSettings:
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "WORKER_INSTANCE_ID": unique_topic("instance"),
        "WORKER_COMMIT_INTERVAL_MS": 50,
        "WORKER_RETRY_BACKOFF_BASE_SECONDS": 0.01,
        "WORKER_RETRY_BACKOFF_MAX_SECONDS": 0.05,
        "WORKER_DRAIN_SECONDS": 5,
    }
    return RuntimeSettings.model_validate(base | values)


@contextlib.asynccontextmanager
async def running_engine(
    kafka: KafkaBackend,
    *,
    handler: Handler,
    decode: Decoder,
    input_topic: str,
    output_topic: str,
    runtime: RuntimeSettings,
    encode: Any = None,
    group: str | None = None,
    worker: str = "test",
    consumer_extra: dict[str, Any] | None = None,
) -> AsyncIterator[Engine]:
    """An engine running in this process until the block ends (then it drains and stops)."""
    group_id = group or unique_topic("group")
    engine = Engine(
        worker=worker,
        settings=runtime,
        handler=handler,
        decode=decode,
        encode=encode or (lambda output: json.dumps(output.value).encode()),
        input_topics=[input_topic],
        dlq_topic=lambda topic: topic + ".dlq",
        output_topics=[output_topic],
        consumer_config=consumer_config(
            kafka,
            {
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": "false",
                "isolation.level": "read_committed",
                **(consumer_extra or {}),
            },
        ),
        producer_config=producer_config(kafka, {"transactional.id": f"{group_id}.{runtime.instance_id}"}),
        reconcile=kafka.is_mock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        yield engine
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def wait_until(predicate: Any, within: float = 30.0) -> None:
    """Poll `predicate` until it holds; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - a test's condition has no event to wait on
            await asyncio.sleep(0.05)


def header(message: Message, name: str) -> str:
    return dict(headers_of(message))[name].decode()
