"""`cesce-worker reconcile sales` end to end: the sandbox over HTTP, the embedded broker, the embedded registry.

Sales are declared at the sandbox with a raw client (one of them never declared by us), our side is
produced to a results topic as the invoices worker writes it (Avro through the registry), dead letters
and a replay-ledger entry as the runtime and ``dlq replay`` write them; the command runs in-process
with its settings in the environment, as in production.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.integration.conftest import ORO, RawCesce
from tests.integration.ops.test_dlq_tools import dead_letter, write_dead_letters
from tests.integration.workers.support import worker_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.ops import reconcile_command
from workers.ops.dlq_read import LedgerEntry
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec, loads_exact
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


def run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cesce-worker")
    reconcile_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    capsys.readouterr()
    status: int = args.handler(args)
    out, err = capsys.readouterr()
    return status, out, err


def result(invoice: str, amount: str, *, outcome: str = "DECLARED", invoice_date: date, offset: int) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "op": "c",
        "contractNo": ORO,
        "invoiceNo": invoice,
        "invoiceDate": invoice_date,
        "maturityDate": date(2030, 4, 10),
        "amount": Decimal(amount),
        "currencyCode": "EUR",
        "debtor": "CLI-0001",
        "customerReference": "CLI-0001",
        "statusCode": "5",
        "sourceTopic": "erp.invoices",
        "sourcePartition": 0,
        "sourceOffset": offset,
        "handledAt": datetime(2030, 1, 20, 12, 0, offset, tzinfo=UTC),
    }


def produce_results(kafka: KafkaBackend, registry: str, topic: str, results: list[dict[str, Any]]) -> None:
    with schema_registry_client(registry) as client:
        codec = AvroCodec(client, "cesce.results.SaleResult", auto_register=True)
        producer = Producer(producer_config(kafka))
        for value in results:
            producer.produce(topic, key=value["debtor"], value=codec.encode(value, topic))
        assert producer.flush(30) == 0


def invoice_change(invoice: str, invoice_date: str) -> bytes:
    """A Debezium-style JSON create of one ERP invoice row, as the invoices worker's input carries it."""
    row = {
        "contractNo": ORO,
        "invoiceNo": invoice,
        "invoiceDate": invoice_date,
        "maturityDate": "2030-04-10",
        "amount": "75.00",
        "currencyCode": "EUR",
        "customerReference": "CLI-0001",
    }
    source = {"connector": "it", "db": "erp", "table": "invoices"}
    return json.dumps({"before": None, "after": row, "op": "c", "ts_ms": 1893456000000, "source": source}).encode()


@pytest.fixture
def env(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    values = worker_env(kafka, sandbox, schema_registry, unique_topic("reconcile"))
    values |= {
        "SALE_RESULTS_TOPIC": unique_topic("cesce.sale-results"),
        "INVOICES_TOPIC": unique_topic("erp.invoices"),
        "DLQ_REPLAYS_TOPIC": unique_topic("cesce.dlq-replays"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_the_books_of_a_month_side_by_side_then_a_month_that_agrees(
    kafka: KafkaBackend, schema_registry: str, api: RawCesce, env: dict[str, str], capsys: Any
) -> None:
    """001 line 842: "misma factura (invoiceNo), fecha de emisión (invoiceDate), vencimiento (maturityDate),
    suplemento (endorsementNo o customerReference) e importe (currencyAmount)" pairs the sides; 001 line 1034:
    "Para ello se utilizará el campo initialValue" pages Cesce's list; 001 line 1021: "mes de factura"."""
    for invoice, amount in [("F-1", "1000,00"), ("F-2", "500,00"), ("F-1-A", "-100,00"), ("F-5", "1000,00")]:
        assert api.sale(invoiceNo=invoice, currencyAmount=amount).status_code == 201
    assert api.sale(invoiceNo="X-1", currencyAmount="321,00").status_code == 201  # never declared by us
    assert api.sale(invoiceNo="F-7", invoiceDate="20300205", currencyAmount="70,00").status_code == 201
    january, february = date(2030, 1, 10), date(2030, 2, 5)
    produce_results(
        kafka,
        schema_registry,
        env["SALE_RESULTS_TOPIC"],
        [
            result("F-1", "1000.00", invoice_date=january, offset=1),
            result("F-2", "500.00", invoice_date=january, offset=2),
            result("F-2", "500.00", outcome="ALREADY_DECLARED", invoice_date=january, offset=3),
            result("F-1-A", "-100.00", invoice_date=january, offset=4),  # a credit note
            result("F-4", "40.00", invoice_date=january, offset=5),  # Cesce never got it
            result("F-5", "1000.01", invoice_date=january, offset=6),  # one cent apart
            result("F-7", "70.00", invoice_date=february, offset=7),
        ],
    )
    dlq = env["INVOICES_TOPIC"] + ".dlq"
    placed = write_dead_letters(
        kafka,
        dlq,
        [
            dead_letter("CLI-0001", invoice_change("F-6", "2030-01-15"), env["INVOICES_TOPIC"], 20),
            dead_letter("CLI-0001", invoice_change("F-8", "2030-01-16"), env["INVOICES_TOPIC"], 21),
            dead_letter("CLI-0001", invoice_change("F-9", "2030-03-01"), env["INVOICES_TOPIC"], 22),
        ],
    )
    replayed = LedgerEntry(dlq, placed[1][0], placed[1][1], env["INVOICES_TOPIC"], "2030-01-20T12:00:00Z", 1, 1)
    ledger = Producer(producer_config(kafka))
    ledger.produce(env["DLQ_REPLAYS_TOPIC"], key=replayed.key, value=replayed.encode())
    assert ledger.flush(30) == 0

    status, out, err = run(["reconcile", "sales", "--contract", ORO, "--month", "203001", "--json"], capsys)
    assert status == 1, err
    books = loads_exact(out)
    assert books["counts"] == {"matched": 3, "missingAtCesce": 1, "notDeclared": 1, "differing": 1, "deadLetters": 1}
    assert [s["invoiceNo"] for s in books["missingAtCesce"]] == ["F-4"]
    assert [(s["invoiceNo"], s["amount"]) for s in books["notDeclared"]] == [("X-1", "321.00")]
    difference = books["differing"][0]
    assert (difference["fields"], difference["ours"]["amount"], difference["cesce"]["amount"]) == (
        ["amount"],
        "1000.01",
        "1000.00",
    )
    assert [(d["invoiceNo"], d["invoiceDate"]) for d in books["deadLetters"]] == [("F-6", "2030-01-15")]
    assert books["deadLetters"][0]["deadLetter"] == f"{dlq}[{placed[0][0]}]@{placed[0][1]}"

    status, out, err = run(["reconcile", "sales", "--contract", ORO, "--month", "203001"], capsys)
    assert status == 1, err
    assert out.splitlines()[0].startswith(f"Books of contract {ORO} for 203001: DIFFER (3 matched")
    assert "At Cesce, never declared by us:" in out
    assert "X-1" in out

    status, out, err = run(["reconcile", "sales", "--contract", ORO, "--month", "203002", "--json"], capsys)
    assert status == 0, err
    agreed = loads_exact(out)
    assert agreed["agrees"] is True
    assert agreed["counts"]["matched"] == 1


def test_cesce_unreachable_is_one_line_and_exit_2(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """000: a call Cesce never answers leaves the books unknown, not agreeing: exit status 2, one line."""
    monkeypatch.setenv("CESCE_BASE_URL", "https://127.0.0.1:9")
    monkeypatch.setenv("CESCE_RETRY_ATTEMPTS", "1")
    status, out, err = run(["reconcile", "sales", "--contract", ORO, "--month", "203001", "--timeout", "10"], capsys)
    assert status == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("cesce-worker reconcile sales:")]
    assert len(lines) == 1
    assert "Cesce" in lines[0]
    assert env["CESCE_CLIENT_SECRET"] not in err
