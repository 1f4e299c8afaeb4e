"""Cancelling, deactivating a limit and accepting a premium from ERP rows, end to end: the broker over TCP, the
sandbox over HTTP (its default scenario's PPC policy)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.runtime.support import header, produce
from tests.integration.workers.support import read_async
from tests.integration.workers.test_credit_requests_worker import Topics, decoded, running, worker_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.demo.credit_sample import PPC_CONTRACT, request_row
from workers.demo.sample import envelope
from workers.sandbox import SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

MASTER = "34109150331"
TABLE = "credit_requests"


def debtor(run: str, n: int) -> dict[str, str]:
    return {"countryCode": "ES", "taxCode": f"B{run}{n:02d}", "customerReference": f"CLI-{run}-{n:02d}"}


def posts(stats: dict[str, Any], operation: str) -> int:
    """How many POSTs the sandbox served on .../classifications/<operation>."""
    return sum(
        count
        for route, count in stats["byRoute"].items()
        if route.startswith("POST ") and route.endswith(f"/classifications/{operation}")
    )


@pytest.mark.timeout(120)
async def test_a_limit_cancelled_and_a_premium_accepted_from_the_erp_each_once(
    kafka: KafkaBackend, schema_registry: str
) -> None:
    """003 line 18: "Annul Classification, POST /contracts/{contractNo}/classifications/cancel This application
    allows for annul classification."; line 20: "Accept Deny Premium, POST
    /contracts/{contractNo}/classifications/accept-deny-premium This application allows for accept and deny
    Premium."; 001 line 413: "Solo se utiliza para pólizas de modalidad PPC." """
    run = unique_topic("o")[-4:].upper()
    ppc = request_row(f"SOL-{run}-1", "15000.00", contract=PPC_CONTRACT, **debtor(run, 1))
    off, cancel = dict(ppc, limitAction="DEACTIVATE"), dict(ppc, limitAction="CANCEL")
    # a second row of the same debtor, created to cancel: Cesce already shows the limit ANULADA
    cancel_row = request_row(f"SOL-{run}-2", "0.00", contract=PPC_CONTRACT, limitAction="CANCEL", **debtor(run, 1))
    premium = request_row(f"SOL-{run}-3", "60000.00", contract=PPC_CONTRACT, **debtor(run, 3))
    accepted = dict(premium, premiumDecision="ACCEPT")
    master = request_row(f"SOL-{run}-4", "10000.00", contract=MASTER, **debtor(run, 4))
    one, three, four = (f"CLI-{run}-{n:02d}" for n in (1, 3, 4))
    changes = [
        (one, envelope("c", None, ppc, TABLE)),
        (one, envelope("u", ppc, off, TABLE)),
        (one, envelope("u", ppc, off, TABLE)),  # the same change delivered again
        (one, envelope("u", off, cancel, TABLE)),
        (one, envelope("c", None, cancel_row, TABLE)),
        (three, envelope("c", None, premium, TABLE)),
        (three, envelope("u", premium, accepted, TABLE)),
        (three, envelope("u", premium, accepted, TABLE)),  # the same change delivered again
        (four, envelope("c", None, master, TABLE)),
        (four, envelope("u", master, dict(master, limitAction="DEACTIVATE"), TABLE)),
        (four, envelope("d", master, None, TABLE)),  # a delete cancels nothing
    ]
    with serve_in_thread(SandboxConfig()) as sandbox:
        topics = Topics()
        produce(kafka, topics.source, changes)
        async with running(worker_env(kafka, sandbox, schema_registry, topics)):
            # every change answered, and the premium request's FINAL
            messages = await read_async(kafka, [topics.results, f"{topics.source}.dlq"], expect=len(changes) + 1)
        stats, ledger = sandbox.admin().stats(), sandbox.admin().ledger()
    results = decoded(schema_registry, messages, topics.results)
    by_request: dict[str, list[tuple[str, str, bool]]] = {}
    for v in results:
        by_request.setdefault(v["requestId"], []).append((v["stage"], v["outcome"], v["alreadyRegistered"]))
    assert by_request[ppc["requestId"]] == [
        ("ANSWER", "GRANTED", False),
        ("ANSWER", "DEACTIVATED", False),
        ("ANSWER", "NO_CHANGE", False),
        ("ANSWER", "CANCELLED", False),
    ]
    assert by_request[cancel_row["requestId"]] == [("ANSWER", "CANCELLED", True)]
    assert by_request[premium["requestId"]] == [
        ("ANSWER", "PENDING", False),
        ("ANSWER", "PREMIUM_ACCEPTED", False),
        ("ANSWER", "NO_CHANGE", False),
        ("FINAL", "GRANTED", False),
    ]
    assert by_request[master["requestId"]] == [("ANSWER", "GRANTED", False), ("ANSWER", "DELETED_IN_ERP", False)]

    asked = next(v for v in results if v["requestId"] == premium["requestId"] and v["outcome"] == "PENDING")
    assert asked["premiumDecisionNeeded"] is True
    assert asked["premiumAmount"] == Decimal("82.51")  # the policy's 0,13752 % of 60.000,00
    done = {v["outcome"]: v for v in results if v["action"] is not None}
    assert done["CANCELLED"]["action"] == "CANCEL"
    assert done["CANCELLED"]["statusCode"] == "4"
    assert done["PREMIUM_ACCEPTED"]["action"] == "ACCEPT_PREMIUM"
    assert done["PREMIUM_ACCEPTED"]["statusCode"] == "2"

    [refused] = [m for m in messages if m.topic() != topics.results]
    assert (header(refused, "dlq.category"), header(refused, "dlq.error.code")) == ("business", "1522")
    # each operation sent once: one cancel, the PPC deactivation and the refused one, one premium answer
    assert (posts(stats, "cancel"), posts(stats, "activate-deactivate"), posts(stats, "accept-deny-premium")) == (
        1,
        2,
        1,
    )
    kept = [c for c in ledger["classifications"] if c.get("customerReference") == four]
    assert [c["statusCode"] for c in kept] == ["2"], "deleting the row cancelled the limit"
