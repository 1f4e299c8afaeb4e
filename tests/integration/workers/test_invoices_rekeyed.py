"""Debezium's default keys (each row's primary key) through the invoices worker: re-keyed by debtor, in the
database's commit order across partitions, so a credit note never overtakes its sale; and every record shape
Debezium emits (tombstones, truncates, unwrapped rows, updates without before-image) end to end."""

from __future__ import annotations

import json
import signal
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.runtime.support import header
from tests.integration.workers.support import decoded, read_async, running, worker_process
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.cesce.codecs import spanish_today
from workers.invoices import invoices_specs
from workers.runtime.registry import schema_registry_client
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEBTORS = ("CLI-0001", "CLI-0002", "CLI-0003", "CLI-0004", "CLI-0005")  # the debtors the sandbox knows


def row(invoice: str, debtor: str, amount: str) -> dict[str, Any]:
    today = spanish_today()
    return {
        "contractNo": "34109150331",
        "invoiceNo": invoice,
        "invoiceDate": today.isoformat(),
        "maturityDate": (today + timedelta(days=60)).isoformat(),
        "amount": amount,
        "currencyCode": "EUR",
        "customerReference": debtor,
    }


def change(op: str, after: dict[str, Any] | None, lsn: int, before: dict[str, Any] | None = None) -> bytes:
    source = {"connector": "postgresql", "db": "erp", "table": "invoices", "lsn": lsn, "sequence": f'["{lsn}","{lsn}"]'}
    return json.dumps({"before": before, "after": after, "op": op, "ts_ms": 1763600000000, "source": source}).encode()


def primary_key(invoice: str) -> bytes:
    """Debezium's JSON key (schemas disabled): the row's primary key."""
    return json.dumps({"id": invoice}).encode()


def produce_at(kafka: KafkaBackend, topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = Producer(producer_config(kafka))
    for partition, key, value in records:
        producer.produce(topic, key=key, value=value, partition=partition)
    assert producer.flush(30) == 0


def invoices_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, source: str, results: str
) -> dict[str, str]:
    env = {**base_env(kafka, sandbox, registry, unique_topic("invoices")), "INVOICES_TOPIC": source}
    return env | {"SALE_RESULTS_TOPIC": results, "INVOICES_STATE_TOPIC": unique_topic("cesce.invoices.rows")}


async def test_a_backlog_keyed_by_primary_key_declares_every_credit_note_after_its_sale(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    run = unique_topic("r")[-6:]
    records: list[tuple[int, bytes, bytes | None]] = []
    for pair, debtor in enumerate(DEBTORS):
        sale, note = f"F{run}-{pair:02d}", f"A{run}-{pair:02d}"
        # the credit note sits on partition 0, read first; its sale, committed earlier, on another partition
        records.append((1 + pair % 3, primary_key(sale), change("c", row(sale, debtor, "100.00"), lsn=1000 + 2 * pair)))
        records.append((0, primary_key(note), change("c", row(note, debtor, "-100.00"), lsn=1001 + 2 * pair)))
    produce_at(kafka, source, sorted(records, key=lambda record: record[0]))
    # a sandbox of its own: no other test's sales are pending for these debtors, so an overtaking note is refused
    with serve_in_thread(SandboxConfig(seed=17)) as sandbox:
        env = invoices_env(kafka, sandbox, schema_registry, source, results)
        async with running(invoices_specs(env), env):
            messages = await read_async(kafka, [results, f"{source}.dlq"], expect=2 * len(DEBTORS))
        ledger = [s["invoiceNo"] for s in sandbox.admin().ledger()["sales"]]
    dead = [(header(m, "dlq.error.code"), header(m, "dlq.error.description")) for m in messages if m.topic() != results]
    assert dead == []
    got = decoded(schema_registry, messages, results)
    assert sorted(r["outcome"] for r in got) == ["DECLARED"] * (2 * len(DEBTORS))
    for pair in range(len(DEBTORS)):
        assert ledger.index(f"F{run}-{pair:02d}") < ledger.index(f"A{run}-{pair:02d}")
    assert {m.key() for m in messages} == {debtor.encode() for debtor in DEBTORS}  # results keyed by debtor


# Debezium's Avro envelope for the invoices table (io.confluent.connect.avro.AvroConverter), as an outside
# producer registers it: its own record names, the primary key column beside ours, the source as a record.
_VALUE = {
    "type": "record",
    "name": "Value",
    "namespace": "erp.public.invoices",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "contractNo", "type": "string"},
        {"name": "invoiceNo", "type": "string"},
        {
            "name": "invoiceDate",
            "type": {"type": "int", "connect.name": "io.debezium.time.Date", "logicalType": "date"},
        },
        {"name": "maturityDate", "type": {"type": "int", "logicalType": "date"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 17, "scale": 2}},
        {"name": "currencyCode", "type": "string"},
        {"name": "customerReference", "type": ["null", "string"], "default": None},
    ],
}
AVRO_ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": "erp.public.invoices",
    "fields": [
        {"name": "before", "type": ["null", _VALUE], "default": None},
        {"name": "after", "type": ["null", "erp.public.invoices.Value"], "default": None},
        {
            "name": "source",
            "type": {
                "type": "record",
                "name": "Source",
                "namespace": "io.debezium.connector.postgresql",
                "fields": [
                    {"name": "connector", "type": "string"},
                    {"name": "table", "type": "string"},
                    {"name": "lsn", "type": ["null", "long"], "default": None},
                ],
            },
        },
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
    ],
}
AVRO_KEY = {
    "type": "record",
    "name": "Key",
    "namespace": "erp.public.invoices",
    "fields": [{"name": "id", "type": "string"}],
}


def connect_key(invoice: str) -> bytes:
    """Debezium's JSON key with schemas enabled: a struct of the primary key in Kafka Connect's wrapper."""
    schema = {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "id"}], "optional": False}
    return json.dumps({"schema": schema, "payload": {"id": invoice}}).encode()


async def test_every_debezium_shape_end_to_end(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    run = unique_topic("r")[-6:]
    sales = {
        shape: row(f"F{run}-{shape}", "CLI-0001", "250.00") for shape in ("json", "wrapped", "avro", "flat", "upd")
    }
    corrected = sales["upd"] | {"amount": "275.00"}
    deleted = row(f"F{run}-del", "CLI-0001", "90.00")
    with schema_registry_client(schema_registry) as client:
        serialize_value = AvroSerializer(client, json.dumps(AVRO_ENVELOPE))
        serialize_key = AvroSerializer(client, json.dumps(AVRO_KEY))
        avro_row = sales["avro"] | {
            "id": "avro",
            "amount": Decimal(sales["avro"]["amount"]),
            "invoiceDate": date.fromisoformat(sales["avro"]["invoiceDate"]),
            "maturityDate": date.fromisoformat(sales["avro"]["maturityDate"]),
        }
        avro_value = {
            "before": None,
            "after": avro_row,
            "op": "c",
            "ts_ms": 1,
            "source": {"connector": "postgresql", "table": "invoices", "lsn": 3},
        }
        context = SerializationContext(source, MessageField.VALUE)
        avro_bytes = serialize_value(avro_value, context)
        avro_key = serialize_key({"id": "avro"}, SerializationContext(source, MessageField.KEY))
    records: list[tuple[int, bytes, bytes | None]] = [
        (0, primary_key("json"), change("c", sales["json"], lsn=1)),
        (
            1,
            connect_key("wrapped"),
            json.dumps(
                {
                    "schema": {"type": "struct", "fields": []},
                    "payload": json.loads(change("c", sales["wrapped"], lsn=2)),
                }
            ).encode(),
        ),
        (2, avro_key, avro_bytes),
        (3, primary_key("flat"), json.dumps(sales["flat"] | {"__op": "c", "__lsn": 4, "__deleted": "false"}).encode()),
        (0, primary_key("upd"), change("c", sales["upd"], lsn=5)),
        (0, primary_key("upd"), change("u", corrected, lsn=6)),  # PostgreSQL's default: no before-image
        (1, primary_key("gone"), change("d", None, lsn=7, before={"id": "gone"})),  # a delete of a row never sent
        (1, primary_key("gone"), None),  # the tombstone after it
        (2, b"", json.dumps({"op": "t", "before": None, "after": None, "ts_ms": 1, "source": {"lsn": 8}}).encode()),
        (3, primary_key("del"), change("c", deleted, lsn=9)),
        # PostgreSQL's default delete: the primary key only, so no debtor to re-key by; answered from the state
        (3, primary_key("del"), change("d", None, lsn=10, before={"id": "del"})),
    ]
    produce_at(kafka, source, records)
    env = invoices_env(kafka, sandbox, schema_registry, source, results)
    async with running(invoices_specs(env), env):
        messages = await read_async(kafka, [results, f"{source}.dlq"], expect=8)
    assert [m.topic() for m in messages if m.topic() != results] == []
    got = sorted((r["invoiceNo"], r["outcome"]) for r in decoded(schema_registry, messages, results))
    assert got == sorted(
        [(sale["invoiceNo"], "DECLARED") for sale in [*sales.values(), deleted]]
        + [(corrected["invoiceNo"], "MODIFIED"), (deleted["invoiceNo"], "DELETED_IN_ERP")]
    )
    ledger = {s["invoiceNo"]: s["currencyAmount"] for s in sandbox.admin().ledger()["sales"] if run in s["invoiceNo"]}
    expected = {sale["invoiceNo"]: "250,00" for sale in sales.values()} | {corrected["invoiceNo"]: "275,00"}
    assert ledger == expected | {deleted["invoiceNo"]: "90,00"}


async def test_a_credit_note_ahead_of_its_sale_waits_for_it_instead_of_being_refused(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    """The last line of defence: a credit note that reaches the worker before its sale (in production, a sale
    re-keyed by another replica; here the source's own positions put the note first) waits aside while the sale,
    another row of the same debtor, passes it; the note's own correction waits behind it."""
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    run = unique_topic("r")[-6:]
    sale, note = row(f"F{run}", "CLI-0002", "100.00"), row(f"A{run}", "CLI-0002", "-100.00")
    corrected = note | {"amount": "-90.00"}
    produce_at(
        kafka,
        source,
        [
            (0, primary_key("note"), change("c", note, lsn=1)),
            (0, primary_key("note"), change("u", corrected, lsn=2)),  # no before-image: diffed against the state
            (1, primary_key("sale"), change("c", sale, lsn=3)),
        ],
    )
    with serve_in_thread(SandboxConfig(seed=18)) as sandbox:
        env = invoices_env(kafka, sandbox, schema_registry, source, results) | {
            "INVOICES_CREDIT_NOTE_WAIT_SECONDS": "30",
        }
        async with running(invoices_specs(env), env):
            messages = await read_async(kafka, [results, f"{source}.dlq"], expect=3)
        ledger = {s["invoiceNo"]: s["currencyAmount"] for s in sandbox.admin().ledger()["sales"]}
        order = [s["invoiceNo"] for s in sandbox.admin().ledger()["sales"]]
    assert [m.topic() for m in messages if m.topic() != results] == []
    # results go out in the partition's order (the note's offsets first); Cesce saw the sale first
    assert sorted((r["invoiceNo"], r["outcome"]) for r in decoded(schema_registry, messages, results)) == [
        (note["invoiceNo"], "DECLARED"),
        (note["invoiceNo"], "MODIFIED"),
        (sale["invoiceNo"], "DECLARED"),
    ]
    assert order == [sale["invoiceNo"], note["invoiceNo"]]
    assert ledger[note["invoiceNo"]] == "-90,00"


def assigned(log: Path, label: str) -> bool:
    """Whether `label`'s engine in the process writing `log` holds partitions (its log says so)."""
    return any(f"{label}: assigned [(" in line for line in log.read_text(errors="replace").splitlines())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_replicas_one_killed_declare_each_invoice_once_and_every_credit_note_after_its_sale(
    kafka: KafkaBackend, schema_registry: str, tmp_path: Path
) -> None:
    """`cesce-worker run invoices` twice in one group: each re-keys the partitions it holds, so a sale and its
    credit note may be re-keyed by different members; one member is killed mid-way and the other takes over."""
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    run = unique_topic("r")[-6:]
    with serve_in_thread(SandboxConfig(seed=19)) as sandbox:
        env = invoices_env(kafka, sandbox, schema_registry, source, results) | {
            "INVOICES_CREDIT_NOTE_WAIT_SECONDS": "40",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "WORKER_PROCESSES": "1",  # one member per process: the SIGKILL below kills a member, not a parent
        }
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        # the topic exists before the members join (the embedded broker creates it on first write): a tombstone
        # on each partition, which the re-keyers skip
        produce_at(kafka, source, [(partition, b"created", None) for partition in range(4)])
        with (
            worker_process("invoices", env | {"WORKER_INSTANCE_ID": "a"}, str(logs[0])) as first,
            worker_process("invoices", env | {"WORKER_INSTANCE_ID": "b"}, str(logs[1])) as second,
        ):
            deadline = time.monotonic() + 60
            while not all(assigned(log, "invoices.rekey") for log in logs):  # both members hold partitions
                assert time.monotonic() < deadline, "the two members never shared the partitions"
                time.sleep(0.2)
            records: list[tuple[int, bytes, bytes | None]] = []
            for pair, debtor in enumerate(DEBTORS):
                sale, note = f"F{run}-{pair:02d}", f"A{run}-{pair:02d}"
                sale_at, note_at = (pair + 1) % 4, (pair + 3) % 4  # partitions two apart: different members
                records.append((sale_at, primary_key(sale), change("c", row(sale, debtor, "100.00"), 100 + pair)))
                records.append((note_at, primary_key(note), change("c", row(note, debtor, "-100.00"), 200 + pair)))
            produce_at(kafka, source, sorted(records, key=lambda record: -record[0]))
            admin = sandbox.admin()
            deadline = time.monotonic() + 60
            while len(admin.ledger()["sales"]) < len(DEBTORS):
                assert time.monotonic() < deadline, "nothing was declared"
                time.sleep(0.1)
            first.send_signal(signal.SIGKILL)  # mid-way: the survivor takes its partitions over
            deadline = time.monotonic() + 120
            while len(admin.ledger()["sales"]) < 2 * len(DEBTORS):
                assert time.monotonic() < deadline, f"only {len(admin.ledger()['sales'])} sales declared"
                time.sleep(0.2)
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0
        ledger = admin.ledger()
    assert [int(entry["count"]) for entry in ledger["byDuplicateKey"]] == [1] * (2 * len(DEBTORS))
    order = [sale["invoiceNo"] for sale in ledger["sales"]]
    for pair in range(len(DEBTORS)):
        assert order.index(f"F{run}-{pair:02d}") < order.index(f"A{run}-{pair:02d}")
