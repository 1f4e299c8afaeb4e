"""`cesce-worker demo`: the product on the embedded default, with nothing else running.

It starts the Cesce sandbox on a free loopback port and then:

1. runs a scripted client session against it, one checked step per documented rule
   (`workers.demo.session`);
2. runs the invoices pipeline: an embedded Kafka, the invoices worker, the bundled sample of ERP
   changes, each followed to its result or dead letter (`workers.demo.pipeline`);
3. reads the sandbox ledger to show one sale per invoice.

Every step is checked; the demo exits 1 if any got an answer other than the expected one, and
leaves nothing running.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from workers.demo.pipeline import invoices_pipeline
from workers.demo.report import Report
from workers.demo.session import client_session
from workers.sandbox.config import SandboxConfig
from workers.sandbox.server import serve_in_thread

__all__ = ["run_demo"]


def _ledger_summary(ledger: dict[str, Any], report: Report) -> None:
    counts = [int(entry["count"]) for entry in ledger.get("byDuplicateKey", [])]
    report.add(
        bool(counts) and max(counts) == 1,
        "sandbox ledger: one sale per invoice",
        f"{len(ledger.get('sales', []))} sales, {sum(c > 1 for c in counts)} declared twice, "
        f"{ledger.get('duplicateAttempts', 0)} duplicate(s) refused",
    )


def run_demo(*, verbose: bool = False) -> int:
    """Run the demo; 0 when every step got its expected answer."""
    level = logging.INFO if verbose else logging.ERROR
    logging.basicConfig(level=level, format="    %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # the session raises one logger to INFO to see token grants
    report = Report()
    with serve_in_thread(SandboxConfig()) as sandbox:
        print(f"Cesce sandbox serving the default scenario on {sandbox.base_url}", flush=True)
        admin = sandbox.admin()
        print("\n1. The Cesce client against the sandbox, rule by rule\n", flush=True)
        asyncio.run(client_session(sandbox.base_url, admin, report))
        print("\n2. The invoices pipeline: erp.invoices -> invoices worker -> cesce.sale-results\n", flush=True)
        asyncio.run(invoices_pipeline(sandbox.base_url, report))
        print("\n3. What Cesce holds\n", flush=True)
        _ledger_summary(admin.ledger(), report)
    print(f"\n{len(report.rows) - report.failures} of {len(report.rows)} steps got the expected answer.")
    return 1 if report.failures else 0
