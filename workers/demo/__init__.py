"""`cesce-worker demo`: the product on the embedded default, with nothing else running.

It starts the Cesce sandbox on a free loopback port and then:

1. runs a scripted client session against it, one checked step per documented rule
   (`workers.demo.session`);
2. starts an embedded Kafka and Schema Registry and every worker on them (invoices; credit requests
   and their follow-up; non-payments and the claims poller; the risk poller), produces each bundled
   sample of ERP changes and follows every change to its result or dead letter (`workers.demo.pipeline`);
   after the invoices, reconciles the month's books of the demo's contract (`workers.demo.reconcile_step`);
3. decides the credit requests left EN TRÁMITE and moves the claim file on, through the sandbox's
   admin API, and checks the FINAL results and claim updates that follow (`workers.demo.followups`);
4. with the risk poller running since the start (its first read reconciled the portfolio), asks a
   larger limit for a known debtor, which stays EN TRÁMITE, and has Cesce grant it for less, reduce
   a limit and cancel another; checks one risk change each, nothing twice (`workers.demo.risk`);
5. reads the sandbox ledger: one sale per invoice, one classification request per request.

Every step is checked; the demo exits 1 if any got an answer other than the expected one, and
leaves nothing running.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from workers.credit_requests import CreditRequestsTopics, credit_requests_specs
from workers.demo.claims_sample import claims_sample
from workers.demo.credit_sample import credit_sample
from workers.demo.followups import claims_followup, credit_followup
from workers.demo.pipeline import Stage, demo_env, run_stage
from workers.demo.reconcile_step import reconcile_step
from workers.demo.report import Report
from workers.demo.risk import CONTRACT, risk_stage
from workers.demo.sample import sample_changes
from workers.demo.session import client_session
from workers.invoices import InvoicesTopics, invoices_specs
from workers.non_payments import NonPaymentsTopics, non_payments_specs
from workers.ops.registry_server import EmbeddedRegistry
from workers.risk import risk_poller_spec
from workers.runtime.embedded import EmbeddedKafka
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve_all
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin
from workers.sandbox.config import SandboxConfig
from workers.sandbox.server import serve_in_thread

__all__ = ["run_demo"]


def _fields(*names: str) -> Callable[[Mapping[str, Any]], str]:
    def detail(result: Mapping[str, Any]) -> str:
        return " ".join(f"{name} {result[name]}" for name in names if result.get(name) is not None)

    return detail


async def _pipelines(sandbox_url: str, admin: SandboxAdmin, report: Report) -> None:
    run = secrets.token_hex(2).upper()
    sample = credit_sample(run)
    invoices, credit, claims = InvoicesTopics(), CreditRequestsTopics(), NonPaymentsTopics()
    with EmbeddedKafka() as kafka, EmbeddedRegistry() as registry, schema_registry_client(registry.url) as client:
        bootstrap = kafka.bootstrap_servers
        env = demo_env(bootstrap, registry.url, sandbox_url) | {"RISK_CONTRACTS": CONTRACT}
        stop = asyncio.Event()
        specs = [*invoices_specs(env), *credit_requests_specs(env), *non_payments_specs(env), risk_poller_spec(env)]
        workers = asyncio.create_task(serve_all(specs, env, stop))
        reader = AvroReader(client)
        try:
            print(f"\n2. {invoices.input} -> invoices worker -> {invoices.results}\n", flush=True)
            stage = Stage(
                invoices.input,
                invoices.results,
                sample_changes(run),
                _fields("saleCesceReferenceNo", "statusCode", "commercialRiskPremium"),
            )
            await run_stage(bootstrap, stage, reader, report)
            await reconcile_step(env, run, report)
            print(f"\n3. {credit.input} -> credit-requests worker -> {credit.results}\n", flush=True)
            stage = Stage(
                credit.input,
                credit.results,
                sample.changes,
                _fields("endorsementNo", "statusCode", "creditLimitGranted", "alreadyRegistered"),
            )
            answers = await run_stage(bootstrap, stage, reader, report)
            print("\n   ... Cesce's risk desk decides the requests EN TRÁMITE\n", flush=True)
            await credit_followup(bootstrap, credit.results, answers=answers, admin=admin, reader=reader, report=report)
            print(f"\n4. {claims.input} -> non-payments worker -> {claims.results}\n", flush=True)
            stage = Stage(
                claims.input,
                claims.results,
                claims_sample(run),
                _fields("claimFileNo", "nonPaymentNo", "newClaimFile"),
            )
            results = await run_stage(bootstrap, stage, reader, report)
            print(f"\n   ... Cesce works the claim file: the claims poller -> {claims.claim_updates}\n", flush=True)
            await claims_followup(
                bootstrap, claims.claim_updates, results=results, admin=admin, reader=reader, report=report
            )
            print("\n5. Cesce changes limits on its own -> risk poller -> cesce.risk-changes\n", flush=True)
            await risk_stage(bootstrap, env, admin=admin, reader=reader, report=report)
        finally:
            stop.set()
            await workers


def _ledger_summary(ledger: dict[str, Any], report: Report) -> None:
    counts = [int(entry["count"]) for entry in ledger.get("byDuplicateKey", [])]
    report.add(
        bool(counts) and max(counts) == 1,
        "sandbox ledger: one sale per invoice",
        f"{len(ledger.get('sales', []))} sales, {sum(c > 1 for c in counts)} declared twice, "
        f"{ledger.get('duplicateAttempts', 0)} duplicate(s) refused",
    )
    files = ledger.get("claimFiles", [])
    report.add(
        bool(files) and len({f["endorsementNo"] for f in files}) == len(files),
        "sandbox ledger: one claim file per debtor",
        f"{len(files)} claim file(s), {sum(int(f['nonPayments']) for f in files)} non-payment(s)",
    )


def run_demo(*, verbose: bool = False) -> int:
    """Run the demo; 0 when every step got its expected answer."""
    level = logging.INFO if verbose else logging.ERROR
    logging.basicConfig(level=level, format="    %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if verbose else level)  # the session raises one logger to INFO for token grants
    if verbose:  # an answered exchange's line is DEBUG (workers.cesce.http)
        logging.getLogger("workers.cesce.http").setLevel(logging.DEBUG)
    report = Report()
    with serve_in_thread(SandboxConfig()) as sandbox:
        print(f"Cesce sandbox serving the default scenario on {sandbox.base_url}", flush=True)
        admin = sandbox.admin()
        print("\n1. The Cesce client against the sandbox, rule by rule\n", flush=True)
        asyncio.run(client_session(sandbox.base_url, admin, report))
        asyncio.run(_pipelines(sandbox.base_url, admin, report))
        print("\n6. What Cesce holds\n", flush=True)
        _ledger_summary(admin.ledger(), report)
    print(f"\n{len(report.rows) - report.failures} of {len(report.rows)} steps got the expected answer.")
    return 1 if report.failures else 0
