"""The engine in this process against a real broker over TCP (the embedded mock by default)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.integration.runtime.support import (
    header,
    keyed_json,
    produce,
    read,
    running_engine,
    settings,
    sources,
    wait_until,
)
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.runtime.contract import DeadLetter, Defer, ErrorCategory, InputRecord, Outcome, Output, Publish, Retry
from workers.runtime.errors import RegistryUnavailable

pytestmark = pytest.mark.integration


def json_decode(value: bytes | None, _topic: str) -> Any:
    if value is None:
        raise ValueError("no value")
    decoded = json.loads(value)
    if not isinstance(decoded, dict):
        raise TypeError("not an object")
    return decoded


def echo(output_topic: str, record: InputRecord) -> Publish:
    return Publish([Output(output_topic, record.key, json.dumps({"n": record.decoded["n"]}).encode())])


async def test_keys_in_order_different_keys_concurrently_and_in_flight_bounded(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    total = produce(kafka, source, keyed_json(keys=40, per_key=25))
    running: set[bytes | None] = set()
    peak = 0
    handled: dict[bytes | None, list[int]] = defaultdict(list)

    async def handler(record: InputRecord) -> Outcome:
        nonlocal peak
        assert record.key not in running, "two records of one key at once"
        running.add(record.key)
        peak = max(peak, len(running))
        await asyncio.sleep(0.002 * (record.decoded["n"] % 3))
        running.discard(record.key)
        handled[record.key].append(record.decoded["n"])
        return echo(sink, record)

    runtime = settings(kafka, WORKER_MAX_IN_FLIGHT=16)
    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime
    ):
        await wait_until(lambda: sum(map(len, handled.values())) >= total)
    assert 1 < peak <= 16
    assert all(numbers == list(range(25)) for numbers in handled.values())
    outputs = read(kafka, [sink], expect=total)
    assert len(outputs) == total
    per_key: dict[bytes | None, list[int]] = defaultdict(list)
    for message in outputs:
        per_key[message.key()].append(json.loads(message.value())["n"])
    assert all(numbers == list(range(25)) for numbers in per_key.values())
    assert len(set(sources(outputs))) == total


async def test_poison_records_are_dead_lettered_with_their_story_and_the_rest_go_on(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    poison = [b"\x00\x00\x00\x03\xe7garbage", b"\xff\xfe not json", b"[1, 2]"]
    records = [
        ("k1", json.dumps({"n": 0}).encode()),
        *(("k1", p) for p in poison),
        ("k1", json.dumps({"n": 1}).encode()),
    ]
    produce(kafka, source, records)
    handled: list[int] = []

    async def handler(record: InputRecord) -> Outcome:
        handled.append(record.decoded["n"])
        return echo(sink, record)

    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=settings(kafka)
    ):
        await wait_until(lambda: len(handled) == 2)
    assert handled == [0, 1]
    dead = read(kafka, [f"{source}.dlq"], expect=3)
    assert [m.value() for m in dead] == poison
    assert {m.key() for m in dead} == {b"k1"}
    for message in dead:
        assert header(message, "dlq.category") == "deserialization"
        assert header(message, "dlq.original.topic") == source
        assert int(header(message, "dlq.original.offset")) == message.offset() + 1  # after the good first one
        assert header(message, "dlq.worker") == "test"
        assert header(message, "dlq.attempts") == "1"
        assert header(message, "dlq.error.description")
        assert header(message, "dlq.original.timestamp").isdigit()
        assert header(message, "dlq.first.failure").endswith("+00:00")
    assert len(read(kafka, [sink], expect=2)) == 2


async def test_transient_failures_retry_in_place_then_dead_letter_as_transient(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("flaky", b'{"n": 0}'), ("down", b'{"n": 0}'), ("fine", b'{"n": 0}')])
    tries: dict[str, int] = defaultdict(int)

    async def handler(record: InputRecord) -> Outcome:
        key = record.key_text or ""
        tries[key] += 1
        if key == "down" or (key == "flaky" and tries[key] < 3):
            return Retry("3", "Service unavailable. Please, try again later")
        return echo(sink, record)

    runtime = settings(kafka, WORKER_RETRY_ATTEMPTS=4, WORKER_OUTAGE_THRESHOLD=100)
    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime
    ):
        await wait_until(lambda: tries["down"] >= 4 and tries["flaky"] >= 3 and tries["fine"] >= 1)
    assert tries == {"flaky": 3, "down": 4, "fine": 1}
    [dead] = read(kafka, [f"{source}.dlq"], expect=1)
    assert (header(dead, "dlq.category"), header(dead, "dlq.error.code")) == ("transient", "3")
    assert header(dead, "dlq.attempts") == "4"
    assert header(dead, "dlq.first.failure") <= header(dead, "dlq.last.failure")
    assert sorted(m.key() for m in read(kafka, [sink], expect=2)) == [b"fine", b"flaky"]


async def test_an_outage_pauses_and_probes_instead_of_dead_lettering(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    total = produce(kafka, source, keyed_json(keys=10, per_key=5))
    outage_until = time.monotonic() + 1.5
    calls_during_outage = 0
    done: list[int] = []

    async def handler(record: InputRecord) -> Outcome:
        nonlocal calls_during_outage
        if time.monotonic() < outage_until:
            calls_during_outage += 1
            return Retry("18", "mantenimiento")
        done.append(record.decoded["n"])
        return echo(sink, record)

    runtime = settings(kafka, WORKER_RETRY_ATTEMPTS=2, WORKER_OUTAGE_THRESHOLD=3, WORKER_PROBE_INTERVAL_SECONDS=0.3)
    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime
    ):
        await wait_until(lambda: len(done) == total)
    assert calls_during_outage < 20  # probes, not every record retrying its budget away
    assert read(kafka, [f"{source}.dlq"], expect=0, timeout=2) == []
    assert len(read(kafka, [sink], expect=total)) == total


async def test_a_handler_that_raises_dead_letters_as_internal(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("a", b'{"n": 0}'), ("a", b'{"n": 1}')])
    seen: list[int] = []

    async def handler(record: InputRecord) -> Outcome:
        seen.append(record.decoded["n"])
        if record.decoded["n"] == 0:
            raise ZeroDivisionError("a defect")
        return echo(sink, record)

    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=settings(kafka)
    ):
        await wait_until(lambda: len(seen) == 2)
    [dead] = read(kafka, [f"{source}.dlq"], expect=1)
    assert (header(dead, "dlq.category"), header(dead, "dlq.error.code")) == ("internal", "ZeroDivisionError")
    assert len(read(kafka, [sink], expect=1)) == 1


async def test_business_dead_letter_keeps_the_original_headers(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    producer = Producer(producer_config(kafka))
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    producer.produce(source, key="d1", value=b'{"n": 0}', headers=[("traceparent", traceparent)])
    producer.flush(10)

    async def handler(record: InputRecord) -> Outcome:
        return DeadLetter(ErrorCategory.BUSINESS, "1522", "venta errónea - No existe periodo de seguro")

    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=settings(kafka)
    ):
        dead = await asyncio.to_thread(read, kafka, [f"{source}.dlq"], expect=1)
    [message] = dead
    assert header(message, "dlq.original.traceparent") == traceparent.decode()
    assert header(message, "dlq.error.description") == "venta errónea - No existe periodo de seguro"
    assert message.value() == b'{"n": 0}'


async def test_deferred_records_wait_until_due_and_never_hold_a_shutdown(kafka: KafkaBackend) -> None:
    """A delay topic: a record deferred to a near time is handled then; one deferred far ahead is
    abandoned at once on shutdown (no drain wait), uncommitted, and handled after the restart."""
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("soon", b'{"n": 0}'), ("later", b'{"n": 0}')])
    group = unique_topic("group")
    first_seen: dict[str, datetime] = {}
    handled: dict[str, datetime] = {}
    calls: dict[str, int] = defaultdict(int)

    async def handler(record: InputRecord) -> Outcome:
        key = record.key_text or ""
        calls[key] += 1
        first_seen.setdefault(key, datetime.now(UTC))
        due = first_seen[key] + (timedelta(seconds=1) if key == "soon" else timedelta(hours=1))
        if datetime.now(UTC) < due:
            return Defer(due, "not due yet")
        handled[key] = datetime.now(UTC)
        return echo(sink, record)

    runtime = settings(kafka, WORKER_DRAIN_SECONDS=30)
    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime, group=group
    ):
        await wait_until(lambda: "soon" in handled)
        await wait_until(lambda: calls["later"] == 1)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 10, "a deferred record held the drain"
    assert handled["soon"] - first_seen["soon"] >= timedelta(seconds=1)
    assert calls["soon"] == 2, "deferred once, then handled: nothing counted as a retry"
    assert "later" not in handled

    async def due_now(record: InputRecord) -> Outcome:
        handled[record.key_text or ""] = datetime.now(UTC)
        return echo(sink, record)

    async with running_engine(
        kafka, handler=due_now, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime, group=group
    ):
        await wait_until(lambda: "later" in handled)
    outputs = read(kafka, [sink], expect=2)
    assert sorted(m.key() for m in outputs) == [b"later", b"soon"]
    assert not read(kafka, [f"{source}.dlq"], expect=0, timeout=1)


async def test_a_record_is_decoded_once_and_a_registry_outage_is_an_ordinary_retry(kafka: KafkaBackend) -> None:
    """Issue 15, defect 9: retries and deferred wake-ups reuse the decoded value; the registry's outage is
    retried like any transient failure, never dead-lettered."""
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("retried", b'{"n": 0}'), ("deferred", b'{"n": 1}')])
    decodes: dict[bytes, int] = defaultdict(int)
    registry_down = 2
    tries: dict[bytes | None, int] = defaultdict(int)

    def decode(value: bytes | None, topic: str) -> Any:
        nonlocal registry_down
        assert value is not None
        decodes[value] += 1
        if value == b'{"n": 0}' and registry_down:
            registry_down -= 1
            raise RegistryUnavailable("schema registry: connection refused")
        return json_decode(value, topic)

    async def handler(record: InputRecord) -> Outcome:
        tries[record.key] += 1
        if record.key == b"retried" and tries[record.key] == 1:
            return Retry("1001", "ERROR INTERNO")
        if record.key == b"deferred" and tries[record.key] == 1:
            return Defer(datetime.now(UTC) + timedelta(seconds=0.2))
        return echo(sink, record)

    runtime = settings(kafka, WORKER_OUTAGE_THRESHOLD=10)
    async with running_engine(
        kafka, handler=handler, decode=decode, input_topic=source, output_topic=sink, runtime=runtime
    ):
        outputs = await asyncio.to_thread(read, kafka, [sink], expect=2)
    assert sorted(json.loads(m.value())["n"] for m in outputs) == [0, 1]
    assert dict(decodes) == {b'{"n": 0}': 3, b'{"n": 1}': 1}, "two refusals by the registry, then one decode each"
    assert dict(tries) == {b"retried": 2, b"deferred": 2}
    assert read(kafka, [f"{source}.dlq"], expect=0, timeout=2) == []
