"""Worker processes killed, stopped and rebalanced: in the end every input has exactly one output.

The workers are `tests.integration.runtime.echo_worker` subprocesses talking to the broker over TCP; a
monitor thread in the test watches the output topic to kill or stop them mid-run (after a random
number of outputs, plus a random delay), and a read_committed reader checks the end state.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.integration.runtime.support import keyed_json, produce, read, sources
from tests.kafka_backends import KafkaBackend, consumer_config, unique_topic
from workers.runtime.reconcile import source_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class OutputWatch:
    """Counts the records of a topic as they appear (all of them, duplicates included)."""

    def __init__(self, kafka: KafkaBackend, topic: str) -> None:
        self._consumer = Consumer(consumer_config(kafka, {"group.id": unique_topic("watch")}))
        self._topic = topic
        self.count = 0
        self.sources: set[tuple[str, int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assigned = False
        while not self._stop.is_set():
            if not assigned:
                metadata = self._consumer.list_topics(timeout=5)
                if self._topic in metadata.topics:
                    partitions = metadata.topics[self._topic].partitions
                    self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
                    assigned = True
                else:
                    time.sleep(0.1)
                    continue
            for message in self._consumer.consume(500, 0.1):
                if message.error() is None:
                    self.count += 1
                    source = source_of(message)
                    if source is not None:
                        self.sources.add(source)
        self._consumer.close()

    def wait(self, predicate: object, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not reached in {timeout}s (outputs seen: {self.count})")
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the worker exited early with {process.returncode}")
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Workers:
    """Starts echo workers; every one still running at the end is killed."""

    def __init__(self, kafka: KafkaBackend, registry: str, *, source: str, sink: str, group: str, tmp: str) -> None:
        self._env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SCHEMA_REGISTRY_URL": registry,
            **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in kafka.client_config.items()},
            "WORKER_GROUP_ID": group,
            "WORKER_COMMIT_INTERVAL_MS": "100",
            "WORKER_DRAIN_SECONDS": "5",
            "WORKER_HTTP_PORT": "0",
            "ECHO_INPUT": source,
            "ECHO_OUTPUT": sink,
        }
        self._tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, instance: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(os.path.join(self._tmp, f"{instance}-{len(self.started)}.log"), "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.runtime.echo_worker"],
            env={**self._env, "WORKER_INSTANCE_ID": instance, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def topics() -> tuple[str, str, str]:
    return unique_topic("in"), unique_topic("out"), unique_topic("group")


@pytest.fixture
def workers(
    kafka: KafkaBackend, schema_registry: str, topics: tuple[str, str, str], tmp_path: object
) -> Iterator[Workers]:
    source, sink, group = topics
    running = Workers(kafka, schema_registry, source=source, sink=sink, group=group, tmp=str(tmp_path))
    yield running
    running.close()


def assert_exactly_once(kafka: KafkaBackend, sink: str, total: int) -> None:
    outputs = read(kafka, [sink], expect=total, timeout=60)
    named = sources(outputs)
    assert len(set(named)) == total, "an input without output"
    assert len(named) == total, f"{len(named) - len(set(named))} input(s) published twice"
    per_key: dict[bytes | None, list[int]] = defaultdict(list)
    for message in sorted(outputs, key=lambda m: (m.partition(), m.offset())):
        per_key[message.key()].append(json.loads(message.value())["n"])
    assert all(numbers == sorted(numbers) for numbers in per_key.values()), "a key's outputs out of order"


@pytest.mark.timeout(300)
def test_sigkill_at_random_points_then_restart_publishes_each_input_once(
    kafka: KafkaBackend, topics: tuple[str, str, str], workers: Workers
) -> None:
    source, sink, _ = topics
    total = produce(kafka, source, keyed_json(keys=60, per_key=50))
    watch = OutputWatch(kafka, sink)
    rng = random.Random(20261120)
    try:
        for _ in range(4):
            # ~800 records/s: each run is killed a few hundred records after it starts publishing
            process = workers.start("w1", ECHO_DELAY_MS="20", WORKER_MAX_IN_FLIGHT="16")
            target = min(watch.count + rng.randint(150, 450), total)
            watch.wait(lambda t=target: watch.count >= t, timeout=90, process=process)
            time.sleep(rng.uniform(0, 0.3))  # land anywhere: mid-handling, mid-transaction, mid-commit
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        assert len(watch.sources) < total, "every kill should land mid-run"
        final = workers.start("w1", ECHO_DELAY_MS="3", WORKER_MAX_IN_FLIGHT="32")
        watch.wait(lambda: len(watch.sources) >= total, timeout=120, process=final)
        final.send_signal(signal.SIGTERM)
        assert final.wait(30) == 0
    finally:
        watch.close()
    assert_exactly_once(kafka, sink, total)


@pytest.mark.timeout(240)
def test_a_member_leaving_mid_run_loses_and_doubles_nothing(
    kafka: KafkaBackend, topics: tuple[str, str, str], workers: Workers
) -> None:
    source, sink, _ = topics
    total = produce(kafka, source, keyed_json(keys=40, per_key=50))
    watch = OutputWatch(kafka, sink)
    try:
        first = workers.start("a", ECHO_DELAY_MS="5")
        second = workers.start("b", ECHO_DELAY_MS="5")
        watch.wait(lambda: watch.count >= total // 3, timeout=90, process=first)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        watch.wait(lambda: len(watch.sources) >= total, timeout=120, process=first)
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        watch.close()
    assert_exactly_once(kafka, sink, total)


@pytest.mark.timeout(180)
def test_sigterm_drains_in_flight_records_and_commits_within_the_deadline(
    kafka: KafkaBackend, topics: tuple[str, str, str], workers: Workers
) -> None:
    source, sink, _ = topics
    total = produce(kafka, source, keyed_json(keys=20, per_key=5))
    watch = OutputWatch(kafka, sink)
    try:
        slow = workers.start("s", ECHO_DELAY_MS="400", WORKER_MAX_IN_FLIGHT="8")
        watch.wait(lambda: watch.count >= 8, timeout=60, process=slow)
        asked = time.monotonic()
        slow.send_signal(signal.SIGTERM)
        assert slow.wait(30) == 0
        assert time.monotonic() - asked < 5 + 3  # WORKER_DRAIN_SECONDS plus the final commit
        handled_before = len(watch.sources)
        assert 8 <= handled_before < total
        rest = workers.start("s", ECHO_DELAY_MS="0")
        watch.wait(lambda: len(watch.sources) >= total, timeout=90, process=rest)
        rest.send_signal(signal.SIGTERM)
        assert rest.wait(30) == 0
    finally:
        watch.close()
    assert_exactly_once(kafka, sink, total)
