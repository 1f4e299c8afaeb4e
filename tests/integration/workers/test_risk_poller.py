"""The risk poller end to end: the broker over TCP, the sandbox over HTTP, changes made through its admin API."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ORO, RawCesce
from tests.integration.runtime.support import produce, read
from tests.integration.workers.support import decoded as decoded_values
from tests.integration.workers.support import read_async, worker_process
from tests.integration.workers.support import running as serve_running
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.credit_requests import credit_requests_specs
from workers.demo.credit_sample import request_row
from workers.demo.sample import envelope
from workers.risk import risk_poller_spec
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

SECOND = "38100029218"  # the default scenario's second contract: two debtors in force


class Topics:
    def __init__(self) -> None:
        self.changes = unique_topic("cesce.risk-changes")
        self.limits = unique_topic("cesce.risk-limits")
        self.schedule = unique_topic("cesce.risk-schedule")


def poller_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, topics: Topics, group: str, **extra: str
) -> dict[str, str]:
    return {
        **base_env(kafka, sandbox, registry, group),
        "RISK_CONTRACTS": ORO,
        "RISK_CHANGES_TOPIC": topics.changes,
        "RISK_LIMITS_TOPIC": topics.limits,
        "RISK_SCHEDULE_TOPIC": topics.schedule,
        "RISK_MOVEMENTS_INTERVAL_SECONDS": "0.3",
        **extra,
    }


def running(env: dict[str, str]) -> AbstractAsyncContextManager[None]:
    return serve_running([risk_poller_spec(env)], env)


async def changes(
    kafka: KafkaBackend, registry: str, topics: Topics, expect: int, within: float = 60
) -> list[dict[str, Any]]:
    messages = await read_async(kafka, [topics.changes], expect=expect, within=within)
    return decoded_values(registry, messages, topics.changes)


def by_kind(found: list[dict[str, Any]]) -> Counter[str]:
    return Counter(change["kind"] for change in found)


async def test_every_kind_of_change_once(kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str) -> None:
    topics = Topics()
    admin = sandbox.admin()
    cesce = RawCesce.connect(sandbox)
    try:
        async with running(poller_env(kafka, sandbox, schema_registry, topics, unique_topic("risk"))):
            # the first read is a reconciliation: the contract's whole portfolio, as new to the poller
            first = await changes(kafka, schema_registry, topics, expect=7)
            assert by_kind(first) == {"NEW_LIMIT": 6, "CANCELLED": 1}
            assert all(c["source"] == "PORTFOLIO" and c["previousStatusCode"] is None for c in first)
            admin.set_limit(ORO, "1", "30000,00")  # CLI-0001: 50000 -> 30000
            admin.set_limit(ORO, "2", "150000,00")  # 120000 -> 150000
            admin.set_limit(ORO, "3", cancel=True)  # a debtor in insolvency
            denied = cesce.classify(
                countryCode="ES", taxCode="B99887766", nonPaymentInd="Y", nonPaymentAmount="900,00"
            ).json()
            assert denied["generalData"]["statusCode"] == "3"
            pending = cesce.classify(endorsementNo="4", creditLimitRequested="250000,00").json()
            request = pending["generalData"]["endorsementNo"]
            assert request.startswith("300")
            await asyncio.sleep(1.5)  # a few ticks: the poller learns the 300xxx request EN TRÁMITE
            admin.resolve(ORO, request, "grant", "175000,00")
            found = await changes(kafka, schema_registry, topics, expect=12)
            await asyncio.sleep(1.5)  # more ticks over the same 48-hour window: nothing new
            again = await changes(kafka, schema_registry, topics, expect=12, within=5)
    finally:
        cesce.close()
    assert sorted(c["changeId"] for c in again) == sorted(c["changeId"] for c in found)
    later = {c["kind"]: c for c in found if c["source"] == "MOVEMENTS"}
    assert set(later) == {"REDUCED", "INCREASED", "CANCELLED", "REJECTED", "PENDING_DECIDED"}
    reduced = later["REDUCED"]
    assert (reduced["endorsementNo"], reduced["customerReference"]) == ("1", "CLI-0001")
    assert (str(reduced["previousCreditLimitGranted"]), str(reduced["creditLimitGranted"])) == ("50000.00", "30000.00")
    assert reduced["source"] == "MOVEMENTS"
    assert str(later["INCREASED"]["creditLimitGranted"]) == "150000.00"
    assert (later["CANCELLED"]["previousStatusCode"], later["CANCELLED"]["statusCode"]) == ("2", "4")
    assert later["REJECTED"]["taxCode"] == "B99887766"
    assert later["REJECTED"]["endorsementNo"] == "11"  # 000: the denied request is numbered, with no supplement
    decided = later["PENDING_DECIDED"]
    assert (decided["endorsementNo"], decided["requestEndorsementNo"]) == ("4", request)
    assert (str(decided["creditLimitRequested"]), str(decided["creditLimitGranted"])) == ("250000.00", "175000.00")
    assert decided["previousStatusCode"] == "2"
    assert not decided["inferred"]
    assert len({c["changeId"] for c in found}) == len(found)


@pytest.mark.timeout(120)
async def test_a_portfolio_of_more_than_500_debtors_is_read_to_the_end(
    kafka: KafkaBackend, scenario_file: Callable[[Callable[[dict[str, Any]], None]], Path], schema_registry: str
) -> None:
    def many_debtors(scenario: dict[str, Any]) -> None:
        debtors = scenario["contracts"][0]["debtors"]
        for n in range(600):
            debtors.append(
                {
                    "countryCode": "ES",
                    "taxCode": f"B7{n:07d}",
                    "creditLimitGranted": f"{1000 + n},00",
                    "requestDate": "20240105",
                }
            )

    topics = Topics()
    with serve_in_thread(SandboxConfig(scenario=scenario_file(many_debtors))) as big:
        async with running(poller_env(kafka, big, schema_registry, topics, unique_topic("risk"))):
            found = await changes(kafka, schema_registry, topics, expect=607, within=90)
            await asyncio.sleep(1)  # movements ticks after the reconciliation: nothing repeated
            found = await changes(kafka, schema_registry, topics, expect=607, within=10)
    numbers = {int(c["endorsementNo"]) for c in found}
    assert len(found) == len(numbers) == 607, "every debtor once, pages 1 and 2"
    assert max(numbers) == 607
    assert min(numbers) == 1
    last = next(c for c in found if c["taxCode"] == "B70000599")
    assert (last["kind"], str(last["creditLimitGranted"])) == ("NEW_LIMIT", "1599.00")


@pytest.mark.timeout(120)
async def test_a_restarted_poller_goes_on_from_the_stored_state(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    """Down longer than the movements' 48 hours: the next reconciliation infers the denial it could not see."""
    topics = Topics()
    admin = sandbox.admin()
    env = poller_env(kafka, sandbox, schema_registry, topics, unique_topic("risk"), RISK_PORTFOLIO_INTERVAL_SECONDS="2")
    cesce = RawCesce.connect(sandbox)
    try:
        request = cesce.classify(endorsementNo="5", creditLimitRequested="400000,00").json()["generalData"]
    finally:
        cesce.close()
    async with running(env):
        first = await changes(kafka, schema_registry, topics, expect=7)
    assert request["endorsementNo"].startswith("300")
    assert by_kind(first) == {"NEW_LIMIT": 6, "CANCELLED": 1}
    admin.set_limit(ORO, "1", "45000,00")  # while nobody polls
    async with running(env):
        found = await changes(kafka, schema_registry, topics, expect=8)
    assert [c["kind"] for c in found if c not in first] == ["REDUCED"]
    admin.resolve(ORO, request["endorsementNo"], "reject")
    admin.advance_clock(50 * 3600)  # the denial falls out of the movements' window
    async with running(env):
        found = await changes(kafka, schema_registry, topics, expect=9, within=30)
        await asyncio.sleep(2.5)  # another reconciliation: nothing more
        found = await changes(kafka, schema_registry, topics, expect=9, within=5)
    decided = next(c for c in found if c["inferred"])
    assert (decided["kind"], decided["inferred"], decided["statusCode"]) == ("PENDING_DECIDED", True, "3")
    assert decided["endorsementNo"] == request["endorsementNo"]
    assert decided["source"] == "PORTFOLIO"
    assert len(found) == 9


@pytest.mark.timeout(120)
async def test_two_replicas_publish_each_change_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    group = unique_topic("risk")
    contracts = {"RISK_CONTRACTS": f"{ORO},{SECOND},34100000017"}
    one = poller_env(kafka, sandbox, schema_registry, topics, group, WORKER_INSTANCE_ID="one", **contracts)
    two = poller_env(kafka, sandbox, schema_registry, topics, group, WORKER_INSTANCE_ID="two", **contracts)
    async with running(one), running(two):
        first = await changes(kafka, schema_registry, topics, expect=10)
        sandbox.admin().set_limit(SECOND, "8", "10000,00")
        sandbox.admin().set_limit(ORO, "6", cancel=True)
        found = await changes(kafka, schema_registry, topics, expect=12)
        await asyncio.sleep(1.5)
        found = await changes(kafka, schema_registry, topics, expect=12, within=5)
    assert Counter(c["contractNo"] for c in first) == {ORO: 7, SECOND: 2, "34100000017": 1}
    assert len({c["changeId"] for c in found}) == len(found) == 12
    assert sorted(c["kind"] for c in found if c["source"] == "MOVEMENTS") == ["CANCELLED", "REDUCED"]
    schedules = read(kafka, [topics.schedule], expect=3, timeout=5)
    assert {m.key() for m in schedules} >= {ORO.encode(), SECOND.encode(), b"34100000017"}


@pytest.mark.timeout(120)
async def test_a_pending_credit_request_is_final_once_beside_its_risk_change(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    requests, results, followups = (unique_topic(name) for name in ("erp.credit-requests", "results", "followups"))
    env = poller_env(kafka, sandbox, schema_registry, topics, "unused") | {
        "CREDIT_REQUESTS_TOPIC": requests,
        "CLASSIFICATION_RESULTS_TOPIC": results,
        "CLASSIFICATION_FOLLOWUPS_TOPIC": followups,
        "CLASSIFICATION_FOLLOWUP_SECONDS": "0.3",
    }
    del env["WORKER_GROUP_ID"]  # each worker its own group, as in production
    row = request_row(f"SOL-{unique_topic('q')[-4:]}", "260000.00", customerReference="CLI-0002")
    produce(kafka, requests, [("CLI-0002", envelope("c", None, row, "credit_requests"))])
    async with serve_running([*credit_requests_specs(env), risk_poller_spec(env)], env):
        answer = decoded_values(schema_registry, await read_async(kafka, [results], expect=1), results)[0]
        await changes(kafka, schema_registry, topics, expect=7)
        await asyncio.sleep(1)  # the poller reads the 300xxx request EN TRÁMITE
        sandbox.admin().resolve(ORO, answer["endorsementNo"], "grant", "90000,00")
        found = await changes(kafka, schema_registry, topics, expect=8)
        await read_async(kafka, [results], expect=2)
        await asyncio.sleep(1.5)  # follow-up and poller ticks: nothing more from either
        found = await changes(kafka, schema_registry, topics, expect=8, within=5)
        final = decoded_values(schema_registry, await read_async(kafka, [results], expect=2, within=5), results)
    assert (answer["outcome"], answer["endorsementNo"][:3]) == ("PENDING", "300")
    assert [(r["stage"], r["outcome"]) for r in final] == [("ANSWER", "PENDING"), ("FINAL", "GRANTED")]
    decided = [c for c in found if c["kind"] == "PENDING_DECIDED"]
    assert [c["requestEndorsementNo"] for c in decided] == [answer["endorsementNo"]]
    assert str(decided[0]["creditLimitGranted"]) == str(final[1]["creditLimitGranted"]) == "90000.00"
    assert sandbox.admin().ledger()["classificationRequests"] == 1


@pytest.mark.timeout(120)
async def test_an_outage_is_tried_again_at_the_next_tick_and_nothing_is_dead_lettered(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    admin = sandbox.admin()
    admin.set_faults(maintenance=True)
    async with running(poller_env(kafka, sandbox, schema_registry, topics, unique_topic("risk"))):
        failed: list[dict[str, Any]] = []
        for _ in range(60):
            messages = await read_async(kafka, [topics.schedule], expect=3, within=10)
            failed = [s for s in decoded_values(schema_registry, messages, topics.schedule) if s["failures"]]
            if len(failed) >= 2:
                break
        admin.set_faults(maintenance=False)
        found = await changes(kafka, schema_registry, topics, expect=7)
    assert [s["failures"] for s in failed[:2]] == [1, 2], "each tick tried again, counted"
    assert all(s["lastReadAt"] is None and s["reads"] == 0 for s in failed)
    assert by_kind(found) == {"NEW_LIMIT": 6, "CANCELLED": 1}, "the first read, a reconciliation, once Cesce is back"
    assert read(kafka, [f"{topics.schedule}.dlq"], expect=0, timeout=2) == []


@pytest.mark.timeout(120)
def test_the_poller_process_polls_every_contract_and_stops_cleanly(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    topics = Topics()
    env = poller_env(kafka, sandbox, schema_registry, topics, unique_topic("risk"), RISK_CONTRACTS=f"{ORO}, {SECOND}")
    with worker_process("risk-poller", env, str(tmp_path / "poller.log")) as poller:
        messages = read(kafka, [topics.changes], expect=9, timeout=60)
        poller.send_signal(signal.SIGTERM)
        assert poller.wait(30) == 0, (tmp_path / "poller.log").read_text()
    found = decoded_values(schema_registry, messages, topics.changes)
    assert Counter(c["contractNo"] for c in found) == {ORO: 7, SECOND: 2}
