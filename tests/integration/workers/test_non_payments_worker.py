"""The non-payments worker and its claims poller end to end: the broker over TCP, the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from tests.integration.runtime.support import header, produce, read
from tests.integration.workers.support import decoded, read_async, worker_process
from tests.integration.workers.support import running as serve_running
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, producer_config, unique_topic
from workers.demo.sample import envelope
from workers.non_payments import non_payments_specs
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.config import Faults
from workers.sandbox.faults import FaultInjector
from workers.sandbox.faults import Outcome as FaultOutcome

pytestmark = pytest.mark.integration

ORO = "34109150331"


class Topics:
    def __init__(self) -> None:
        self.source = unique_topic("erp.non-payments")
        self.dlq = f"{self.source}.dlq"
        self.results = unique_topic("cesce.non-payment-results")
        self.files = unique_topic("cesce.claim-files")
        self.updates = unique_topic("cesce.claim-updates")

    def create_watch_topic(self, kafka: KafkaBackend) -> None:
        """Auto-create the poller's input (a metadata request does): a consumer subscribed to a topic
        that does not exist yet only finds it at its next metadata refresh, seconds later."""
        metadata = Producer(producer_config(kafka)).list_topics(topic=self.files, timeout=10)
        assert metadata.topics[self.files].error is None


def worker_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, topics: Topics, **extra: str
) -> dict[str, str]:
    topics.create_watch_topic(kafka)
    return {
        **base_env(kafka, sandbox, registry, unique_topic("non-payments")),
        # a watch record queued behind a deferred one of the same file (a second chain) counts as in
        # flight, so stopping waits the whole drain for it: keep the drain short
        "WORKER_DRAIN_SECONDS": "2",
        "NON_PAYMENTS_TOPIC": topics.source,
        "NON_PAYMENT_RESULTS_TOPIC": topics.results,
        "CLAIM_FILES_TOPIC": topics.files,
        "CLAIM_UPDATES_TOPIC": topics.updates,
        "CLAIMS_POLL_INTERVAL_SECONDS": "3600",
        **extra,
    }


def unpaid(np_id: str, invoice: str, debtor: str | None = "CLI-0001", **changes: Any) -> dict[str, Any]:
    """An ERP unpaid-invoice row (JSON), due a month ago."""
    today = date.today()
    return {
        "nonPaymentId": np_id,
        "contractNo": ORO,
        "endorsementNo": None,
        "customerReference": debtor,
        "invoiceNo": invoice,
        "invoiceDate": (today - timedelta(days=90)).isoformat(),
        "maturityDate": (today - timedelta(days=30)).isoformat(),
        "unpaidAmount": "1234.50",
        "currencyCode": "EUR",
    } | changes


def change(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[str, bytes]:
    """(key, value) of a Debezium-style JSON change record, keyed by the debtor."""
    row = after if after is not None else before
    assert row is not None
    return str(row["customerReference"] or row["endorsementNo"]), envelope(op, before, after, "non_payments")


def by_primary_key(changes: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The same change records as Debezium writes them by default: keyed by the row's primary key, each with its
    place in the database's log (``source.lsn``), which is what orders them across partitions."""
    keyed = []
    for lsn, (_, value) in enumerate(changes, start=1000):
        document = json.loads(value)
        document["source"] = {**document["source"], "lsn": lsn}
        row = document["after"] or document["before"]
        keyed.append((json.dumps({"id": row["nonPaymentId"]}), json.dumps(document).encode()))
    return keyed


def running(env: dict[str, str]) -> AbstractAsyncContextManager[None]:
    return serve_running(non_payments_specs(env), env)


def values(registry: str, messages: list[Message], topic: str) -> list[dict[str, Any]]:
    return decoded(registry, messages, topic)


def by_key(registry: str, messages: list[Message], topics: Topics) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Debtor -> (outcome or ``dlq:<category>``, the result or the dead letter's headers), in input order."""
    with schema_registry_client(registry) as client:
        reader = AvroReader(client)
        found: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        for message in messages:
            key = (message.key() or b"").decode()
            offset = int(header(message, "source.offset"))
            if message.topic() == topics.results:
                value = reader.decode(message.value() or b"", topics.results).value
                found.setdefault(key, []).append((offset, str(value["outcome"]), value))
            else:
                headers = {name: header(message, name) for name in ("dlq.category", "dlq.error.code", "dlq.worker")}
                headers["dlq.original.topic"] = header(message, "dlq.original.topic")
                found.setdefault(key, []).append((offset, f"dlq:{headers['dlq.category']}", headers))
    return {key: [(outcome, value) for _, outcome, value in sorted(items)] for key, items in found.items()}


@pytest.mark.timeout(120)  # three loops join their groups, one reading a topic the re-keying creates
async def test_every_path_declares_each_invoice_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    first, second = unpaid("NP-1", "F-1"), unpaid("NP-2", "F-2")
    changes = [
        change("c", None, first),
        change("c", None, second),  # joins the claim file the first one opened
        change("c", None, second),  # the same change delivered twice
        change("u", second, second | {"collectorNotes": "called twice"}),  # a column Cesce is not sent
        change("u", second, second | {"unpaidAmount": "1000.00"}),  # a declared non-payment cannot change
        change("d", second, None),
        change("r", None, first),  # a snapshot re-read of the file's first non-payment: as declared, nothing to send
        change("c", None, unpaid("NP-3", "F-3", "CLI-0002", endorsementNo="1")),  # two identifiers
        change("c", None, unpaid("NP-4", "F-4", "CLI-0002", invoiceDate=date.today().isoformat())),  # after maturity
        change("c", None, unpaid("NP-5", "F-5", "CLI-9999")),  # a debtor without a limit
    ]
    produce(kafka, topics.source, by_primary_key(changes))
    async with running(worker_env(kafka, sandbox, schema_registry, topics)):
        messages = await read_async(kafka, [topics.results, topics.dlq], expect=len(changes))
        watches = values(schema_registry, await read_async(kafka, [topics.files], expect=1), topics.files)
    got = by_key(schema_registry, messages, topics)
    assert len(messages) == len(changes)
    assert [o for o, _ in got["CLI-0001"]] == [
        "DECLARED",
        "DECLARED",
        "ALREADY_DECLARED",
        "NO_CHANGE",
        "dlq:validation",
        "DELETED_IN_ERP",
        "NO_CHANGE",
    ]
    opened, joined, repeated, _, refused, _, _ = (v for _, v in got["CLI-0001"])
    assert (opened["newClaimFile"], joined["newClaimFile"], repeated["newClaimFile"]) == (True, False, False)
    claim_file = opened["claimFileNo"]
    assert {v["claimFileNo"] for v in (joined, repeated)} == {claim_file}
    assert repeated["nonPaymentNo"] == joined["nonPaymentNo"]
    for declared in (opened, joined, repeated):
        assert [(d["documentCode"], d["statusCode"]) for d in declared["documents"]] == [("01", "1"), ("02", "1")]
    assert opened["unpaidAmount"] == Decimal("1234.50")
    assert (refused["dlq.error.code"], refused["dlq.worker"]) == ("unpaidAmount", "non-payments")
    assert refused["dlq.original.topic"] == f"{topics.source}.by-debtor"  # as the worker read it, re-keyed by debtor
    assert [(o, v["dlq.error.code"]) for o, v in got["CLI-0002"]] == [
        ("dlq:validation", "endorsementNo/customerReference"),
        ("dlq:business", "1522"),
    ]
    assert [(o, v["dlq.error.code"]) for o, v in got["CLI-9999"]] == [("dlq:business", "2")]

    ledger = sandbox.admin().ledger()
    assert [(f["claimFileNo"], f["nonPayments"]) for f in ledger["claimFiles"]] == [(claim_file, 2)]
    assert ledger["nonPaymentDeclarations"] == 4, "two declared, two refused by Cesce; no repeat was sent"
    # the file is followed from its opening; the snapshot re-read, as declared, starts nothing
    assert [(w["claimFileNo"], w["checks"]) for w in watches] == [(claim_file, 0)]


def hang_once_seed() -> int:
    """A sandbox seed whose hang draws are: deliver, hang, then deliver (the sandbox's own injector says)."""
    want = [FaultOutcome.DELIVER, FaultOutcome.HANG, *[FaultOutcome.DELIVER] * 4]
    for seed in range(1000):
        injector = FaultInjector(Faults(hang_rate=0.5), seed)
        if [injector.outcome() for _ in want] == want:
            return seed
    raise AssertionError("no seed gives that sequence")


async def test_a_declaration_whose_answer_was_lost_is_found_not_sent_again(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    """The lookup is answered, the POST is processed but its answer held past the client's timeout."""
    faults = Faults(hang_rate=0.5, hang_seconds=1.5)
    with serve_in_thread(SandboxConfig(seed=hang_once_seed(), faults=faults)) as faulty:
        topics = Topics()
        produce(kafka, topics.source, [change("c", None, unpaid("NP-1", "F-1", "CLI-0004"))])
        env = worker_env(kafka, faulty, schema_registry, topics, CESCE_TIMEOUT_SECONDS="0.5")
        async with running(env):
            messages = await read_async(kafka, [topics.results, topics.dlq, topics.files], expect=2)
        (result,) = values(schema_registry, messages, topics.results)
        (watch,) = values(schema_registry, messages, topics.files)
        admin = faulty.admin()
        assert admin.stats()["faults"]["hung"] == 1
        ledger = admin.ledger()
    assert (result["outcome"], result["newClaimFile"], result["nonPaymentNo"]) == ("ALREADY_DECLARED", True, "1")
    assert ledger["nonPaymentDeclarations"] == 1, "the declaration whose answer was lost was sent again"
    assert [(f["claimFileNo"], f["nonPayments"]) for f in ledger["claimFiles"]] == [(result["claimFileNo"], 1)]
    assert watch["claimFileNo"] == result["claimFileNo"]


def update_facts(registry: str, messages: list[Message], topics: Topics) -> list[tuple[Any, ...]]:
    return [
        (u["kind"], u["nonPaymentNo"] or u["settlementNo"], u["documentCode"], u["previousStatusCode"], u["statusCode"])
        for u in values(registry, messages, topics.updates)
    ]


async def test_the_poller_reports_each_change_once_until_the_file_is_settled(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    admin = sandbox.admin()
    first = change("c", None, unpaid("NP-1", "F-1", "CLI-0004"))
    produce(kafka, topics.source, [first, first])  # delivered twice: two chains for one file
    env = worker_env(kafka, sandbox, schema_registry, topics, CLAIMS_POLL_INTERVAL_SECONDS="0.5")

    async def updates(expect: int) -> list[Message]:
        found = await read_async(kafka, [topics.updates], expect=expect)
        assert len(found) >= expect, f"{len(found)} claim update(s), expected {expect}"
        return found

    async with running(env):
        results = values(schema_registry, await read_async(kafka, [topics.results], expect=2), topics.results)
        assert [(r["outcome"], r["newClaimFile"]) for r in results] == [("DECLARED", True), ("ALREADY_DECLARED", True)]
        claim_file = results[0]["claimFileNo"]
        await asyncio.sleep(1.2)  # a couple of polls: nothing changed, nothing published
        assert await read_async(kafka, [topics.updates], expect=0, within=1) == []

        await asyncio.to_thread(admin.set_document_status, claim_file, "01", "3")
        await updates(1)
        await asyncio.sleep(1.5)  # three more polls of the file (and the dropped chain never polls)
        found = await updates(1)
        assert update_facts(schema_registry, found, topics) == [("DOCUMENT_STATUS", "1", "01", "1", "3")]

        await asyncio.to_thread(produce, kafka, topics.source, [change("c", None, unpaid("NP-2", "F-2", "CLI-0004"))])
        joined = values(schema_registry, await read_async(kafka, [topics.results], expect=3), topics.results)[-1]
        assert (joined["outcome"], joined["newClaimFile"], joined["claimFileNo"]) == ("DECLARED", False, claim_file)
        found = await updates(3)
        assert update_facts(schema_registry, found, topics)[1:] == [
            ("DOCUMENT_STATUS", "2", "01", None, "1"),
            ("DOCUMENT_STATUS", "2", "02", None, "1"),
        ]

        paid_on = (date.today() - timedelta(days=1)).strftime("%Y%m%d")
        await asyncio.to_thread(admin.add_settlement, claim_file, "2", "1000,00", "12,34", paid_on)
        (settlement,) = values(schema_registry, await updates(4), topics.updates)[3:]
        assert (settlement["kind"], settlement["previousStatusCode"], settlement["statusCode"]) == (
            "SETTLEMENT",
            None,
            "2",
        )
        assert settlement["amtIndemnified"] == Decimal("1012.34")
        assert settlement["paymentDate"] == date.today() - timedelta(days=1)
        assert settlement["debtor"] == "CLI-0004"

        # every document delivered: the last changes are reported and the file is no longer followed
        await asyncio.to_thread(admin.set_document_status, claim_file, "01", "4")
        await asyncio.to_thread(admin.set_document_status, claim_file, "02", "4")
        await updates(8)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(admin.set_document_status, claim_file, "01", "3")
        await asyncio.sleep(1.5)
        found = await updates(8)
        watch_log = await read_async(kafka, [topics.files], expect=10_000, within=3)  # all of it
    assert sorted(update_facts(schema_registry, found, topics)[4:]) == [
        ("DOCUMENT_STATUS", "1", "01", "3", "4"),
        ("DOCUMENT_STATUS", "1", "02", "1", "4"),
        ("DOCUMENT_STATUS", "2", "01", "1", "4"),
        ("DOCUMENT_STATUS", "2", "02", "1", "4"),
    ]
    assert len(found) == 8, "a change was reported twice, or after the file was settled"
    assert watch_log[-1].value() is None, "the settled file is forgotten (a tombstone)"
    assert {(m.key() or b"").decode() for m in watch_log} == {f"{ORO}/{claim_file}"}


async def test_what_is_known_of_a_file_survives_a_restart(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    admin = sandbox.admin()
    produce(kafka, topics.source, [change("c", None, unpaid("NP-1", "F-1", "CLI-0005"))])
    env = worker_env(kafka, sandbox, schema_registry, topics, CLAIMS_POLL_INTERVAL_SECONDS="0.5")
    async with running(env):
        (result,) = values(schema_registry, await read_async(kafka, [topics.results], expect=1), topics.results)
        claim_file = result["claimFileNo"]
        await asyncio.to_thread(admin.set_document_status, claim_file, "01", "2")
        first = await read_async(kafka, [topics.updates], expect=1)
    assert update_facts(schema_registry, first, topics) == [("DOCUMENT_STATUS", "1", "01", "1", "2")]

    await asyncio.to_thread(admin.set_document_status, claim_file, "01", "3")  # while nobody polls
    async with running(env):
        await read_async(kafka, [topics.updates], expect=2)
        await asyncio.to_thread(admin.set_document_status, claim_file, "02", "3")
        await read_async(kafka, [topics.updates], expect=3)
        await asyncio.sleep(1.5)  # three more polls: nothing repeated
        found = await read_async(kafka, [topics.updates], expect=3)
    assert update_facts(schema_registry, found, topics) == [
        ("DOCUMENT_STATUS", "1", "01", "1", "2"),
        ("DOCUMENT_STATUS", "1", "01", "2", "3"),
        ("DOCUMENT_STATUS", "1", "02", "1", "3"),
    ]
    assert admin.ledger()["nonPaymentDeclarations"] == 1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_crash_between_cesces_answer_and_the_commit_declares_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Any, schema_registry: str
) -> None:
    topics = Topics()
    produce(kafka, topics.source, [change("c", None, unpaid("NP-1", "F-1", "CLI-0002"))])
    env = worker_env(kafka, sandbox, schema_registry, topics)
    admin = sandbox.admin()
    # keyed by debtor already: no re-keying companion, whose outputs would wait for the commit held back below
    env |= {"NON_PAYMENTS_KEYED_BY_DEBTOR": "true"}
    env |= {"WORKER_PROCESSES": "1"}  # one process: the SIGKILL below must hit the engine itself, not its parent
    # a commit interval far away: Cesce answers, then the process dies before anything commits
    with worker_process(
        "non-payments", env | {"WORKER_COMMIT_INTERVAL_MS": "600000"}, str(tmp_path / "first.log")
    ) as first:
        deadline = time.monotonic() + 60
        while not admin.ledger()["claimFiles"]:
            assert time.monotonic() < deadline, "the first worker never declared the non-payment"
            assert first.poll() is None
            time.sleep(0.1)
        time.sleep(0.3)  # Cesce's answer reaches the worker
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert read(kafka, [topics.results, topics.files], expect=0, timeout=2) == []
    with worker_process("non-payments", env, str(tmp_path / "second.log")) as second:
        messages = read(kafka, [topics.results, topics.files], expect=2, timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    (result,) = values(schema_registry, messages, topics.results)
    (watch,) = values(schema_registry, messages, topics.files)
    assert (result["outcome"], result["newClaimFile"]) == ("ALREADY_DECLARED", True)
    assert watch["claimFileNo"] == result["claimFileNo"]
    ledger = admin.ledger()
    assert [(f["claimFileNo"], f["nonPayments"]) for f in ledger["claimFiles"]] == [(result["claimFileNo"], 1)]
    assert ledger["nonPaymentDeclarations"] == 1
