"""Issue 18: a worker's consumers prefetch a bounded amount, overridable through ``KAFKA_*``; the consumer thread
hands the loop a bounded number of batches; on librdkafka's mock cluster a fetch waits briefly."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import pytest
from confluent_kafka import Consumer

from workers.runtime import consumer_thread
from workers.runtime.consumer_thread import HANDOFF_BATCHES, ConsumerThread
from workers.runtime.kafka_config import CONSUMER_PREFETCH, MOCK_CLUSTER_FETCH_WAIT
from workers.runtime.run import consumer_config, producer_config
from workers.runtime.settings import RuntimeSettings
from workers.settings import from_env

_ENV = {"KAFKA_BOOTSTRAP_SERVERS": "b:9092", "WORKER_INSTANCE_ID": "test"}


def _settings(env: dict[str, str]) -> RuntimeSettings:
    return from_env(RuntimeSettings, env)


def test_the_consumer_prefetch_is_bounded_well_below_librdkafkas_defaults() -> None:
    config = consumer_config(_settings(_ENV), _ENV, "cesce-invoices")
    assert config["queued.max.messages.kbytes"] == CONSUMER_PREFETCH["queued.max.messages.kbytes"] == 4096
    assert config["queued.min.messages"] == CONSUMER_PREFETCH["queued.min.messages"] == 1000
    assert config["fetch.queue.backoff.ms"] == CONSUMER_PREFETCH["fetch.queue.backoff.ms"] == 20
    # still far more than the records being handled at once
    assert config["queued.min.messages"] >= 10 * _settings(_ENV).max_in_flight


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("KAFKA_QUEUED_MAX_MESSAGES_KBYTES", "queued.max.messages.kbytes"),
        ("KAFKA_QUEUED_MIN_MESSAGES", "queued.min.messages"),
        ("KAFKA_FETCH_QUEUE_BACKOFF_MS", "fetch.queue.backoff.ms"),
    ],
)
def test_a_kafka_variable_overrides_the_prefetch_bound(variable: str, key: str) -> None:
    env = {**_ENV, variable: "65536"}
    assert consumer_config(_settings(env), env, "cesce-invoices")[key] == "65536"


def test_on_the_mock_cluster_a_fetch_waits_briefly_and_elsewhere_as_librdkafka_would() -> None:
    # librdkafka's mock holds a fetch that found nothing for the whole wait, even when records arrive meanwhile
    on_mock = consumer_config(_settings(_ENV), _ENV, "cesce-invoices", mock_cluster=True)
    assert on_mock["fetch.wait.max.ms"] == MOCK_CLUSTER_FETCH_WAIT["fetch.wait.max.ms"] == 20
    assert "fetch.wait.max.ms" not in consumer_config(_settings(_ENV), _ENV, "cesce-invoices")
    env = {**_ENV, "KAFKA_FETCH_WAIT_MAX_MS": "250"}
    assert consumer_config(_settings(env), env, "cesce-invoices", mock_cluster=True)["fetch.wait.max.ms"] == "250"


def test_the_producers_do_not_carry_the_consumer_bounds() -> None:
    config = producer_config(_settings(_ENV), _ENV, "cesce-invoices")
    assert not set(CONSUMER_PREFETCH) & set(config)


class _FakeConsumer:
    """Always has another record: as a backlog does."""

    made: ClassVar[list[_FakeConsumer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.consumed = 0
        self.made.append(self)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.consumed += 1
        return [_Message()]

    def close(self) -> None:
        pass


class _Message:
    def error(self) -> None:
        return None


async def _noop(partitions: list[Any]) -> None:
    pass


async def test_the_thread_hands_the_loop_a_bounded_number_of_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_thread, "Consumer", _FakeConsumer)
    _FakeConsumer.made.clear()
    loop = asyncio.get_running_loop()
    batches: list[Any] = []
    thread = ConsumerThread(
        {},
        ["erp.invoices"],
        loop=loop,
        on_records=batches.append,
        on_assign=_noop,
        on_revoke=_noop,
        on_lost=_noop,
        on_statistics=lambda document: None,
        batch_size=64,
        callback_timeout=5,
    )
    thread.start()
    try:
        # the loop is blocked: nothing it was handed is taken, so the thread stops consuming
        time.sleep(0.5)  # noqa: ASYNC251 - blocking the loop is the point
        (fake,) = _FakeConsumer.made
        assert fake.consumed == HANDOFF_BATCHES
        # once the loop runs, it takes them and the thread consumes again
        await asyncio.sleep(0.3)
        assert len(batches) > HANDOFF_BATCHES
        assert fake.consumed - len(batches) <= HANDOFF_BATCHES
    finally:
        thread.stop()
        await asyncio.wait_for(thread.finished.wait(), 5)


def test_librdkafka_accepts_the_bounds() -> None:
    config = consumer_config(_settings(_ENV), _ENV, "cesce-invoices")
    Consumer({k: v for k, v in config.items() if k != "logger"}).close()  # a refused property raises here
