"""`RowState` over a scripted loader: one load per stay of a partition, memory as decided, nothing from a stale stay.

The state's codec is a plain JSON one here: what is stored and decoded is the state's business, not the codec's.
The explicit partition of a state record is followed down to the producer (`Outbox`, `TransactionalPublisher`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from opentelemetry.trace import INVALID_SPAN

from tests.otel_support import Telemetry
from tests.unit.runtime.test_transactions import FakeProducer, publisher
from workers.observability.tracing import TRACER
from workers.runtime import InputRecord, Output, Publish, RowState, StateUnavailable
from workers.runtime.errors import RegistryUnavailable
from workers.runtime.outbox import Outbox

TOPIC = "cesce.invoices.rows"


class JsonCodec:
    def encode(self, value: Mapping[str, Any], topic: str) -> bytes:
        return json.dumps(value, sort_keys=True).encode()

    def decode(self, data: bytes | None, topic: str) -> dict[str, Any]:
        decoded = json.loads(data or b"")
        if not isinstance(decoded, dict):
            raise ValueError("not a state record")
        return decoded


class Loader:
    """The state topic as the test wrote it, partition -> key -> bytes; counts loads, may hold them or fail."""

    def __init__(self, stored: dict[int, dict[bytes, bytes]] | None = None) -> None:
        self.stored = stored or {}
        self.loads: list[int] = []
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None

    async def __call__(self, partition: int) -> dict[bytes, bytes]:
        self.loads.append(partition)
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return dict(self.stored.get(partition, {}))


def record(partition: int = 0, stay: int = 1, offset: int = 0) -> InputRecord:
    return InputRecord("erp.invoices", partition, offset, None, b"CLI-0001", b"{}", (), None, assignment=stay)


def state(loader: Loader) -> RowState:
    return RowState(TOPIC, JsonCodec(), loader)


async def test_a_partition_is_loaded_once_per_stay_and_only_when_a_record_of_it_comes() -> None:
    loader = Loader({1: {b"k": b'{"amount": "10.00"}'}})
    rows = state(loader)
    assert loader.loads == [], "nothing is loaded before a record asks"
    first = await rows.rows(record(partition=1))
    assert first.get(b"k") == {"amount": "10.00"}
    assert first.get(b"other") is None
    assert (await rows.rows(record(partition=1, offset=1))) is first
    assert loader.loads == [1], "the partition's later records reuse the load; other partitions are not read"


async def test_records_arriving_during_a_load_wait_for_that_one_load() -> None:
    loader = Loader({0: {b"k": b"{}"}})
    loader.gate = asyncio.Event()
    rows = state(loader)
    waiting = [asyncio.create_task(rows.rows(record(offset=n))) for n in range(5)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiting)
    loader.gate.set()
    loaded = await asyncio.gather(*waiting)
    assert all(partition is loaded[0] for partition in loaded)
    assert loader.loads == [0]


async def test_a_waiter_cancelled_does_not_cancel_the_load_the_others_wait_for() -> None:
    loader = Loader({0: {b"k": b"{}"}})
    loader.gate = asyncio.Event()
    rows = state(loader)
    abandoned = asyncio.create_task(rows.rows(record(offset=0)))
    kept = asyncio.create_task(rows.rows(record(offset=1)))
    await asyncio.sleep(0)
    abandoned.cancel()
    loader.gate.set()
    assert len(await kept) == 1
    assert loader.loads == [0]


async def test_remember_changes_memory_and_returns_the_record_for_the_inputs_partition() -> None:
    rows = await state(Loader()).rows(record(partition=3))
    kept = rows.remember(b"k", {"amount": "12.00"})
    assert kept == Output(TOPIC, b"k", b'{"amount": "12.00"}', partition=3, traced=False)
    assert rows.get(b"k") == {"amount": "12.00"}
    gone = rows.remember(b"k", None)
    assert gone == Output(TOPIC, b"k", None, partition=3, traced=False), "a delete is a tombstone"
    assert rows.get(b"k") is None


async def test_a_value_the_codec_refuses_changes_nothing() -> None:
    class Refusing(JsonCodec):
        def encode(self, value: Mapping[str, Any], topic: str) -> bytes:
            raise ValueError("the schema refuses it")

    rows = await RowState(TOPIC, Refusing(), Loader({0: {b"k": b'{"amount": "1"}'}})).rows(record())
    with pytest.raises(ValueError, match="refuses"):
        rows.remember(b"k", {"amount": object()})
    assert rows.get(b"k") == {"amount": "1"}


async def test_a_new_stay_reloads_from_the_topic_and_drops_what_the_last_one_remembered() -> None:
    loader = Loader({0: {b"k": b'{"v": 1}'}})
    rows = state(loader)
    (await rows.rows(record(stay=1))).remember(b"k", {"v": 2})  # decided, never committed: the stay ended
    again = await rows.rows(record(stay=2))
    assert again.get(b"k") == {"v": 1}, "what the topic holds, as another member may have changed it"
    assert loader.loads == [0, 0]


async def test_a_record_of_an_earlier_stay_reads_the_rows_but_never_changes_them() -> None:
    rows = state(Loader({0: {b"k": b'{"v": 1}'}}))
    await rows.rows(record(stay=2))
    stale = await rows.rows(record(stay=1))
    assert stale.get(b"k") == {"v": 1}
    assert stale.remember(b"k", {"v": 9}) == Output(TOPIC, b"k", b'{"v": 9}', partition=0, traced=False)
    assert (await rows.rows(record(stay=2))).get(b"k") == {"v": 1}


@pytest.mark.parametrize(
    "failure",
    [
        KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")),
        TimeoutError("cesce.invoices.rows: stalled reading partitions [0] to their end"),
    ],
)
async def test_a_load_that_fails_is_state_unavailable_for_every_waiter_and_tried_again(failure: Exception) -> None:
    loader = Loader({0: {b"k": b"{}"}})
    loader.gate, loader.failure = asyncio.Event(), failure
    rows = state(loader)
    waiting = [asyncio.create_task(rows.rows(record(offset=n))) for n in range(2)]
    await asyncio.sleep(0)
    loader.gate.set()
    for outcome in await asyncio.gather(*waiting, return_exceptions=True):
        assert isinstance(outcome, StateUnavailable)
        assert "partition 0 could not be loaded" in str(outcome)
    loader.failure = None
    assert len(await rows.rows(record(offset=2))) == 1
    assert loader.loads == [0, 0]


async def test_a_stored_value_that_no_longer_decodes_reads_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    rows = await state(Loader({0: {b"k": b"[1, 2]"}})).rows(record())
    assert rows.get(b"k") is None
    assert "cannot be decoded" in caplog.text


def test_the_outbox_and_the_producer_write_a_state_record_to_its_partition() -> None:
    outbox = Outbox(worker="invoices", encode=lambda output: b"result", dlq_topic=lambda topic: topic + ".dlq")
    kept = Output(TOPIC, b'{"id":7}', b"state", partition=2)
    result = Output("cesce.sale-results", "CLI-0001", {"outcome": "DECLARED"}, schema="cesce.results.SaleResult")
    encoded = outbox.outputs(record(partition=2), INVALID_SPAN, Publish([result, kept]), 1, None)
    assert [(e.topic, e.partition) for e in encoded] == [("cesce.sale-results", None), (TOPIC, 2)]
    producer = FakeProducer()
    publisher(producer).commit(encoded, [], None)
    assert [(p["topic"], p["partition"]) for p in producer.produced] == [("cesce.sale-results", -1), (TOPIC, 2)]


async def test_a_state_record_carries_no_trace_and_makes_no_span(telemetry: Telemetry) -> None:
    outbox = Outbox(worker="invoices", encode=lambda output: b"result", dlq_topic=lambda topic: topic + ".dlq")
    kept = (await state(Loader({2: {}})).rows(record(partition=2))).remember(b"k", {"a": 1})
    result = Output("cesce.sale-results", "CLI-0001", {"outcome": "DECLARED"}, schema="cesce.results.SaleResult")
    with TRACER.start_as_current_span("process"):
        encoded = outbox.outputs(record(partition=2), INVALID_SPAN, Publish([result, kept]), 1, None)
    names = [{name for name, _ in e.headers} for e in encoded]
    assert "traceparent" in names[0]
    assert "traceparent" not in names[1]
    [process] = telemetry.finished()  # the result carries the process span's context: no span of its own
    assert dict(encoded[0].headers)["traceparent"].decode().split("-")[2] == format(process.context.span_id, "016x")


async def test_a_value_whose_schema_the_registry_cannot_give_now_is_state_unavailable_not_unknown() -> None:
    class RegistryDown(JsonCodec):
        def decode(self, data: bytes | None, topic: str) -> dict[str, Any]:
            raise RegistryUnavailable("cesce.state.SentSale: connection refused")

    rows = await RowState(TOPIC, RegistryDown(), Loader({0: {b"k": b"{}"}})).rows(record())
    with pytest.raises(StateUnavailable, match="cannot be read now"):
        rows.get(b"k")
