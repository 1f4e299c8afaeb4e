"""The embedded Kafka, the `broker` command and the test backends, over real sockets and processes.

Two tests pin the mock's documented limits (TxnOffsetCommit not applied, aborted data visible to
read_committed): they assert the mock's behaviour on the mock and Kafka's on a real cluster, so a
librdkafka that fixes either makes them fail, and `workers.runtime.embedded`'s docstring (and the
tests that work around the limit) must then be updated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.kafka_backends import (
    BACKEND_ENV,
    KafkaBackend,
    consumer_config,
    docker_unreachable_reason,
    producer_config,
    unique_topic,
)
from workers.ops.topics import product_topics
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, MOCK_PARTITIONS, EmbeddedKafka, is_mock_cluster, run_broker

REPO = Path(__file__).resolve().parents[3]
BROKER_COMMAND = [sys.executable, "-m", "workers.cli", "broker"]  # `cesce-worker broker`

CHILD_PRODUCER = """
import sys
from confluent_kafka import Producer
bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
failures = []
producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
for i in range(count):
    producer.produce(topic, key=f"k{i}", value=f"child-{i}", headers=[("origin", b"child")],
                     on_delivery=lambda err, msg: err and failures.append(str(err)))
left = producer.flush(15)
sys.exit(f"undelivered: {left}, failed: {failures}" if left or failures else 0)
"""

CHILD_CONSUMER = """
import json, sys, time
from confluent_kafka import Consumer
bootstrap, topic, group, count, extra = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, **extra})
consumer.subscribe([topic])
seen, deadline = 0, time.monotonic() + 30
while seen < count and time.monotonic() < deadline:
    message = consumer.poll(0.2)
    if message is None or message.error():
        continue
    seen += 1
    print(json.dumps({"key": message.key().decode(), "value": message.value().decode(),
                      "headers": {k: v.decode() for k, v in message.headers() or []}}), flush=True)
consumer.commit(asynchronous=False)
consumer.close()
sys.exit(0 if seen == count else f"saw {seen} of {count}")
"""


def _ports(bootstrap_servers: str) -> list[tuple[str, int]]:
    hosts = [entry.rsplit(":", 1) for entry in bootstrap_servers.split(",")]
    return [(host, int(port)) for host, port in hosts]


def _accepts(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return False
    return True


def _poll_messages(consumer: Consumer, count: int, timeout: float = 15.0) -> list[Message]:
    """Up to `count` messages (fewer if `timeout` passes); errors fail the test."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        assert message.error() is None, message.error()
        messages.append(message)
    return messages


def _produce(config: dict[str, str], topic: str, values: list[bytes], partition: int = 0) -> None:
    producer = Producer(config)
    for value in values:
        producer.produce(topic, value=value, partition=partition)
    assert producer.flush(10) == 0
    producer.close()


# --- EmbeddedKafka -----------------------------------------------------------------------------


@pytest.mark.integration
def test_embedded_kafka_serves_on_loopback_and_closes_every_port_on_stop() -> None:
    embedded = EmbeddedKafka(brokers=3).start()
    try:
        addresses = _ports(embedded.bootstrap_servers)
        assert len(addresses) == 3
        assert {host for host, _ in addresses} == {"127.0.0.1"}
        assert all(_accepts(address) for address in addresses)
        assert is_mock_cluster(embedded.bootstrap_servers)
        topic = unique_topic("embedded")
        _produce({"bootstrap.servers": embedded.bootstrap_servers}, topic, [b"one", b"two"], partition=2)
        reader = Consumer({"bootstrap.servers": embedded.bootstrap_servers, "group.id": unique_topic("g")})
        reader.assign([TopicPartition(topic, 2, OFFSET_BEGINNING)])
        assert [m.value() for m in _poll_messages(reader, 2)] == [b"one", b"two"]
        assert len(reader.list_topics(topic, timeout=10).topics[topic].partitions) == MOCK_PARTITIONS
        reader.close()
    finally:
        embedded.stop()
    assert not embedded.running
    assert not any(_accepts(address) for address in addresses)
    with pytest.raises(RuntimeError, match="not running"):
        _ = embedded.bootstrap_servers
    embedded.stop()  # idempotent


@pytest.mark.integration
def test_two_embedded_clusters_in_one_process_are_independent() -> None:
    topic = unique_topic("only-in-a")
    with EmbeddedKafka() as first, EmbeddedKafka() as second:
        assert set(_ports(first.bootstrap_servers)).isdisjoint(_ports(second.bootstrap_servers))
        _produce({"bootstrap.servers": first.bootstrap_servers}, topic, [b"a"])
        probe = Consumer({"bootstrap.servers": second.bootstrap_servers, "group.id": unique_topic("g")})
        # Asking for one topic's metadata would auto-create it: list all of the second's topics.
        assert topic not in probe.list_topics(timeout=10).topics
        probe.close()
        first_addresses = _ports(first.bootstrap_servers)
        first.stop()
        assert not any(_accepts(address) for address in first_addresses)
        assert is_mock_cluster(second.bootstrap_servers)  # the second outlives the first
        _produce({"bootstrap.servers": second.bootstrap_servers}, topic, [b"b"])


def test_embedded_kafka_refuses_what_the_mock_cannot_do() -> None:
    with pytest.raises(ValueError, match="at least one broker"):
        EmbeddedKafka(brokers=0)
    with pytest.raises(ValueError, match="4 partitions"):
        EmbeddedKafka(partitions=8)
    assert EmbeddedKafka(partitions=4).partitions == MOCK_PARTITIONS


@pytest.mark.integration
def test_run_broker_serves_until_stop_is_set_and_restores_the_signal_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    addresses: list[str] = []

    def ready(bootstrap_servers: str) -> None:
        addresses.append(bootstrap_servers)
        assert is_mock_cluster(bootstrap_servers)
        stop.set()

    started = time.monotonic()
    run_broker(2, on_ready=ready, stop=stop)
    assert time.monotonic() - started < 5
    assert len(_ports(addresses[0])) == 2
    assert not any(_accepts(address) for address in _ports(addresses[0]))
    assert signal.getsignal(signal.SIGTERM) is before


def test_run_broker_off_the_main_thread_needs_a_stop_event() -> None:
    failures: list[BaseException] = []

    def attempt() -> None:
        try:
            run_broker(1, on_ready=lambda _: None)
        except ValueError as exc:
            failures.append(exc)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(10)
    assert len(failures) == 1
    assert "pass `stop`" in str(failures[0])


# --- another process ---------------------------------------------------------------------------


@pytest.mark.integration
def test_other_processes_produce_and_consume_through_the_embedded_broker() -> None:
    topic, group = unique_topic("cross-process"), unique_topic("child-group")
    with EmbeddedKafka() as embedded:
        produced = subprocess.run(
            [sys.executable, "-c", CHILD_PRODUCER, embedded.bootstrap_servers, topic, "5"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert produced.returncode == 0, produced.stderr
        extra = json.dumps(dict(MOCK_CLIENT_CONFIG))
        consumed = subprocess.run(
            [sys.executable, "-c", CHILD_CONSUMER, embedded.bootstrap_servers, topic, group, "5", extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert consumed.returncode == 0, consumed.stderr
        records = [json.loads(line) for line in consumed.stdout.splitlines()]
        assert sorted((record["key"], record["value"]) for record in records) == [
            (f"k{i}", f"child-{i}") for i in range(5)
        ]
        assert all(record["headers"] == {"origin": "child"} for record in records)
        # The child's group offsets live in the broker: this process reads them back.
        reader = Consumer({"bootstrap.servers": embedded.bootstrap_servers, "group.id": group})
        partitions = [TopicPartition(topic, p) for p in range(MOCK_PARTITIONS)]
        committed = reader.committed(partitions, timeout=10)
        reader.close()
        ends = []
        probe = Consumer({"bootstrap.servers": embedded.bootstrap_servers, "group.id": unique_topic("g")})
        for tp in partitions:
            ends.append(probe.get_watermark_offsets(tp, timeout=10)[1])
        probe.close()
        assert sum(ends) == 5
        assert [max(tp.offset, 0) for tp in committed] == ends


# --- the broker command ------------------------------------------------------------------------


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    bootstrap_file = tmp_path / "kafka" / "bootstrap.txt"
    bootstrap_file.parent.mkdir()
    registry_file = bootstrap_file.parent / "registry.txt"
    process = subprocess.Popen(
        [
            *BROKER_COMMAND,
            "--brokers",
            "2",
            "--bootstrap-file",
            str(bootstrap_file),
            "--registry-file",
            str(registry_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    yield process, bootstrap_file
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    process.stderr.close()


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_broker_command_prints_its_address_first_writes_the_file_and_exits_zero_on_a_signal(
    broker_process: tuple[subprocess.Popen[str], Path], stop_signal: signal.Signals
) -> None:
    process, bootstrap_file = broker_process
    assert process.stdout is not None
    assert process.stderr is not None
    first_line = process.stdout.readline().strip()
    addresses = _ports(first_line)
    assert len(addresses) == 2
    assert {host for host, _ in addresses} == {"127.0.0.1"}
    # Written before the line was printed, whole, and readable by other users.
    assert bootstrap_file.read_text(encoding="utf-8") == first_line + "\n"
    assert bootstrap_file.stat().st_mode & 0o044 == 0o044
    registry_url = process.stdout.readline().strip()  # the Schema Registry, on the second line
    registry_file = bootstrap_file.parent / "registry.txt"
    assert registry_file.read_text(encoding="utf-8") == registry_url + "\n"
    assert sorted(p.name for p in bootstrap_file.parent.iterdir()) == ["bootstrap.txt", "registry.txt"]  # no temporary
    assert is_mock_cluster(first_line)
    topic = unique_topic("from-outside")
    _produce({"bootstrap.servers": first_line}, topic, [b"hello"])

    process.send_signal(stop_signal)
    assert process.wait(timeout=10) == 0
    assert process.stdout.read() == ""  # the two addresses are the only things on stdout
    said = process.stderr.read()
    assert f"listening on {first_line}" in said
    assert f"Schema Registry (Avro, in memory) on {registry_url}" in said
    assert "each partition keeps about 5 MiB or 100,000 batches and silently drops its oldest records" in said
    assert not bootstrap_file.exists()  # nobody is pointed at a broker that is gone
    assert not registry_file.exists()
    assert not any(_accepts(address) for address in addresses)
    assert not _accepts(_ports(registry_url.removeprefix("http://"))[0])


@pytest.mark.integration
def test_broker_command_creates_every_topic_of_the_workers_before_it_prints_its_address(
    broker_process: tuple[subprocess.Popen[str], Path],
) -> None:
    """A worker started after the broker subscribes to topics that exist, as in production (the chart's
    KafkaTopics): none is born while its group forms, which made librdkafka join again and again
    (workers.ops.topics). Its group is assigned every partition though nothing was produced."""
    process, _ = broker_process
    assert process.stdout is not None
    bootstrap = process.stdout.readline().strip()
    expected = product_topics({})
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.list_topics(timeout=10).topics
    assert {topic: len(described[topic].partitions) for topic in expected if topic in described} == dict.fromkeys(
        expected, MOCK_PARTITIONS
    )
    assigned: list[tuple[str, int]] = []
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique_topic("group"), **MOCK_CLIENT_CONFIG, "error_cb": print}
    )
    consumer.subscribe(["erp.invoices"], on_assign=lambda _, got: assigned.extend((p.topic, p.partition) for p in got))
    deadline = time.monotonic() + 30
    while not assigned and time.monotonic() < deadline:
        consumer.poll(0.2)
    consumer.close()
    assert sorted(assigned) == [("erp.invoices", p) for p in range(MOCK_PARTITIONS)]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert f"Created the {len(expected)} topics the workers read and write (" in process.stderr.read()


def test_broker_command_refuses_a_topic_setting_it_cannot_use() -> None:
    env = {**os.environ, "WORKER_DLQ_SUFFIX": "not a topic"}
    done = subprocess.run(BROKER_COMMAND, capture_output=True, text=True, timeout=60, check=False, env=env, cwd=REPO)
    assert done.returncode == 1
    assert "cesce-worker broker: a topic setting is wrong: WORKER_DLQ_SUFFIX" in done.stderr
    assert done.stdout == ""  # no address: nothing listens


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--brokers", "0"], "must be at least 1"),
        (["--brokers", "two"], "must be a whole number"),
        (["--bootstrap-file", "/nonexistent/dir/bootstrap.txt"], "no directory /nonexistent/dir"),
        (["--registry-file", "/nonexistent/dir/registry.txt"], "no directory /nonexistent/dir for --registry-file"),
    ],
)
def test_broker_command_rejects_bad_arguments_clearly(arguments: list[str], message: str) -> None:
    done = subprocess.run([*BROKER_COMMAND, *arguments], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stdout == ""


# --- the mock's limits (see workers.runtime.embedded) --------------------------------------------


@pytest.mark.integration
def test_mock_limit_offsets_sent_in_a_transaction_are_not_stored(kafka: KafkaBackend) -> None:
    source, sink = unique_topic("limit-source"), unique_topic("limit-sink")
    _produce(producer_config(kafka), source, [b"in-%d" % i for i in range(6)])
    group_member = Consumer(consumer_config(kafka, {"group.id": unique_topic("limit-group")}))
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("limit-txn")}))
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce(sink, value=b"result", partition=0)
    producer.send_offsets_to_transaction([TopicPartition(source, 0, 5)], group_member.consumer_group_metadata(), 15)
    producer.commit_transaction(15)
    producer.close()

    # The transaction itself committed: its result is readable read_committed ...
    reader = Consumer(consumer_config(kafka, {"group.id": unique_topic("reader"), "isolation.level": "read_committed"}))
    reader.assign([TopicPartition(sink, 0, OFFSET_BEGINNING)])
    assert [m.value() for m in _poll_messages(reader, 1)] == [b"result"]
    reader.close()
    # ... but on the mock the offsets sent with it never reach the group.
    [committed] = group_member.committed([TopicPartition(source, 0)], timeout=15)
    group_member.close()
    if kafka.is_mock:
        assert committed.offset == OFFSET_INVALID, (
            "librdkafka's mock now stores TxnOffsetCommit: update workers/runtime/embedded.py and the tests around it"
        )
    else:
        assert committed.offset == 5


@pytest.mark.integration
def test_mock_limit_read_committed_consumers_receive_aborted_records(kafka: KafkaBackend) -> None:
    topic = unique_topic("limit-aborted")
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("limit-txn")}))
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted", partition=0)
    assert producer.flush(15) == 0  # the records are in the log before the abort
    producer.abort_transaction(15)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed", partition=0)
    producer.commit_transaction(15)
    producer.close()

    reader = Consumer(consumer_config(kafka, {"group.id": unique_topic("reader"), "isolation.level": "read_committed"}))
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = [m.value() for m in _poll_messages(reader, 2, timeout=5 if kafka.is_mock else 10)]
    reader.close()
    if kafka.is_mock:
        assert values == [b"aborted", b"committed"], (
            "librdkafka's mock now hides aborted transactions: "
            "update workers/runtime/embedded.py and the tests around it"
        )
    else:
        assert values == [b"committed"]


# --- the test backends -------------------------------------------------------------------------


@pytest.mark.integration
def test_kafka_fixture_gives_a_working_cluster(kafka: KafkaBackend) -> None:
    assert is_mock_cluster(kafka.bootstrap_servers, producer_config(kafka)) is kafka.is_mock
    assert kafka.client_config["session.timeout.ms"] == "6000"
    topic = unique_topic("fixture")
    producer = Producer(producer_config(kafka))
    producer.produce(topic, key=b"debtor-1", value=b"payload", partition=1, headers=[("h", b"1")])
    assert producer.flush(15) == 0
    producer.close()
    reader = Consumer(consumer_config(kafka, {"group.id": unique_topic("fixture-group")}))
    reader.assign([TopicPartition(topic, 1, OFFSET_BEGINNING)])
    [message] = _poll_messages(reader, 1)
    assert (message.key(), message.value(), message.headers()) == (b"debtor-1", b"payload", [("h", b"1")])
    reader.close()


def test_unique_topic_names_are_unique_and_valid() -> None:
    names = {unique_topic("orders.v1") for _ in range(100)}
    assert len(names) == 100
    assert all(name.startswith("orders.v1-") for name in names)
    with pytest.raises(ValueError, match="letters, digits"):
        unique_topic("bad topic")


def test_unknown_backend_fails_with_the_choices(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv(BACKEND_ENV, "kraft")
    with pytest.raises(pytest.fail.Exception, match="choose one of embedded, testcontainers, external"):
        request.getfixturevalue("kafka")


def test_external_backend_skips_without_an_address(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv(BACKEND_ENV, "external")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="KAFKA_BOOTSTRAP_SERVERS is not set"):
        request.getfixturevalue("kafka")


@pytest.mark.integration
def test_external_backend_recognises_a_broker_process_as_the_mock(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    with EmbeddedKafka() as embedded:
        monkeypatch.setenv(BACKEND_ENV, "external")
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", embedded.bootstrap_servers)
        monkeypatch.setenv("KAFKA_CLIENT_ID", "backend-test")  # other KAFKA_* become librdkafka settings
        backend: KafkaBackend = request.getfixturevalue("kafka")
        assert backend.bootstrap_servers == embedded.bootstrap_servers
        assert backend.is_mock
        assert backend.client_config == {**MOCK_CLIENT_CONFIG, "client.id": "backend-test"}


def test_docker_check_names_why_no_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    started = time.monotonic()
    reason = docker_unreachable_reason()
    assert time.monotonic() - started < 5
    assert reason is not None
    assert reason.startswith("unix:///nonexistent/docker.sock: DockerException")


def test_testcontainers_backend_skips_here_with_the_reason() -> None:
    if docker_unreachable_reason() is None:
        pytest.skip("a Docker engine answers here: the testcontainers backend runs instead of skipping")
    env = {**os.environ, BACKEND_ENV: "testcontainers"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"{Path(__file__).relative_to(REPO)}::test_kafka_fixture_gives_a_working_cluster",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "testcontainers backend: no Docker engine reachable (" in done.stdout
    assert "DockerException" in done.stdout
