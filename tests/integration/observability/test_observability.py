"""Traces and metrics of real records, read from the SDK's in-memory exporters.

The invoices worker runs in this process against the embedded broker (TCP) and the sandbox (HTTP),
so every span of a record, from the consumer's to the Cesce calls' and the produce, is here.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from confluent_kafka import Producer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.integration.runtime.support import header, read, running_engine, settings, wait_until
from tests.integration.workers.support import read_async, running, worker_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from tests.otel_support import Telemetry
from workers.demo.sample import sample_changes
from workers.invoices import invoices_spec
from workers.runtime.contract import InputRecord, Outcome, Output, Publish, Retry
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


def _produce(kafka: KafkaBackend, topic: str, key: str, value: bytes) -> None:
    producer = Producer(producer_config(kafka))
    producer.produce(topic, key=key, value=value, headers=[("traceparent", f"00-{TRACE}-{PARENT}-01".encode())])
    assert producer.flush(10) == 0


def _total(telemetry: Telemetry, name: str, **labels: Any) -> float:
    return sum(
        getattr(point, "value", None) or getattr(point, "count", 0) for point in telemetry.points(name, **labels)
    )


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _all_attribute_text(spans: list[ReadableSpan]) -> str:
    return json.dumps([dict(span.attributes or {}) for span in spans] + [span.name for span in spans], default=str)


async def _invoices(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, key: str, value: bytes, *, expect_topic: str
) -> Any:
    """One record through the invoices worker: its topic, the results topic, the group, and what came out."""
    source, results, group = unique_topic("erp.invoices"), unique_topic("cesce.sale-results"), unique_topic("group")
    env = {
        **worker_env(kafka, sandbox, registry, group),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
    }
    _produce(kafka, source, key, value)
    async with running([invoices_spec(env)], env):
        [message] = await read_async(kafka, [expect_topic.format(source=source, results=results)], expect=1)
    return source, results, group, message


async def test_one_invoice_makes_the_expected_span_tree_and_metrics(
    kafka: KafkaBackend, sandbox: RunningSandbox, telemetry: Telemetry, schema_registry: str
) -> None:
    change = sample_changes(unique_topic("o")[-6:])[0]  # a new invoice: declared
    invoice = json.loads(change.value)["after"]["invoiceNo"]
    declared = _total(telemetry, "cesce.worker.records", worker="invoices", outcome="published")
    calls = _total(telemetry, "cesce.client.duration", operation="sales.declare", status="201")
    grants = _total(telemetry, "cesce.client.token_renewals", grant="password", outcome="ok")

    source, results, group, message = await _invoices(
        kafka, sandbox, schema_registry, change.key, change.value, expect_topic="{results}"
    )

    spans = telemetry.finished()
    [process] = _by_name(spans, f"process {source}")
    assert process.kind is SpanKind.CONSUMER
    assert format(process.context.trace_id, "032x") == TRACE  # the ERP's trace goes on
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == PARENT
    assert dict(process.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": source,
        "messaging.destination.partition.id": header(message, "source.partition"),
        "messaging.kafka.offset": 0,
        "messaging.consumer.group.name": group,
        "messaging.message.body.size": len(change.value),
        "cesce.outcome": "published",
    }
    children = _children(spans, process)
    names = sorted(child.name for child in children)
    # the row state is written with the result, but makes no span: nobody continues its trace
    expected = ["POST /oauth2/v1/token", "POST /sales/contracts/{contractNo}/sales"]
    assert names == expected
    [declare] = _by_name(children, "POST /sales/contracts/{contractNo}/sales")
    assert declare.kind is SpanKind.CLIENT
    assert (declare.attributes or {})["http.request.method"] == "POST"
    assert (declare.attributes or {})["http.response.status_code"] == 201
    assert (declare.attributes or {})["server.address"] == "127.0.0.1"
    assert (declare.attributes or {})["cesce.operation"] == "sales.declare"
    # the result carries the process span's context (no send span: issue 18), and the trace id in its value
    assert header(message, "traceparent") == f"00-{TRACE}-{format(process.context.span_id, '016x')}-01"
    with schema_registry_client(schema_registry) as client:
        result = AvroReader(client).decode(message.value() or b"", results).value
    assert result["traceId"] == TRACE
    # no personal data, no secrets in any attribute
    text = _all_attribute_text(spans)
    for private in (invoice, change.key, "34109150331", "it-secret", "it-password", "Bearer"):
        assert private not in text

    assert _total(telemetry, "cesce.worker.records", worker="invoices", outcome="published") == declared + 1
    assert _total(telemetry, "cesce.client.duration", operation="sales.declare", status="201") == calls + 1
    assert _total(telemetry, "cesce.client.token_renewals", grant="password", outcome="ok") == grants + 1
    assert _total(telemetry, "cesce.worker.in_flight", worker="invoices") == 0


async def test_a_dead_letter_carries_its_own_trace_context_and_is_counted(
    kafka: KafkaBackend, sandbox: RunningSandbox, telemetry: Telemetry, schema_registry: str
) -> None:
    change = next(c for c in sample_changes(unique_topic("d")[-6:]) if c.story == "an invoice on the expired policy")
    before = _total(telemetry, "cesce.worker.dead_letters", worker="invoices", category="business", code="1522")

    source, _, _, dead = await _invoices(
        kafka, sandbox, schema_registry, change.key, change.value, expect_topic="{source}.dlq"
    )

    spans = telemetry.finished()
    [process] = _by_name(spans, f"process {source}")
    assert process.status.status_code is StatusCode.ERROR
    attributes = dict(process.attributes or {})
    assert (attributes["cesce.outcome"], attributes["cesce.dlq.category"], attributes["cesce.dlq.code"]) == (
        "dead_lettered",
        "business",
        "1522",
    )
    assert not [s for s in _children(spans, process) if s.kind is SpanKind.PRODUCER]
    assert header(dead, "traceparent") == f"00-{TRACE}-{format(process.context.span_id, '016x')}-01"
    assert header(dead, "dlq.original.traceparent") == f"00-{TRACE}-{PARENT}-01"
    after = _total(telemetry, "cesce.worker.dead_letters", worker="invoices", category="business", code="1522")
    assert after == before + 1
    assert _total(telemetry, "cesce.worker.dead_letters", worker="invoices", topic=f"{source}.dlq") == 1


async def test_retries_are_span_events_and_counted_and_lag_is_observed(
    kafka: KafkaBackend, telemetry: Telemetry
) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    tries: list[int] = []

    async def handler(record: InputRecord) -> Outcome:
        tries.append(record.offset)
        if len(tries) == 1:
            return Retry("1001", "ERROR INTERNO")
        return Publish([Output(sink, record.key, b"ok")])

    producer = Producer(producer_config(kafka))
    producer.produce(source, key="k", value=b"{}")
    assert producer.flush(10) == 0
    runtime = settings(kafka)
    async with running_engine(
        kafka,
        handler=handler,
        decode=lambda value, _topic: value,
        input_topic=source,
        output_topic=sink,
        runtime=runtime,
        worker="retrying",
        consumer_extra={"statistics.interval.ms": 200},
    ):
        await asyncio.to_thread(read, kafka, [sink], expect=1)

        # librdkafka's statistics give the partition's end; the lag is 0 once the record is committed
        def caught_up() -> bool:
            lags = telemetry.points("cesce.worker.consumer_lag", worker="retrying", topic=source)
            return bool(lags) and all(point.value == 0 for point in lags)

        await wait_until(caught_up)
    [process] = [s for s in telemetry.finished() if s.name == f"process {source}"]
    [event] = process.events
    assert (event.name, dict(event.attributes or {})) == ("retry", {"attempt": 1, "code": "1001"})
    assert _total(telemetry, "cesce.worker.retries", worker="retrying", code="1001") == 1
    assert not telemetry.points("cesce.worker.consumer_lag", worker="retrying")  # forgotten once stopped


async def test_a_caught_up_transactional_input_reads_no_lag(kafka: KafkaBackend, telemetry: Telemetry) -> None:
    """Each transaction leaves a commit marker after its records: not a record to consume, so not lag."""
    source, sink = unique_topic("in"), unique_topic("out")
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("txn")}))
    producer.init_transactions(10)
    for n in range(3):
        producer.begin_transaction()
        producer.produce(source, key="k", value=str(n).encode(), partition=0)
        producer.commit_transaction(10)

    async def handler(record: InputRecord) -> Outcome:
        return Publish([Output(sink, record.key, b"ok")])

    async with running_engine(
        kafka,
        handler=handler,
        decode=lambda value, _topic: value,
        input_topic=source,
        output_topic=sink,
        runtime=settings(kafka),
        worker="transactional",
        consumer_extra={"statistics.interval.ms": 200},
    ):
        await asyncio.to_thread(read, kafka, [sink], expect=3)

        def lag() -> float | None:
            points = telemetry.points("cesce.worker.consumer_lag", worker="transactional", topic=source, partition=0)
            return points[0].value if points else None

        await wait_until(lambda: lag() == 0)
