"""The invoices worker on Debezium-on-PostgreSQL changes (default REPLICA IDENTITY), end to end.

PostgreSQL's default replica identity sends an update with ``before: null`` and a delete whose
``before`` holds only the primary key. The worker diffs every change against what it last sent to
Cesce (its row state, a compacted topic partitioned like the input), so the correction reaches Cesce
as a modification and the delete is answered from the state, also after a restart, when a new engine
loads the state of the partition it takes over. Records reach the worker as the re-keyer leaves them:
keyed by the debtor, the source's key (Debezium's primary key) in the ``cesce.row-key`` header.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from tests.integration.runtime.support import header, read
from tests.integration.workers.support import worker_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.demo.sample import _row, envelope
from workers.invoices import invoices_spec
from workers.runtime import ROW_KEY_HEADER
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

Change = tuple[str, bytes, bytes | None]
"""(debtor, the envelope, the row key header or None when the source already keys by debtor)."""


def produce(kafka: KafkaBackend, topic: str, changes: list[Change]) -> None:
    producer = Producer(producer_config(kafka))
    for debtor, value, row_key in changes:
        headers: list[tuple[str, str | bytes | None]] = [] if row_key is None else [(ROW_KEY_HEADER, row_key)]
        producer.produce(topic, key=debtor, value=value, headers=headers)
    assert producer.flush(30) == 0


def outcomes(registry: str, messages: list[Message], results: str) -> list[tuple[str, dict[str, Any]]]:
    """(outcome or dlq:<category>, the result or the dead letter's code) per input record, in input order."""
    with schema_registry_client(registry) as client:
        reader = AvroReader(client)
        found: dict[tuple[int, int], tuple[str, dict[str, Any]]] = {}
        for message in messages:
            offset = (int(header(message, "source.partition")), int(header(message, "source.offset")))
            if message.topic() == results:
                value = reader.decode(message.value() or b"", results).value
                found[offset] = (str(value["outcome"]), value)
            else:
                found[offset] = (f"dlq:{header(message, 'dlq.category')}", {"code": header(message, "dlq.error.code")})
        return [found[offset] for offset in sorted(found)]


async def handled(kafka: KafkaBackend, env: dict[str, str], topics: list[str], expect: int) -> list[Any]:
    """Run the worker (a new engine, as after a restart) until `expect` records are on `topics` in all."""
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(invoices_spec(env), env, stop))
    try:
        return await asyncio.to_thread(read, kafka, topics, expect=expect, timeout=60)
    finally:
        stop.set()
        await worker


def postgres_delete(row_id: int) -> bytes:
    """A delete as Debezium sends it from PostgreSQL's default replica identity: the primary key only."""
    return json.dumps({"before": {"id": row_id}, "after": None, "op": "d", "ts_ms": 1, "source": {}}).encode()


async def test_corrections_and_deletes_without_before_images_reach_cesce_from_the_row_state(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    source, results, state = unique_topic("erp.invoices"), unique_topic("cesce.sale-results"), unique_topic("rows")
    run = unique_topic("r")[-6:]
    env = {
        **worker_env(kafka, sandbox, schema_registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
        "INVOICES_STATE_TOPIC": state,
    }
    first, second = _row(f"P{run}-1", "CLI-0001", "1000.00"), _row(f"P{run}-2", "CLI-0001", "500.00")
    keyless = _row(f"P{run}-3", "CLI-0002", "700.00")  # the source keys by debtor: no row key, Cesce's identity
    produce(
        kafka,
        source,
        [
            ("CLI-0001", envelope("c", None, first), b'{"id":1}'),
            ("CLI-0001", envelope("c", None, second), b'{"id":2}'),
            ("CLI-0001", envelope("u", None, dict(first, amount="1200.00")), b'{"id":1}'),
            ("CLI-0002", envelope("c", None, keyless), None),
            ("CLI-0002", envelope("u", None, dict(keyless, amount="750.00")), None),
        ],
    )
    before_restart = await handled(kafka, env, [results, f"{source}.dlq"], expect=5)

    # the restart: a new engine takes the partitions over and loads their state before it diffs
    produce(
        kafka,
        source,
        [
            ("CLI-0001", envelope("u", None, dict(first, amount="1300.00")), b'{"id":1}'),
            ("CLI-0001", envelope("u", None, dict(first, amount="1300.00")), b'{"id":1}'),
            ("CLI-0001", postgres_delete(2), b'{"id":2}'),
            ("CLI-0002", envelope("u", None, dict(keyless, amount="750.00", invoiceNo=f"P{run}-9")), None),
        ],
    )
    everything = await handled(kafka, env, [results, f"{source}.dlq"], expect=9)

    assert len(before_restart) == 5
    by_offset = outcomes(schema_registry, everything, results)
    assert len(by_offset) == 9
    assert sorted(o for o, _ in by_offset) == sorted(
        [
            "DECLARED",
            "DECLARED",
            "MODIFIED",  # 1000 -> 1200 with before: null
            "DECLARED",
            "MODIFIED",  # 700 -> 750, the row named by Cesce's identity
            "MODIFIED",  # 1200 -> 1300 after the restart: diffed against the loaded state
            "NO_CHANGE",  # 1300 again: nothing to send
            "DELETED_IN_ERP",  # before: {"id": 2} only
            "dlq:validation",  # a new invoiceNo without a before-image and without a row key: nothing to match
        ]
    )
    deleted = next(value for outcome, value in by_offset if outcome == "DELETED_IN_ERP")
    assert (deleted["invoiceNo"], deleted["amount"]) == (f"P{run}-2", Decimal("500.00")), "the fields last sent"
    refused = next(value for outcome, value in by_offset if outcome == "dlq:validation")
    assert refused["code"] == "before"

    ledger = sandbox.admin().ledger()
    sales = {sale["invoiceNo"]: sale for sale in ledger["sales"] if sale["invoiceNo"].startswith(f"P{run}-")}
    assert sorted(sales) == [f"P{run}-1", f"P{run}-2", f"P{run}-3"], "one sale per invoice"
    assert max(int(entry["count"]) for entry in ledger["byDuplicateKey"]) == 1
    assert (sales[f"P{run}-1"]["currencyAmount"], sales[f"P{run}-3"]["currencyAmount"]) == ("1300,00", "750,00")
