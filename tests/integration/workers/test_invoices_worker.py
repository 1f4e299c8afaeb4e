"""The invoices worker end to end: the broker over TCP, the sandbox over HTTP, real Avro results."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import pytest
from confluent_kafka import Message

from tests.integration.runtime.support import header, produce, read
from tests.integration.workers.support import worker_env as base_env
from tests.integration.workers.support import worker_process
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.demo.sample import Change, sample_changes
from workers.invoices import invoices_spec
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.config import Faults

pytestmark = pytest.mark.integration


def worker_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, source: str, results: str, **extra: str
) -> dict[str, str]:
    return {
        **base_env(kafka, sandbox, registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
        **extra,
    }


def outcomes(registry: str, messages: list[Message], results: str) -> dict[tuple[int, int], tuple[str, dict[str, Any]]]:
    """(input partition, offset) -> (outcome or dlq:<category>, the result or the dead letter's headers)."""
    found: dict[tuple[int, int], tuple[str, dict[str, Any]]] = {}
    with schema_registry_client(registry) as client:
        reader = AvroReader(client)
        for message in messages:
            offset = (int(header(message, "source.partition")), int(header(message, "source.offset")))
            if message.topic() == results:
                value = reader.decode(message.value() or b"", results).value
                found[offset] = (str(value["outcome"]), value)
            else:
                found[offset] = (f"dlq:{header(message, 'dlq.category')}", {"code": header(message, "dlq.error.code")})
    return found


async def test_every_path_of_the_sample_and_one_sale_per_invoice(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    both_ids = sample_changes("X")[0].value.replace(
        b'"customerReference"', b'"endorsementNo": "1", "customerReference"'
    )
    unknown_schema = b"\x00\x00\x00\x03\xe7" + b"\x02\x00"  # Confluent framing, schema id 999
    changes = [
        *sample_changes(unique_topic("r")[-6:]),
        Change("two identifiers", "CLI-0001", both_ids, "dlq:validation"),
        Change("Avro with an unknown schema id", "CLI-0005", unknown_schema, "dlq:deserialization"),
        Change("bad bytes", "CLI-0005", b"\xff\xfe\x00", "dlq:deserialization"),
    ]
    produce(kafka, source, [(c.key, c.value) for c in changes])
    env = worker_env(kafka, sandbox, schema_registry, source, results)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(invoices_spec(env), env, stop))
    try:
        messages = await asyncio.to_thread(read, kafka, [results, f"{source}.dlq"], expect=len(changes), timeout=60)
    finally:
        stop.set()
        await worker
    assert len(messages) == len(changes)
    got = sorted(outcomes(schema_registry, messages, results).items())
    assert sorted(o for _, (o, _) in got) == sorted(c.expect for c in changes)
    codes = sorted(v["code"] for _, (o, v) in got if o == "dlq:deserialization")
    assert codes == ["bad-field", "not-json", "unknown-schema-id"]  # {"hello": ...} reads as a row without its fields
    ledger = sandbox.admin().ledger()
    assert max(int(entry["count"]) for entry in ledger["byDuplicateKey"]) == 1
    declared = [v for _, (o, v) in got if o in ("DECLARED", "ALREADY_DECLARED")]
    assert all(v["saleCesceReferenceNo"] for v in declared)
    assert {v["debtor"] for v in declared} >= {"CLI-0001", "CLI-0002", "CLI-0004"}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_crash_between_cesces_answer_and_the_commit_declares_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str, tmp_path: Any
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    change = sample_changes(unique_topic("c")[-6:])[0]
    produce(kafka, source, [(change.key, change.value)])
    env = worker_env(kafka, sandbox, schema_registry, source, results)
    admin = sandbox.admin()
    # keyed by debtor already: no re-keying companion, whose outputs would wait for the commit held back below
    env |= {"INVOICES_KEYED_BY_DEBTOR": "true"}
    env |= {"WORKER_PROCESSES": "1"}  # one process: the SIGKILL below must hit the engine itself, not its parent
    # a commit interval far away: Cesce answers, then the process dies before anything commits
    with worker_process(
        "invoices", env | {"WORKER_COMMIT_INTERVAL_MS": "600000"}, str(tmp_path / "first.log")
    ) as first:
        deadline = time.monotonic() + 60
        while not admin.ledger()["sales"]:
            assert time.monotonic() < deadline, "the first worker never declared the sale"
            assert first.poll() is None
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert read(kafka, [results], expect=0, timeout=2) == []
    with worker_process("invoices", env, str(tmp_path / "second.log")) as second:
        messages = read(kafka, [results], expect=1, timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert [o for o, _ in outcomes(schema_registry, messages, results).values()] == ["ALREADY_DECLARED"]
    ledger = admin.ledger()
    assert [int(e["count"]) for e in ledger["byDuplicateKey"]] == [1]
    assert ledger["duplicateAttempts"] == 1


async def test_a_burst_of_transient_faults_is_absorbed_without_dead_letters_or_duplicates(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    faults = Faults(error_rate=0.3, rate_limit=40, hang_rate=0.05, hang_seconds=2, drop_rate=0.05)
    with serve_in_thread(SandboxConfig(seed=7, faults=faults)) as faulty:
        source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
        debtors = ["CLI-0001", "CLI-0002", "CLI-0004", "CLI-0005"]
        records = []
        for n in range(40):
            value = json.loads(sample_changes(f"B{n:02d}")[0].value)
            value["after"]["customerReference"] = debtors[n % len(debtors)]
            records.append((debtors[n % len(debtors)], json.dumps(value).encode()))
        produce(kafka, source, records)
        env = worker_env(
            kafka, faulty, schema_registry, source, results, CESCE_TIMEOUT_SECONDS="1", WORKER_OUTAGE_THRESHOLD="50"
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(serve(invoices_spec(env), env, stop))
        try:
            messages = await asyncio.to_thread(read, kafka, [results, f"{source}.dlq"], expect=40, timeout=90)
        finally:
            stop.set()
            await worker
        found = outcomes(schema_registry, messages, results)
        assert len(messages) == 40
        assert {o for o, _ in found.values()} <= {"DECLARED", "ALREADY_DECLARED"}
        ledger = faulty.admin().ledger()
        assert len(ledger["sales"]) == 40
        assert max(int(e["count"]) for e in ledger["byDuplicateKey"]) == 1
        stats = faulty.admin().stats()["faults"]
        assert stats["errors"] + stats["rateLimited"] + stats["hung"] + stats["dropped"] > 0
