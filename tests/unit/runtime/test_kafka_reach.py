"""Issue 20, "Commands that fail in one clear line": "A broker that cannot be reached gives one line naming the
address [...]. librdkafka's logs go through Python logging, deduplicated." The pieces, without sockets: the
repeat filter, the classification of librdkafka's errors, the reason picked, and a worker's wait for Kafka."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from workers.observability.health import Health
from workers.ops.consume import consumer_settings
from workers.ops.produce import producer_settings
from workers.runtime.kafka_logs import LIBRDKAFKA_LOG, Demoted, RepeatFilter, repeat_key, with_logger
from workers.runtime.kafka_reach import (
    KafkaUnreachable,
    Probe,
    is_unreachable,
    reason_of,
    unreachable_cause,
    wait_for_kafka,
)
from workers.runtime.run import client_config
from workers.runtime.settings import DEFAULT_REACH_SECONDS, REACH_VARIABLE, ReachSettings, RuntimeSettings
from workers.settings import from_env

REFUSED = (
    "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
    "(after {ms}ms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def librdkafka_record(message: str, *, facility: str = "FAIL", client: str = "rdkafka#consumer-1") -> logging.LogRecord:
    """A record as confluent-kafka logs it: logger.log(level, "%s [%s] %s", facility, client name, message)."""
    return logging.LogRecord("librdkafka", logging.ERROR, __file__, 1, "%s [%s] %s", (facility, client, message), None)


# --- the repeat filter ----------------------------------------------------------------------------


def test_a_repeated_line_is_shown_once_a_window_and_the_next_one_says_how_many_were_dropped() -> None:
    """About 200 "Connect ... failed: Connection refused" lines in 10 s become one, and one a minute after."""
    clock = Clock()
    repeats = RepeatFilter(window=60, clock=clock)
    assert repeats.filter(librdkafka_record(REFUSED.format(ms=0)))
    for step in range(199):
        clock.now = 0.05 * (step + 1)
        assert not repeats.filter(librdkafka_record(REFUSED.format(ms=step % 3)))  # durations vary: same line
    clock.now = 61.0
    shown = librdkafka_record(REFUSED.format(ms=0))
    assert repeats.filter(shown)
    assert shown.getMessage().endswith("(and 199 more like it in the last 61 s)")
    assert shown.getMessage().startswith("FAIL [rdkafka#consumer-1] [thrd:127.0.0.1:1/bootstrap]")
    clock.now = 62.0
    assert not repeats.filter(librdkafka_record(REFUSED.format(ms=0)))  # a new window began at 61 s


def test_other_lines_and_other_facilities_are_not_held_back_by_a_repeat() -> None:
    clock = Clock()
    repeats = RepeatFilter(window=60, clock=clock)
    assert repeats.filter(librdkafka_record(REFUSED.format(ms=0)))
    assert repeats.filter(librdkafka_record("1/1 brokers are down", facility="ERROR"))
    assert repeats.filter(librdkafka_record(REFUSED.format(ms=0).replace(":1", ":2")))  # another broker
    # the same line from another client of the process is the same line
    assert not repeats.filter(librdkafka_record(REFUSED.format(ms=0), client="rdkafka#producer-2"))
    shown = librdkafka_record(REFUSED.format(ms=0))
    clock.now = 60.0
    assert repeats.filter(shown)
    assert shown.getMessage().endswith("(and 1 more like it in the last 60 s)")


def test_a_plain_record_is_keyed_by_its_logger_and_message() -> None:
    record = logging.LogRecord("librdkafka", logging.WARNING, __file__, 1, "took %dms", (12,), None)
    assert repeat_key(record) == ("librdkafka", logging.WARNING, "librdkafka", "took Nms")
    repeats = RepeatFilter(window=60, clock=Clock())
    assert repeats.filter(record)
    assert not repeats.filter(logging.LogRecord("librdkafka", logging.WARNING, __file__, 1, "took %dms", (7,), None))


def test_every_kafka_client_of_the_product_logs_through_the_filtered_logger() -> None:
    """The operator commands' consumers and producers and the workers' clients: ``logger`` is LIBRDKAFKA_LOG."""
    assert any(isinstance(f, RepeatFilter) for f in LIBRDKAFKA_LOG.filters)
    settings = {"bootstrap.servers": "b:9092"}
    assert consumer_settings(settings, group=None, from_beginning=True)["logger"] is LIBRDKAFKA_LOG
    assert producer_settings(settings)["logger"] is LIBRDKAFKA_LOG
    runtime = from_env(RuntimeSettings, {"KAFKA_BOOTSTRAP_SERVERS": "b:9092"})
    assert client_config(runtime, {}, consumer=True)["logger"] is LIBRDKAFKA_LOG
    assert with_logger({"a": 1}) == {"a": 1, "logger": LIBRDKAFKA_LOG}


def test_the_probes_own_lines_stay_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    target = logging.getLogger("test.kafka_reach.demoted")
    with caplog.at_level(logging.DEBUG, logger=target.name):
        Demoted(target).log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "refused")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "FAIL [rdkafka#producer-1] refused")
    ]


# --- which errors mean "cannot reach", and why -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "unreachable"),
    [
        (KafkaError._ALL_BROKERS_DOWN, True),
        (KafkaError._TRANSPORT, True),
        (KafkaError._RESOLVE, True),
        (KafkaError._TIMED_OUT, True),
        (KafkaError._SSL, True),
        (KafkaError._AUTHENTICATION, True),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, False),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
        (KafkaError._FENCED, False),
        (KafkaError._PARTITION_EOF, False),
    ],
)
def test_the_classification_of_librdkafkas_errors(code: int, unreachable: bool) -> None:
    assert is_unreachable(KafkaError(code)) is unreachable


def test_the_reason_is_the_last_telling_error_without_librdkafkas_prefix_and_suffix() -> None:
    errors = [
        KafkaError(KafkaError._TRANSPORT, REFUSED.format(ms=0).split("]: ", 1)[1]),
        KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
        KafkaError(
            KafkaError._RESOLVE,
            "kafka:9092/bootstrap: Failed to resolve 'kafka:9092': Name or service not known (after 3ms in state "
            "CONNECT, 4 identical error(s) suppressed)",
        ),
        KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
    ]
    assert reason_of(errors, "fallback") == "Failed to resolve 'kafka:9092': Name or service not known"
    assert reason_of(errors[:2], "fallback") == "Connect to ipv4#127.0.0.1:1 failed: Connection refused"
    assert reason_of([errors[1]], "fallback") == "1/1 brokers are down"
    assert reason_of([KafkaError(KafkaError._PARTITION_EOF, "eof")], "no answer within 10 s") == (
        "no answer within 10 s"
    )


def test_an_unreachable_cluster_is_found_along_the_causes_of_an_error() -> None:
    down = KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure"))
    wrapped = RuntimeError("while starting")
    wrapped.__cause__ = down
    found = unreachable_cause(wrapped, "k:9092")
    assert found is not None
    assert str(found) == "cannot reach Kafka at k:9092 (Failed to get metadata: Local: Broker transport failure)"
    assert unreachable_cause(KafkaException(KafkaError(KafkaError._FENCED, "fenced")), "k:9092") is None
    assert unreachable_cause(ValueError("x"), "k:9092") is None
    already = KafkaUnreachable("a:1", "refused")
    assert unreachable_cause(already, "k:9092") is already


def test_the_reach_bound_is_one_setting_for_workers_and_commands() -> None:
    field = RuntimeSettings.model_fields["kafka_reach_seconds"]
    assert (field.alias, field.default) == (REACH_VARIABLE, DEFAULT_REACH_SECONDS)
    assert issubclass(RuntimeSettings, ReachSettings)  # one field, read by the workers and the commands
    assert ReachSettings.model_fields["kafka_reach_seconds"].alias == REACH_VARIABLE
    assert from_env(ReachSettings, {REACH_VARIABLE: "2.5"}).kafka_reach_seconds == 2.5
    assert from_env(ReachSettings, {}).kafka_reach_seconds == DEFAULT_REACH_SECONDS


# --- a worker waits for Kafka, not ready meanwhile --------------------------------------------------


class FakeProbe(Probe):
    """Answers from a script: a reason string fails the attempt, None succeeds; the clock moves by `step` each."""

    def __init__(self, script: list[str | None], clock: Clock, step: float) -> None:
        self.address = "k:9092"
        self._script = script
        self._clock = clock
        self._step = step
        self.closed = False
        self.asked: list[float] = []

    def ask(self, timeout: float) -> str | None:
        self.asked.append(timeout)
        self._clock.now += self._step
        reason = self._script.pop(0)
        if reason is not None:
            raise KafkaUnreachable(self.address, reason)
        return "cluster"

    def close(self) -> None:
        self.closed = True


async def test_a_worker_says_once_it_cannot_reach_kafka_is_not_ready_and_starts_once_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    probe = FakeProbe(["refused", "refused", "refused", "refused", "reset", None], clock, step=4.0)
    health = Health()
    readiness: list[dict[str, str]] = []

    def factory(config: Mapping[str, Any]) -> Probe:
        assert config["bootstrap.servers"] == "k:9092"
        return probe

    real_ask = probe.ask

    def ask_and_look(timeout: float) -> str | None:
        readiness.append(asyncio.run_coroutine_threadsafe(health.ready(), loop).result(5))
        return real_ask(timeout)

    probe.ask = ask_and_look  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.INFO, logger="workers.runtime.kafka_reach"):
        await wait_for_kafka(
            "invoices",
            {"bootstrap.servers": "k:9092"},
            stop=asyncio.Event(),
            health=health,
            bound=10,
            probe_factory=factory,
            clock=clock,
        )
    assert readiness[0] == {"kafka": "connecting to Kafka at k:9092"}
    assert readiness[1] == {"kafka": "cannot reach Kafka at k:9092 (refused)"}
    assert await health.ready() == {}  # the check is gone: the engines' own take over
    assert probe.closed
    assert probe.asked == [1.0] * 6  # short asks: a stop is seen within a second
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        # not before the bound (10 s): the first two failures at 4 and 8 s say nothing
        ("ERROR", "invoices: cannot reach Kafka at k:9092 (refused); not ready, trying again"),
        ("ERROR", "invoices: cannot reach Kafka at k:9092 (reset); not ready, trying again"),  # a new reason
        ("INFO", "invoices: reached Kafka at k:9092 after 24 s"),
    ]


async def test_a_worker_that_answers_at_once_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    probe = FakeProbe([None], Clock(), step=0.05)
    with caplog.at_level(logging.DEBUG, logger="workers.runtime.kafka_reach"):
        await wait_for_kafka(
            "invoices",
            {"bootstrap.servers": "k:9092"},
            stop=asyncio.Event(),
            health=Health(),
            bound=10,
            probe_factory=lambda _config: probe,
        )
    assert caplog.records == []


async def test_a_stop_while_waiting_ends_the_wait_with_the_reason() -> None:
    stop = asyncio.Event()
    stop.set()
    health = Health()
    probe = FakeProbe(["refused"], Clock(), step=1.0)
    with pytest.raises(KafkaUnreachable, match=r"^cannot reach Kafka at k:9092 \(refused\)$"):
        await wait_for_kafka(
            "invoices",
            {"bootstrap.servers": "k:9092"},
            stop=stop,
            health=health,
            bound=10,
            probe_factory=lambda _config: probe,
        )
    assert probe.closed
    assert await health.ready() == {}
