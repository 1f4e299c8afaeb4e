"""`cesce-worker dlq list|show|replay` over the `kafka` backend (the embedded broker by default).

Dead letters are written the way the runtime writes them (in a transaction, with its headers);
the commands run in-process, reading their settings from the environment like in production, and
as real `cesce-worker` processes where two replays race.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from tests.integration.conftest import ORO
from tests.integration.runtime.support import produce, read
from tests.integration.workers.support import decoded, read_async, running, worker_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.demo.sample import sample_changes
from workers.invoices import invoices_spec
from workers.ops import dlq
from workers.ops.dlq_lock import LockEvent, LockRecord, holder_at, lock_key
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.dlq import REPLAY_SOURCE
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec, loads_exact
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
TEST_SCHEMAS = REPO / "tests" / "schemas"
Tool = Callable[..., tuple[int, str, str]]


def run_tool(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cesce-worker")
    dlq.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


@pytest.fixture
def ledger_topic(monkeypatch: pytest.MonkeyPatch) -> str:
    topic = unique_topic("cesce.dlq-replays")
    monkeypatch.setenv("DLQ_REPLAYS_TOPIC", topic)
    return topic


@pytest.fixture
def tools(
    kafka: KafkaBackend, schema_registry: str, ledger_topic: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Tool:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry)
    monkeypatch.delenv("DLQ_MAX_REPLAYS", raising=False)
    for name, value in kafka.client_config.items():
        monkeypatch.setenv("KAFKA_" + name.upper().replace(".", "_"), value)

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = run_tool(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return call


def dlq_headers(
    original: str, offset: int, *, code: str = "1522", category: str = "business"
) -> list[tuple[str, bytes]]:
    return [
        ("erp.origin", b"sap"),
        ("dlq.category", category.encode()),
        ("dlq.error.code", code.encode()),
        ("dlq.error.description", b"No existe periodo de seguro"),
        ("dlq.original.topic", original.encode()),
        ("dlq.original.partition", b"1"),
        ("dlq.original.offset", str(offset).encode()),
        ("dlq.original.timestamp", b"1893456000000"),
        ("dlq.worker", b"invoices"),
        ("dlq.attempts", b"1"),
        ("dlq.first.failure", b"2030-01-10T12:00:00.000+00:00"),
        ("dlq.last.failure", b"2030-01-10T12:00:00.000+00:00"),
        ("dlq.original.traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("traceparent", b"00-11111111111111111111111111111111-2222222222222222-01"),
        ("source.topic", original.encode()),
        ("source.partition", b"1"),
        ("source.offset", str(offset).encode()),
    ]


def dead_letter(
    key: str, value: bytes, original: str, offset: int, *, timestamp: int | None = None, **kind: str
) -> dict[str, Any]:
    return {"key": key, "value": value, "headers": dlq_headers(original, offset, **kind), "timestamp": timestamp}


def write_dead_letters(
    kafka: KafkaBackend, topic: str, letters: list[dict[str, Any]], *, partitions: int = 1
) -> list[tuple[int, int]]:
    """Produce in one transaction, as the runtime does, round-robin over the first `partitions`
    partitions (partition 0 by default); their (partition, offset)."""
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("dlq-writer")}))
    producer.init_transactions(30)
    producer.begin_transaction()
    placed: list[tuple[int, int]] = []

    def delivered(error: Any, message: Message) -> None:
        assert error is None, error
        placed.append((message.partition() or 0, message.offset() or 0))

    for number, letter in enumerate(letters):
        extra = {} if letter["timestamp"] is None else {"timestamp": letter["timestamp"]}
        while True:
            try:
                producer.produce(
                    topic,
                    key=letter["key"],
                    value=letter["value"],
                    headers=letter["headers"],
                    partition=number % partitions,
                    on_delivery=delivered,
                    **extra,
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.commit_transaction(30)
    return sorted(placed)


def avro_row(registry: str, invoice: str) -> bytes:
    dirs = [DEFAULT_SCHEMAS_DIR, TEST_SCHEMAS]
    with schema_registry_client(registry, dirs) as client:
        codec = AvroCodec(client, "cesce.test.Row", catalog=SchemaCatalog.load(dirs))
        return codec.encode({"id": invoice, "amount": "1234.50", "issued": "2030-01-10", "note": None}, "erp.rows")


def lines(out: str) -> list[dict[str, Any]]:
    return [loads_exact(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_list_shows_every_dead_letter_and_each_filter_narrows_it(kafka: KafkaBackend, tools: Tool) -> None:
    topic, original = unique_topic("erp.invoices.dlq"), unique_topic("erp.invoices")
    old = int((time.time() - 3 * 3600) * 1000)
    write_dead_letters(
        kafka,
        topic,
        [
            dead_letter("CLI-0001", b'{"op":"c"}', original, 10),
            dead_letter("CLI-0002", b'{"op":"c"}', original, 11, code="2809"),
            dead_letter("CLI-0001", b'{"op":"u"}', original, 12, category="transient", code="timeout"),
            dead_letter("CLI-0003", b'{"op":"c"}', original, 13, timestamp=old),
        ],
    )
    status, out, err = tools("dlq", "list", "--topic", topic)
    assert status == 0, err
    table = out.splitlines()
    assert table[0].split() == [
        *["partition", "offset", "time", "key", "category", "code", "description", "attempts", "original"],
        *["replayed", "replay.count"],
    ]
    assert len(table) == 5
    assert f"{original}[1]@10" in table[1]
    assert "No existe periodo de seguro" in table[1]

    def keys_and_offsets(*filters: str) -> list[tuple[str, int]]:
        status, out, err = tools("dlq", "list", "--topic", topic, "--json", *filters)
        assert status == 0, err
        return [(d["key"], d["offset"]) for d in lines(out)]

    assert keys_and_offsets("--code", "2809") == [("CLI-0002", 1)]
    assert keys_and_offsets("--category", "transient") == [("CLI-0001", 2)]
    assert keys_and_offsets("--key", "CLI-0001") == [("CLI-0001", 0), ("CLI-0001", 2)]
    assert keys_and_offsets("--since", "2h") == [("CLI-0001", 0), ("CLI-0002", 1), ("CLI-0001", 2)]
    assert keys_and_offsets("--code", "1522", "--since", "1d") == [("CLI-0001", 0), ("CLI-0003", 3)]
    assert keys_and_offsets("--offset", "3", "--partition", "0") == [("CLI-0003", 3)]
    first = lines(tools("dlq", "list", "--topic", topic, "--json")[1])[0]
    assert first["original"] == {"topic": original, "partition": 1, "offset": 10, "timestamp": 1893456000000}
    assert (first["category"], first["code"], first["attempts"], first["worker"]) == ("business", "1522", 1, "invoices")
    assert first["replayed"] is None


def test_an_empty_or_missing_topic_lists_nothing_at_once(tools: Tool) -> None:
    started = time.monotonic()
    status, out, err = tools("dlq", "list", "--topic", unique_topic("nothing.dlq"))
    assert status == 0, err
    assert "no dead letters match" in out
    status, out, _ = tools("dlq", "replay", "--topic", unique_topic("nothing.dlq"))
    assert status == 0
    assert "no dead letters match" in out
    assert time.monotonic() - started < 15


def test_show_decodes_the_avro_value_and_explains_the_headers(
    kafka: KafkaBackend, schema_registry: str, tools: Tool
) -> None:
    topic, original = unique_topic("erp.rows.dlq"), unique_topic("erp.rows")
    write_dead_letters(
        kafka, topic, [dead_letter("CLI-0001", avro_row(schema_registry, f"INV-{n}"), original, n) for n in range(3)]
    )
    status, out, err = tools("dlq", "show", "--topic", topic, "--offset", "1", "--partition", "0")
    assert status == 0, err
    assert out.splitlines()[0] == f"{topic}[0]@1"
    assert "# why it failed, and so who must act" in out
    assert "erp.origin" in out
    assert "a header of the original record (kept on replay)" in out
    assert "who acts: the data or the policy" in out
    assert "value (avro)" in out
    assert '"id":"INV-1"' in out
    assert '"amount":"1234.50"' in out
    assert "replays: never replayed from here" in out

    status, out, err = tools("dlq", "show", "--topic", topic, "--offset", "2", "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["value"] == {"id": "INV-2", "amount": "1234.50", "issued": "2030-01-10", "note": None}
    assert shown["value_format"] == "avro"
    assert {"name": "dlq.error.code", "value": "1522", "meaning": dlq.HEADER_MEANINGS["dlq.error.code"]} in shown[
        "headers"
    ]

    status, out, err = tools("dlq", "show", "--topic", topic, "--offset", "9")
    assert status == 1
    assert f"no record at offset 9 in {topic}" in err


def replayed_to(kafka: KafkaBackend, topic: str, expect: int) -> list[Message]:
    return sorted(read(kafka, [topic], expect=expect, timeout=15), key=lambda m: (m.partition() or 0, m.offset() or 0))


def headers_of(message: Message) -> dict[str, bytes]:
    return {name: value for name, value in message.headers() or []}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_replay_republishes_exactly_records_it_and_refuses_at_the_maximum(
    kafka: KafkaBackend, tools: Tool, ledger_topic: str
) -> None:
    topic, original = unique_topic("erp.invoices.dlq"), unique_topic("erp.invoices")
    values = [b'{"op":"c","n":1}', b"\x00\x00\x00\x00\x01binary\xff"]
    write_dead_letters(
        kafka,
        topic,
        [dead_letter("CLI-0001", values[0], original, 10), dead_letter("CLI-0002", values[1], original, 11)],
    )

    status, out, err = tools("dlq", "replay", "--topic", topic, "--dry-run")
    assert status == 0, err
    assert out.splitlines()[0].split()[-1] == "target"
    assert f"would replay 2 dead letter(s) from {topic}: 2 to {original}" in out
    assert "dry run: nothing was written" in out
    assert read(kafka, [original, ledger_topic], expect=0, timeout=2) == []

    status, out, err = tools("dlq", "replay", "--topic", topic, "--no-progress")
    assert status == 0, err
    assert out.splitlines() == [f"replayed 2 dead letter(s) from {topic}: 2 to {original}"]
    first = replayed_to(kafka, original, 2)
    assert len(first) == 2
    by_key = {m.key(): m for m in first}
    assert by_key[b"CLI-0001"].value() == values[0]
    assert by_key[b"CLI-0002"].value() == values[1]
    headers = headers_of(by_key[b"CLI-0001"])
    assert headers == {
        "erp.origin": b"sap",
        "traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "replay.count": b"1",
        "replay.source": f"{topic}[0]@0".encode(),
    }
    ledger = {m.key(): json.loads(m.value() or b"") for m in read(kafka, [ledger_topic], expect=2, timeout=10)}
    assert ledger[f"{topic}[0]@0".encode()] | {"replayedAt": "-"} == {
        **{"dlqTopic": topic, "partition": 0, "offset": 0, "replayedTo": original},
        **{"replayedAt": "-", "times": 1, "replayCount": 1},
    }

    status, out, err = tools("dlq", "replay", "--topic", topic, "--json")  # by mistake: nothing happens
    assert status == 0, err
    summary = json.loads(out)
    assert (summary["replayed"], len(summary["skipped"])) == (0, 2)
    assert "use --again to replay it anyway" in summary["skipped"][0]["reason"]
    listed = tools("dlq", "list", "--topic", topic)[1].splitlines()
    assert listed[1].split()[-2:] == ["1", "0"]  # replayed once per the ledger; its own replay.count 0

    status, out, err = tools("dlq", "replay", "--topic", topic, "--offset", "0", "--again")
    assert status == 0, err
    assert f"replayed 1 dead letter(s) from {topic}: 1 to {original}" in out
    again = [m for m in replayed_to(kafka, original, 3) if m.key() == b"CLI-0001"]
    assert [headers_of(m)["replay.count"] for m in again] == [b"1", b"2"]
    assert again[1].value() == values[0]
    assert "replays: 2 from here" in tools("dlq", "show", "--topic", topic, "--offset", "0")[1]

    status, out, err = tools("dlq", "replay", "--topic", topic, "--offset", "0", "--again", "--max-replays", "2")
    assert status == 1
    assert (
        f"{topic}[0]@0: replayed 2 times already (--max-replays=2); fix the cause, or replay with --max-replays 3"
        in out
    )

    other = unique_topic("erp.elsewhere")
    status, out, err = tools("dlq", "replay", "--topic", topic, "--offset", "1", "--again", "--to", other)
    assert status == 0, err
    moved = replayed_to(kafka, other, 1)
    assert [(m.key(), m.value(), headers_of(m)["replay.count"]) for m in moved] == [(b"CLI-0002", values[1], b"2")]


# --- the story: a 1522 dead letter, the contract fixed, the sale declared once ----------


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_1522_dead_letter_replayed_after_the_fix_declares_the_sale_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str, tools: Tool
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    dead_letters = f"{source}.dlq"
    registry = schema_registry
    env = {
        **worker_env(kafka, sandbox, registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
    }
    change = sample_changes(unique_topic("r")[-6:])[0]  # a new invoice of CLI-0001 on the Máster Oro Integral
    invoice = json.loads(change.value)["after"]["invoiceNo"]
    admin = sandbox.admin()
    assert admin.set_policy_period(ORO, valid_to="20201231")["inForce"] is False  # the policy lapsed
    produce(kafka, source, [(change.key, change.value)])

    def sales_of_the_invoice() -> list[dict[str, Any]]:
        return [s for s in admin.ledger()["sales"] if s["invoiceNo"] == invoice]

    async with running([invoices_spec(env)], env):
        [letter] = await read_async(kafka, [dead_letters], expect=1)
        errors = {k: (v or b"").decode() for k, v in letter.headers() or [] if k.startswith("dlq.error")}
        assert errors["dlq.error.code"] == "1522"
        assert errors["dlq.error.description"].endswith("No existe periodo de seguro")
        assert sales_of_the_invoice() == []
        assert admin.set_policy_period(ORO, valid_to="20991231")["inForce"] is True  # renewed

        status, out, err = await asyncio.to_thread(tools, "dlq", "replay", "--topic", dead_letters)
        assert status == 0, err
        assert out.splitlines() == [f"replayed 1 dead letter(s) from {dead_letters}: 1 to {source}"]
        declared = await read_async(kafka, [results], expect=1)
        assert [r["outcome"] for r in decoded(registry, declared, results)] == ["DECLARED"]
        assert len(sales_of_the_invoice()) == 1

        status, out, err = await asyncio.to_thread(tools, "dlq", "replay", "--topic", dead_letters)
        assert status == 0, err
        assert "skipped 1 already replayed:" in out  # a second run by mistake replays nothing

        status, out, err = await asyncio.to_thread(tools, "dlq", "replay", "--topic", dead_letters, "--again")
        assert status == 0, err
        both = await read_async(kafka, [results], expect=2)
    first, second = decoded(registry, both, results)
    assert (first["outcome"], second["outcome"]) == ("DECLARED", "ALREADY_DECLARED")
    assert second["saleCesceReferenceNo"] == first["saleCesceReferenceNo"]
    assert len(sales_of_the_invoice()) == 1
    ledger = admin.ledger()
    assert [e["count"] for e in ledger["byDuplicateKey"] if e["invoiceNo"] == invoice] == [1]
    assert ledger["duplicateAttempts"] == 1
    assert len(read(kafka, [dead_letters], expect=1, timeout=2)) == 1  # the replays did not fail again


# --- two replays of one DLQ at once: each dead letter is replayed exactly once --------------------

RACE_SIZE = 5000


def race_dead_letters(kafka: KafkaBackend) -> tuple[str, str, list[str]]:
    """5,000 dead letters over all four partitions; (dlq topic, original topic, their refs)."""
    topic, original = unique_topic("erp.invoices.dlq"), unique_topic("erp.invoices")
    letters = [
        dead_letter(f"CLI-{n % 97:04d}", b'{"op":"c","n":%d}' % n, original, n, category="transient", code="timeout")
        for n in range(RACE_SIZE)
    ]
    placed = write_dead_letters(kafka, topic, letters, partitions=4)
    return topic, original, [f"{topic}[{partition}]@{offset}" for partition, offset in placed]


def assert_replayed_exactly_once(kafka: KafkaBackend, original: str, ledger_topic: str, refs: list[str]) -> None:
    """Every dead letter once on `original` (read_committed, by replay.source), and once in the ledger."""
    replayed = read(kafka, [original], expect=len(refs), timeout=40)
    sources = Counter((headers_of(m).get(REPLAY_SOURCE) or b"").decode() for m in replayed)
    assert len(replayed) == len(refs), f"{len(replayed) - len(refs)} more replays than dead letters"
    assert sources == dict.fromkeys(refs, 1)
    records = read(kafka, [ledger_topic], expect=len(refs), timeout=40)
    entries = [json.loads(m.value() or b"") for m in records if b"@" in (m.key() or b"")]
    assert Counter((m.key() or b"").decode() for m in records if b"@" in (m.key() or b"")) == dict.fromkeys(refs, 1)
    assert {(e["replayedTo"], e["times"], e["replayCount"]) for e in entries} == {(original, 1, 1)}
    topic = refs[0].split("[", 1)[0]
    history = [LockRecord.decode(m.value() or b"") for m in records if m.key() == lock_key(topic).encode()]
    if kafka.is_mock:  # the replay lock: both claimed, the winner renewed per batch, both released
        events = Counter(r.event for r in history)
        assert (events[LockEvent.CLAIM], events[LockEvent.RELEASE]) == (2, 2), history
        after = [*history, LockRecord(LockEvent.CLAIM, "next", history[-1].at_ms + 1, 1, "next")]
        holder = holder_at(after, "next")[1]
        assert holder is not None
        assert holder.run == "next"  # free again: the next replay need not wait for a lease
    else:
        assert history == []  # a real cluster fences: no lock


class PerThreadStdout(io.TextIOBase):
    """sys.stdout for two commands running in threads: what each thread printed, apart."""

    def __init__(self) -> None:
        self.written: dict[int, list[str]] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written.setdefault(threading.get_ident(), []).append(text)
        return len(text)

    def of(self, thread: threading.Thread) -> str:
        return "".join(self.written.get(thread.ident or 0, []))


@pytest.mark.slow
def test_two_replays_that_read_the_ledger_at_the_same_moment_replay_each_dead_letter_once(
    kafka: KafkaBackend, tools: Tool, ledger_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst moment: both runs read the ledger together, before either has committed anything.

    Before the fix each read an empty ledger and replayed all 5,000 (10,000 records on the input
    topic). Now each fences (a real cluster: the older run's producer is fenced) or claims the
    replay lock (the mock) before that read, and the one that lost says so and replays nothing.
    """
    topic, original, refs = race_dead_letters(kafka)
    together = threading.Barrier(2, timeout=30)
    first_read: set[int] = set()
    read_ledger = dlq.read_ledger

    def read_together(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            together.wait()
        return read_ledger(*args, **kwargs)

    monkeypatch.setattr(dlq, "read_ledger", read_together)
    stdout = PerThreadStdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    statuses: dict[int, int] = {}

    def replay() -> None:
        statuses[threading.get_ident()] = run_tool(["dlq", "replay", "--topic", topic, "--no-progress"])

    runs = [threading.Thread(target=replay, name=f"replay-{n}") for n in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    assert not any(run.is_alive() for run in runs)
    results = sorted(((statuses[run.ident or 0], stdout.of(run)) for run in runs), key=lambda r: r[0])
    assert results[0] == (0, f"replayed {RACE_SIZE} dead letter(s) from {topic}: {RACE_SIZE} to {original}\n")
    status, out = results[1]
    assert status == 1
    assert out.splitlines()[0] == f"replayed 0 dead letter(s) from {topic}"
    assert out.splitlines()[1].startswith(f"failed: another replay of {topic} ")  # is running / took over
    assert len(out.splitlines()) == 2
    assert_replayed_exactly_once(kafka, original, ledger_topic, refs)


@pytest.mark.slow
def test_two_replay_processes_started_together_replay_each_dead_letter_once(
    kafka: KafkaBackend, tools: Tool, ledger_topic: str
) -> None:
    """The real command twice, as two operators would run it: no hooks, whatever the interleaving.

    Each one that did not replay everything either lost (exit 1, another replay is running or took
    over, nothing replayed) or came after the other had finished (exit 0, all skipped).
    """
    topic, original, refs = race_dead_letters(kafka)
    command = [sys.executable, "-m", "workers.cli", "dlq", "replay", "--topic", topic, "--no-progress"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        for _ in range(2)
    ]
    try:
        outputs = [run.communicate(timeout=50) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    results = [(run.returncode, out) for run, (out, _) in zip(runs, outputs, strict=True)]
    errors = "".join(err for _, err in outputs)
    done = f"replayed {RACE_SIZE} dead letter(s) from {topic}: {RACE_SIZE} to {original}"
    assert sorted(out.splitlines()[0] for _, out in results) == sorted(
        [done, f"replayed 0 dead letter(s) from {topic}"]
    ), (results, errors)
    winner = next(r for r in results if r[1].splitlines()[0] == done)
    assert winner == (0, done + "\n"), errors
    status, out = next(r for r in results if r is not winner)
    lines = out.splitlines()
    if status == 1:  # it ran while the other did
        assert lines[1:] == [lines[1]], out
        assert lines[1].startswith(f"failed: another replay of {topic} "), out
    else:  # it read the ledger once the other had finished
        assert status == 0, (out, errors)
        assert lines[1] == f"skipped {RACE_SIZE} already replayed:", out
    assert_replayed_exactly_once(kafka, original, ledger_topic, refs)


def test_the_embedded_broker_fences_nobody_which_is_why_replay_takes_a_lock(kafka: KafkaBackend) -> None:
    """Measured on librdkafka 2.16's mock: a second `init_transactions` with the same transactional.id
    neither aborts the first producer's open transaction nor fences it; both commit. (A real
    cluster aborts that transaction and fails the first producer's commit with the fatal _FENCED.)
    If a librdkafka fixes this, this test fails: the replay lock can then go (`dlq_lock`)."""
    if not kafka.is_mock:
        pytest.skip("a real cluster fences; this measures the embedded broker")
    topic, transactional_id = unique_topic("fencing"), unique_topic("same-id")
    first = Producer(producer_config(kafka, {"transactional.id": transactional_id}))
    first.init_transactions(10)
    first.begin_transaction()
    first.produce(topic, b"open while the second starts", partition=0)
    first.flush(10)
    second = Producer(producer_config(kafka, {"transactional.id": transactional_id}))
    started = time.monotonic()
    second.init_transactions(10)
    assert time.monotonic() - started < 5  # it did not wait for the first one's transaction either
    first.commit_transaction(10)  # not fenced
    second.begin_transaction()
    second.produce(topic, b"second", partition=0)
    second.commit_transaction(10)
    first.begin_transaction()
    first.produce(topic, b"first, after being 'fenced'", partition=0)
    first.commit_transaction(10)  # still not fenced
    values = sorted(m.value() or b"" for m in read(kafka, [topic], expect=3, timeout=10))
    assert values == sorted([b"open while the second starts", b"second", b"first, after being 'fenced'"])
