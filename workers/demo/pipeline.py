"""The demo's pipelines: every worker on one embedded Kafka, each sample followed to its results.

An embedded Kafka (librdkafka's mock cluster) and the workers run in this process, the sandbox
serves Cesce. Each bundled sample of ERP changes is produced to its input topic and each change is
followed to its result or its dead letter, matched by offset (`Stage`). Then the follow-ups: the
requests left EN TRÁMITE are decided through the sandbox's admin API and their FINAL results read,
and the claims poller's updates for a document received and a settlement paid
(`workers.demo.followups`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from workers.demo.progress import Progress
from workers.demo.report import Report
from workers.demo.sample import Change
from workers.runtime.consumer_thread import headers_of
from workers.runtime.embedded import MOCK_CLIENT_CONFIG
from workers.runtime.serde import AvroReader
from workers.runtime.settings import DEFAULT_DLQ_SUFFIX

__all__ = ["Stage", "collect", "demo_env", "run_stage"]

_log = logging.getLogger(__name__)

_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Stage:
    """One worker's sample: where it goes in, where its answers come out, what to show of a result."""

    input: str
    results: str
    changes: Sequence[Change]
    detail: Callable[[Mapping[str, Any]], str]

    @property
    def dlq(self) -> str:
        return f"{self.input}{DEFAULT_DLQ_SUFFIX}"  # the demo's environment sets no WORKER_DLQ_SUFFIX


def demo_env(bootstrap: str, registry_url: str, sandbox_url: str) -> dict[str, str]:
    """The workers' environment: the embedded Kafka and Schema Registry, the sandbox, fast follow-ups."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in MOCK_CLIENT_CONFIG.items()},
        "SCHEMA_REGISTRY_URL": registry_url,
        "WORKER_INSTANCE_ID": "demo",
        "WORKER_COMMIT_INTERVAL_MS": "100",
        "CLASSIFICATION_FOLLOWUP_SECONDS": "0.5",
        "INVOICES_CREDIT_NOTE_WAIT_SECONDS": "1",  # the credit note with no sale waits 1 s, not a minute
        "CLAIMS_POLL_INTERVAL_SECONDS": "0.5",
        "RISK_MOVEMENTS_INTERVAL_SECONDS": "0.5",
        "CESCE_BASE_URL": sandbox_url,
        "CESCE_CLIENT_ID": "demo-app",
        "CESCE_CLIENT_SECRET": secrets.token_urlsafe(16),
        "CESCE_USERNAME": "demo",
        "CESCE_PASSWORD": secrets.token_urlsafe(16),
    }


def _produce(bootstrap: str, topic: str, changes: Sequence[Change]) -> dict[tuple[int, int], Change]:
    """Produce the changes in order; where each landed (partition, offset)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "enable.idempotence": True, "logger": _log}
    )
    landed: dict[tuple[int, int], Change] = {}
    for change in changes:

        def delivered(error: Any, message: Message, change: Change = change) -> None:
            if error is None:
                landed[(message.partition() or 0, message.offset() or 0)] = change

        producer.produce(topic, key=change.key, value=change.value, on_delivery=delivered)
        producer.poll(0)
    producer.flush(30)
    if len(landed) != len(changes):
        raise RuntimeError(f"only {len(landed)} of {len(changes)} sample changes were delivered")
    return landed


def collect(
    bootstrap: str,
    topics: Sequence[str],
    expected: int | Callable[[list[Message]], bool],
    progress: Progress | None = None,
) -> list[Message]:
    """Every record of `topics` (read_committed, from the beginning, tombstones left out), once there are
    `expected` of them or `expected(records)` holds; what there is after a minute otherwise. While it waits,
    `progress` says how far it got, once a second (by default: how many records of `topics` of `expected`)."""
    enough = expected if callable(expected) else (lambda found: len(found) >= expected)
    progress = progress or Progress(", ".join(topics), None if callable(expected) else expected)
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "demo-reader", "isolation.level": "read_committed", "logger": _log}
        | dict(MOCK_CLIENT_CONFIG)
    )
    found: list[Message] = []
    assigned: set[str] = set()
    deadline = time.monotonic() + _WAIT_SECONDS
    progress(found)
    try:
        while not enough(found) and time.monotonic() < deadline:
            known = reader.list_topics(timeout=5).topics
            for topic in topics:
                if topic in known and topic not in assigned:
                    reader.incremental_assign(
                        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in known[topic].partitions]
                    )
                    assigned.add(topic)
            found.extend(m for m in reader.consume(100, 0.2) if m.error() is None and m.value() is not None)
            progress(found)
    finally:
        reader.close()
    return found


def _describe(stage: Stage, message: Message, reader: AvroReader) -> tuple[tuple[int, int], str, str]:
    """(input partition, offset), what became of it, the detail to show."""
    headers = {name: value.decode() for name, value in headers_of(message)}
    where = (int(headers["source.partition"]), int(headers["source.offset"]))
    if message.topic() == stage.dlq:
        detail = f"{headers['dlq.error.code']} {headers['dlq.error.description']}"
        return where, f"dlq:{headers['dlq.category']}", detail
    result: Mapping[str, Any] = reader.decode(message.value() or b"", stage.results).value
    return where, str(result["outcome"]), stage.detail(result)


def _answer(stage: Stage, message: Message, reader: AvroReader) -> bool:
    """A change's own answer, not a FINAL result a follow-up published meanwhile (a premium accepted in the
    sample decides its request EN TRÁMITE while the stage is still being read)."""
    if message.topic() != stage.results:
        return True
    value: Mapping[str, Any] = reader.decode(message.value() or b"", stage.results).value
    return value.get("stage") != "FINAL"


async def run_stage(bootstrap: str, stage: Stage, reader: AvroReader, report: Report) -> list[Mapping[str, Any]]:
    """Produce the stage's sample and check what became of each change; the results, decoded."""
    landed = await asyncio.to_thread(_produce, bootstrap, stage.input, stage.changes)

    def answers(found: Sequence[Message]) -> int:
        return sum(_answer(stage, m, reader) for m in found)

    def answered(found: list[Message]) -> bool:
        return answers(found) >= len(stage.changes)

    progress = Progress(f"answers ({stage.results}, {stage.dlq})", len(stage.changes), count=answers)
    found = await asyncio.to_thread(collect, bootstrap, [stage.results, stage.dlq], answered, progress)
    outputs = [m for m in found if _answer(stage, m, reader)]
    became = {where: (outcome, detail) for where, outcome, detail in (_describe(stage, m, reader) for m in outputs)}
    report.add(len(outputs) == len(stage.changes), "every change answered once", f"{len(outputs)} for {len(landed)}")
    order = list(stage.changes)
    for where, change in sorted(landed.items(), key=lambda item: order.index(item[1]) * 1000 + item[0][1]):
        outcome, detail = became.get(where, ("nothing", ""))
        report.add(outcome == change.expect, change.story, f"{outcome}  {detail}".rstrip())
    return [reader.decode(m.value() or b"", stage.results).value for m in outputs if m.topic() == stage.results]
