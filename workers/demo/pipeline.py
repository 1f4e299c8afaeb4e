"""The demo's second part: the invoices pipeline on the embedded default.

An embedded Kafka (librdkafka's mock cluster) and the invoices worker run in this process, the
sandbox serves Cesce; the bundled sample of ERP changes is produced to ``erp.invoices``, and each
change is followed to its ``cesce.sale-results`` record or its dead letter, matched by offset.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from workers.demo.report import Report
from workers.demo.sample import Change, sample_changes
from workers.invoices import invoices_spec
from workers.runtime.consumer_thread import headers_of
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, EmbeddedKafka
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader

__all__ = ["invoices_pipeline"]

_log = logging.getLogger(__name__)

INPUT, RESULTS = "erp.invoices", "cesce.sale-results"
DLQ = f"{INPUT}.dlq"
_WAIT_SECONDS = 60.0


def _produce(bootstrap: str, changes: list[Change]) -> dict[tuple[int, int], Change]:
    """Produce the changes in order; where each landed (partition, offset)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "enable.idempotence": True, "logger": _log}
    )
    landed: dict[tuple[int, int], Change] = {}
    for change in changes:

        def delivered(error: Any, message: Message, change: Change = change) -> None:
            if error is None:
                landed[(message.partition() or 0, message.offset() or 0)] = change

        producer.produce(INPUT, key=change.key, value=change.value, on_delivery=delivered)
        producer.poll(0)
    producer.flush(30)
    if len(landed) != len(changes):
        raise RuntimeError(f"only {len(landed)} of {len(changes)} sample changes were delivered")
    return landed


def _collect(bootstrap: str, expected: int) -> list[Message]:
    """Every result and dead letter, once there are `expected` of them (read_committed)."""
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "demo-reader", "isolation.level": "read_committed", "logger": _log}
        | dict(MOCK_CLIENT_CONFIG)
    )
    found: list[Message] = []
    assigned: set[str] = set()
    deadline = time.monotonic() + _WAIT_SECONDS
    try:
        while len(found) < expected and time.monotonic() < deadline:
            topics = reader.list_topics(timeout=5).topics
            for topic in (RESULTS, DLQ):
                if topic in topics and topic not in assigned:
                    reader.incremental_assign(
                        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in topics[topic].partitions]
                    )
                    assigned.add(topic)
            found.extend(m for m in reader.consume(100, 0.2) if m.error() is None)
    finally:
        reader.close()
    return found


def _describe(message: Message, reader: AvroReader) -> tuple[tuple[int, int], str, str]:
    """(input partition, offset), what became of it, the detail to show."""
    headers = {name: value.decode() for name, value in headers_of(message)}
    where = (int(headers["source.partition"]), int(headers["source.offset"]))
    if message.topic() == DLQ:
        detail = f"{headers['dlq.error.code']} {headers['dlq.error.description']}"
        return where, f"dlq:{headers['dlq.category']}", detail
    result: Mapping[str, Any] = reader.decode(message.value() or b"", RESULTS).value
    detail = " ".join(
        f"{name} {result[name]}"
        for name in ("saleCesceReferenceNo", "statusCode", "commercialRiskPremium")
        if result.get(name) is not None
    )
    return where, str(result["outcome"]), detail


async def invoices_pipeline(sandbox_url: str, report: Report) -> None:
    """Run the pipeline over the sample; one checked row per change in `report`."""
    changes = sample_changes(secrets.token_hex(2).upper())
    with EmbeddedKafka() as kafka:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in MOCK_CLIENT_CONFIG.items()},
            "SCHEMA_REGISTRY_URL": "mock://demo",
            "WORKER_INSTANCE_ID": "demo",
            "WORKER_COMMIT_INTERVAL_MS": "100",
            "CESCE_BASE_URL": sandbox_url,
            "CESCE_CLIENT_ID": "demo-app",
            "CESCE_CLIENT_SECRET": secrets.token_urlsafe(16),
            "CESCE_USERNAME": "demo",
            "CESCE_PASSWORD": secrets.token_urlsafe(16),
        }
        stop = asyncio.Event()
        worker = asyncio.create_task(serve(invoices_spec(env), env, stop))
        try:
            landed = await asyncio.to_thread(_produce, kafka.bootstrap_servers, changes)
            outputs = await asyncio.to_thread(_collect, kafka.bootstrap_servers, len(changes))
        finally:
            stop.set()
            await worker
    reader = AvroReader(schema_registry_client("mock://demo"))
    became = {where: (outcome, detail) for where, outcome, detail in (_describe(m, reader) for m in outputs)}
    report.add(len(outputs) == len(changes), "every change answered once", f"{len(outputs)} for {len(changes)}")
    for where, change in sorted(landed.items(), key=lambda item: changes.index(item[1]) * 1000 + item[0][1]):
        outcome, detail = became.get(where, ("nothing", ""))
        report.add(outcome == change.expect, change.story, f"{outcome}  {detail}".rstrip())
