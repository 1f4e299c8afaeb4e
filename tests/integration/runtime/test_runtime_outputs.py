"""Outputs the cluster refuses (issue 15, defect 3): rerouted, or the worker stops; never a silent wedge.

On the embedded broker over TCP. A record over the producer's ``message.max.bytes`` (1,000,000 by
default) is refused for real; what the mock cannot do (refuse a topic: it creates any topic it is
asked for) is injected at the one place the engine produces, the transactional producer, by a thin
wrapper that reports the chosen error in the delivery reports of one topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from tests.integration.runtime.support import header, produce, read, running_engine, settings, wait_until
from tests.integration.runtime.test_runtime_engine import json_decode
from tests.kafka_backends import KafkaBackend, consumer_config, unique_topic
from tests.otel_support import Telemetry
from workers.runtime import transactions
from workers.runtime.contract import InputRecord, Outcome, Output, Publish
from workers.runtime.dlq import OMITTED
from workers.runtime.engine import Engine
from workers.runtime.errors import OutputUnwritable

pytestmark = pytest.mark.integration

_TOO_LARGE = 1_100_000


class RefusingProducer:
    """A real producer, but every record for `topic` comes back with `error` in its delivery report."""

    def __init__(self, config: dict[str, Any], topic: str, error: Callable[[], KafkaError | None]) -> None:
        self._producer = Producer(config)
        self._topic, self._error = topic, error

    def produce(self, topic: str, **kwargs: Any) -> None:
        error = self._error() if topic == self._topic else None
        if error is not None:
            report = kwargs.pop("on_delivery")
            kwargs["on_delivery"] = lambda _error, message: report(error, message)
        self._producer.produce(topic, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def _engine(kafka: KafkaBackend, source: str, sink: str, group: str) -> contextlib.AbstractAsyncContextManager[Engine]:
    """An engine of `group` that answers every record of `source` with ``{}`` on `sink`."""

    async def handler(record: InputRecord) -> Outcome:
        return Publish([Output(sink, record.key, b"{}")])

    return running_engine(
        kafka,
        handler=handler,
        decode=json_decode,
        input_topic=source,
        output_topic=sink,
        runtime=settings(kafka),
        group=group,
    )


def committed_offset(kafka: KafkaBackend, group: str, topic: str) -> int:
    """The group's committed offset of `topic`'s only record's partition (the mock stores only plain commits)."""
    reader = Consumer(consumer_config(kafka, {"group.id": group}))
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        committed = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        reader.close()
    return max(tp.offset for tp in committed)


def echo_or_huge(sink: str) -> Callable[[InputRecord], Any]:
    async def handler(record: InputRecord) -> Outcome:
        n = record.decoded["n"]
        body = b"x" * _TOO_LARGE if n == 3 else json.dumps({"n": n}).encode()
        return Publish([Output(sink, record.key, body)])

    return handler


async def test_an_output_over_the_size_limit_is_dead_lettered_and_the_rest_go_on(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    total = produce(kafka, source, [("k", json.dumps({"n": n}).encode()) for n in range(8)])
    async with running_engine(
        kafka,
        handler=echo_or_huge(sink),
        decode=json_decode,
        input_topic=source,
        output_topic=sink,
        runtime=settings(kafka),
    ) as engine:
        results = await asyncio.to_thread(read, kafka, [sink], expect=total - 1)
        dead = await asyncio.to_thread(read, kafka, [f"{source}.dlq"], expect=1)
        await wait_until(lambda: engine.readiness() is None)
    assert sorted(json.loads(m.value())["n"] for m in results) == [0, 1, 2, 4, 5, 6, 7]
    [letter] = dead
    assert header(letter, "dlq.category") == "internal"
    assert header(letter, "dlq.error.code") == "output:MSG_SIZE_TOO_LARGE"
    assert f"{sink} refused the output" in header(letter, "dlq.error.description")
    assert letter.value() == json.dumps({"n": 3}).encode(), "the input, unchanged"


async def test_a_dead_letter_too_large_to_keep_whole_goes_without_its_value(
    kafka: KafkaBackend, telemetry: Telemetry
) -> None:
    """The fuzz harness's wedge: an undecodable input close to the limit, whose dead letter (the input plus
    our headers) is over it. With tracing on, so the dead letter carries its own trace context, which stays."""
    source, sink = unique_topic("in"), unique_topic("out")
    big = b"{" + b" " * 999_900  # not JSON: a deserialization dead letter of its own size plus headers
    produce(kafka, source, [("k", json.dumps({"n": 0}).encode()), ("k", big), ("k", json.dumps({"n": 2}).encode())])

    async def handler(record: InputRecord) -> Outcome:
        return Publish([Output(sink, record.key, json.dumps(record.decoded).encode())])

    runtime = settings(kafka)
    async with running_engine(
        kafka, handler=handler, decode=json_decode, input_topic=source, output_topic=sink, runtime=runtime
    ):
        results = await asyncio.to_thread(read, kafka, [sink], expect=2)
        [letter] = await asyncio.to_thread(read, kafka, [f"{source}.dlq"], expect=1)
    assert [json.loads(m.value())["n"] for m in results] == [0, 2], "the records after it are not held"
    assert letter.value() is None
    assert letter.key() is None
    assert header(letter, OMITTED) == f"key=1,value={len(big)},headers=0"
    assert header(letter, "traceparent").startswith("00-"), "its own trace context is ours, kept"
    assert header(letter, "dlq.category") == "deserialization"
    assert (header(letter, "dlq.original.topic"), header(letter, "dlq.original.offset")) == (source, "1")


async def test_an_output_topic_that_refuses_everything_stops_the_engine(
    kafka: KafkaBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("k", json.dumps({"n": 0}).encode())])
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed")
    monkeypatch.setattr(transactions, "Producer", lambda config: RefusingProducer(config, sink, lambda: denied))

    group = unique_topic("group")
    with pytest.raises(OutputUnwritable, match=f"cannot write to {sink}.*Topic authorization failed"):
        async with _engine(kafka, source, sink, group):
            await asyncio.sleep(30)  # the engine stops on its own long before
    # nothing committed (the mock shows aborted records to read_committed readers, so the sink cannot tell)
    assert committed_offset(kafka, group, source) < 0


async def test_transactions_that_keep_aborting_fail_readiness_until_one_commits(
    kafka: KafkaBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, sink = unique_topic("in"), unique_topic("out")
    produce(kafka, source, [("k", json.dumps({"n": 0}).encode())])
    failing = True
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT, "Local: Message timed out")
    monkeypatch.setattr(
        transactions, "Producer", lambda config: RefusingProducer(config, sink, lambda: timed_out if failing else None)
    )

    group = unique_topic("group")
    async with _engine(kafka, source, sink, group) as engine:
        await wait_until(lambda: "transactions aborted in a row" in (engine.readiness() or ""))
        assert committed_offset(kafka, group, source) < 0
        failing = False
        await wait_until(lambda: engine.readiness() is None)
        await wait_until(lambda: committed_offset(kafka, group, source) == 1)
