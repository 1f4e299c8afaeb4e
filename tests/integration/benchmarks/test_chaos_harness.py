"""The chaos harness (`benchmarks.chaos_invoices`) at a small size: its own functions, its own guarantees.

Invoice worker processes on the embedded broker against the sandbox, with Cesce's faults, three SIGKILLs,
the replicas going 1 -> 4 -> 1 during a short outage; every guarantee the full run checks is asserted,
and every process and port the run opened is gone afterwards.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from benchmarks.chaos_invoices import run_chaos, write_report
from benchmarks.chaos_report import ChaosPlan, table

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHORT = ChaosPlan(
    invoices=200,
    debtors=20,
    kills=3,
    outage_seconds=4.0,
    rate=100.0,
    settle_seconds=5.0,
    timeout_seconds=150.0,
    seed=15,
)


def _refused(address: str) -> bool:
    host, _, port = address.removeprefix("http://").partition(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port.rstrip("/"))), timeout=2):
            return False
    except OSError:
        return True


@pytest.mark.timeout(240)
def test_a_short_chaos_run_loses_nothing_publishes_nothing_twice_and_keeps_order(tmp_path: Path) -> None:
    started = time.monotonic()
    report = run_chaos(SHORT, logs=tmp_path / "logs")
    write_report(report, tmp_path / "chaos.json")
    figures = report.figures
    examples = "\n".join(f"{kind}: {found}" for kind, found in figures.examples.items())
    assert report.problems == [], f"{table(report)}\n{examples}\nlogs: {report.logs}"

    credit_notes = 5 * (10 // 4)  # every fourth debtor, after its 4th and 8th sale
    assert (figures.inputs, figures.sales, figures.credit_notes) == (200 + credit_notes, 200, credit_notes)
    assert figures.results == figures.inputs
    assert set(figures.outcomes) <= {"DECLARED", "ALREADY_DECLARED"}
    assert figures.dead_letters == 0
    assert figures.lost == figures.duplicate_results == figures.duplicate_sales == 0
    assert figures.order_violations == figures.cesce_order_violations == figures.missing_sales == 0
    assert figures.ledger_sales == figures.inputs

    # the chaos happened: kills, an outage with the scale-up inside it, then the scale-down, and faults
    assert report.kills == SHORT.kills
    assert sum(r["how"] == "killed" for r in report.replicas) == SHORT.kills
    start, scaled_up, end, scaled_down = (report.outage[m] for m in ("start", "scaled_up", "end", "scaled_down"))
    assert start is not None
    assert scaled_up is not None
    assert end is not None
    assert scaled_down is not None
    assert start < scaled_up < end < scaled_down
    assert {r["instance"] for r in report.replicas} == {"chaos-1", "chaos-2", "chaos-3", "chaos-4"}
    faults = report.sandbox["faults"]
    assert faults["errors"] > 0
    assert faults["hung"] + faults["dropped"] > 0
    assert figures.recovery_seconds is not None
    assert figures.lag_peak_seconds is not None
    assert figures.lag_peak_seconds > 0
    assert report.broker["dropped"] == []
    # the replicas ran the default re-keying path: every input went through erp.invoices.by-debtor
    rekeyed = [p for p in report.broker["partitions"] if p["topic"] == "erp.invoices.by-debtor"]
    assert sum(p["records"] for p in rekeyed) >= figures.inputs

    # every process reaped, every port closed, the report written
    assert all(r["exit_code"] is not None for r in report.replicas)
    assert all(_refused(address) for address in report.addresses)
    written = json.loads((tmp_path / "chaos.json").read_text())
    assert written["checks_passed"] is True
    assert written["figures"]["inputs"] == figures.inputs
    assert time.monotonic() - started < 200
