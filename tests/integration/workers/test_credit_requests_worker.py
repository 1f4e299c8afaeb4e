"""The credit-requests worker and its follow-up end to end: the broker over TCP, the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from confluent_kafka import Message

from tests.integration.runtime.support import header, produce, read
from tests.integration.workers.support import decoded as decoded_values
from tests.integration.workers.support import read_async, worker_process
from tests.integration.workers.support import running as serve_running
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.credit_requests import credit_requests_specs
from workers.demo.credit_sample import credit_sample, request_row
from workers.demo.sample import envelope
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.config import Faults

pytestmark = pytest.mark.integration


class Topics:
    def __init__(self) -> None:
        self.source = unique_topic("erp.credit-requests")
        self.results = unique_topic("cesce.classification-results")
        self.pending = unique_topic("cesce.classification-followups")


def worker_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, topics: Topics, **extra: str
) -> dict[str, str]:
    return {
        **base_env(kafka, sandbox, registry, unique_topic("credit-requests")),
        "CREDIT_REQUESTS_TOPIC": topics.source,
        "CLASSIFICATION_RESULTS_TOPIC": topics.results,
        "CLASSIFICATION_FOLLOWUPS_TOPIC": topics.pending,
        "CLASSIFICATION_FOLLOWUP_SECONDS": "0.5",
        **extra,
    }


def running(env: dict[str, str]) -> AbstractAsyncContextManager[None]:
    return serve_running(credit_requests_specs(env), env)


def decoded(registry: str, messages: list[Message], topic: str) -> list[dict[str, Any]]:
    return decoded_values(registry, messages, topic)


async def test_every_path_and_the_follow_up_to_final(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    sample = credit_sample(unique_topic("r")[-4:].upper())
    produce(kafka, topics.source, [(c.key, c.value) for c in sample.changes])
    admin = sandbox.admin()
    async with running(worker_env(kafka, sandbox, schema_registry, topics)):
        # every change's answer, and the FINAL of the request whose premium the sample accepts
        messages = await read_async(kafka, [topics.results, f"{topics.source}.dlq"], expect=len(sample.changes) + 1)
        results = decoded(schema_registry, messages, topics.results)
        answers = [v for v in results if v["stage"] == "ANSWER"]
        pending = {v["requestId"]: v for v in answers if v["outcome"] == "PENDING" and not v["premiumDecisionNeeded"]}
        assert set(pending) == {sample.pending_new_debtor, sample.pending_known_debtor}
        known = pending[sample.pending_known_debtor]
        assert known["endorsementNo"].startswith("300")
        admin.resolve("34109150331", pending[sample.pending_new_debtor]["endorsementNo"], "grant", "200000,00")
        admin.resolve("34109150331", known["endorsementNo"], "reject")
        finals = decoded(
            schema_registry, await read_async(kafka, [topics.results], expect=len(answers) + 3), topics.results
        )
        await asyncio.sleep(1.5)  # three follow-up intervals: nothing more may come
        again = decoded(
            schema_registry, await read_async(kafka, [topics.results], expect=len(answers) + 3), topics.results
        )
    assert len(again) == len(finals) == len(answers) + 3
    got = [m for m in messages if m.topic() != topics.results]
    expected = sorted(c.expect for c in sample.changes)
    assert sorted([v["outcome"] for v in answers] + [f"dlq:{header(m, 'dlq.category')}" for m in got]) == expected
    assert {header(m, "dlq.error.code") for m in got} == {
        "2809",
        "nonPaymentAmount",
        "companyName",
        "creditLimitRequested",
        "1522",  # activate-deactivate on a policy that is not PPC
    }

    final = {v["requestId"]: v for v in finals if v["stage"] == "FINAL"}
    assert final[sample.pending_new_debtor]["outcome"] == "GRANTED"
    assert str(final[sample.pending_new_debtor]["creditLimitGranted"]) == "200000.00"
    assert final[sample.pending_known_debtor]["outcome"] == "REJECTED"
    assert final[sample.pending_known_debtor]["statusCode"] == "3"
    assert final[sample.premium_accepted]["outcome"] == "GRANTED", "the premium accepted, the limit is in force"

    granted = [v for v in answers if v["outcome"] == "GRANTED" and v["contractNo"] == "34109150331"]
    assert [v["alreadyRegistered"] for v in granted] == [False, True], "the repeated event is looked up, not resent"
    assert granted[0]["endorsementNo"] == granted[1]["endorsementNo"]
    ledger = admin.ledger()
    # granted, pending x2, denied, the 2809 one, the PPC limit, the premium one; the repeat and the invalid ones
    # never reached Cesce
    assert ledger["classificationRequests"] == 7


async def test_answers_held_past_the_clients_timeout_are_recognised_not_resent(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    """One debtor, so requests go one at a time and the seeded faults fall the same way every run."""
    faults = Faults(hang_rate=0.35, hang_seconds=1.5)
    with serve_in_thread(SandboxConfig(seed=11, faults=faults)) as faulty:
        topics = Topics()
        amounts = [f"{5000 + 1000 * n}.00" for n in range(8)]
        rows = [request_row(f"SOL-H-{n}", amount, customerReference="CLI-0004") for n, amount in enumerate(amounts)]
        produce(kafka, topics.source, [("CLI-0004", envelope("c", None, row, "credit_requests")) for row in rows])
        env = worker_env(
            kafka, faulty, schema_registry, topics, CESCE_TIMEOUT_SECONDS="0.5", WORKER_OUTAGE_THRESHOLD="100"
        )
        async with running(env):
            messages = await read_async(kafka, [topics.results, f"{topics.source}.dlq"], expect=len(rows), within=90)
        results = decoded(schema_registry, messages, topics.results)
        assert [v["requestId"] for v in results] == [row["requestId"] for row in rows]
        assert {v["outcome"] for v in results} == {"GRANTED"}
        assert [str(v["creditLimitRequested"]) for v in results] == amounts
        ledger = faulty.admin().ledger()
        assert ledger["classificationRequests"] == len(rows), "a request whose answer was lost was sent again"
        assert faulty.admin().stats()["faults"]["hung"] > 0
        assert any(v["alreadyRegistered"] for v in results), "no lost answer was recognised"


@pytest.mark.timeout(120)
async def test_a_pending_request_is_resolved_across_a_restart(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    run = unique_topic("p")[-4:].upper()
    row = request_row(f"SOL-{run}", "300000.00", countryCode="ES", taxCode=f"B{run}99", customerReference=f"CLI-{run}")
    produce(kafka, topics.source, [(row["customerReference"], envelope("c", None, row, "credit_requests"))])
    env = worker_env(kafka, sandbox, schema_registry, topics, CLASSIFICATION_FOLLOWUP_SECONDS="0.3")
    async with running(env):
        first = decoded(schema_registry, await read_async(kafka, [topics.results], expect=1), topics.results)
        # a few checks: the request is re-appended, still pending
        states = decoded(
            schema_registry, await read_async(kafka, [topics.pending], expect=3, within=30), topics.pending
        )
    assert [v["outcome"] for v in first] == ["PENDING"]
    assert [s["checks"] for s in states][:3] == [0, 1, 2]
    states = decoded(schema_registry, read(kafka, [topics.pending], expect=len(states), timeout=5), topics.pending)
    sandbox.admin().resolve("34109150331", first[0]["endorsementNo"], "grant")
    async with running(env):
        results = decoded(schema_registry, await read_async(kafka, [topics.results], expect=2), topics.results)
        await asyncio.sleep(1)
        results = decoded(schema_registry, await read_async(kafka, [topics.results], expect=2), topics.results)
    assert [(v["stage"], v["outcome"]) for v in results] == [("ANSWER", "PENDING"), ("FINAL", "GRANTED")]
    assert results[1]["requestId"] == row["requestId"]
    assert sandbox.admin().ledger()["classificationRequests"] == 1
    tail = read(kafka, [topics.pending], expect=len(states) + 1, timeout=5)
    assert tail[-1].value() is None, "the decided request is forgotten (a tombstone)"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_crash_between_cesces_answer_and_the_commit_asks_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Any, schema_registry: str
) -> None:
    topics = Topics()
    run = unique_topic("k")[-4:].upper()
    row = request_row(f"SOL-{run}", "250000.00", customerReference="CLI-0002")
    produce(kafka, topics.source, [("CLI-0002", envelope("c", None, row, "credit_requests"))])
    env = worker_env(kafka, sandbox, schema_registry, topics, CLASSIFICATION_FOLLOWUP_SECONDS="600")
    admin = sandbox.admin()
    # keyed by debtor already: no re-keying companion, whose outputs would wait for the commit held back below
    env |= {"CREDIT_REQUESTS_KEYED_BY_DEBTOR": "true"}
    env |= {"WORKER_PROCESSES": "1"}  # one process: the SIGKILL below must hit the engine itself, not its parent
    with worker_process(
        "credit-requests", env | {"WORKER_COMMIT_INTERVAL_MS": "600000"}, str(tmp_path / "first.log")
    ) as first:
        deadline = time.monotonic() + 60
        while not admin.ledger()["classificationRequests"]:
            assert time.monotonic() < deadline, "the first worker never asked Cesce"
            assert first.poll() is None
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert read(kafka, [topics.results], expect=0, timeout=2) == []
    with worker_process("credit-requests", env, str(tmp_path / "second.log")) as second:
        messages = read(kafka, [topics.results, topics.pending], expect=2, timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    results = decoded(schema_registry, messages, topics.results)
    assert [(v["outcome"], v["alreadyRegistered"]) for v in results] == [("PENDING", True)]
    assert results[0]["endorsementNo"].startswith("300")
    assert [s["requestId"] for s in decoded(schema_registry, messages, topics.pending)] == [row["requestId"]]
    assert admin.ledger()["classificationRequests"] == 1
