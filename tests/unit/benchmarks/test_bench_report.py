"""The invoices benchmark's figures and checks (`benchmarks.bench_report`), on made-up runs: no sockets.

Each check is shown failing on a run where its guarantee broke (a dead letter, a result missing,
out of order, in two partitions, not declared; a sale declared twice), and silent on a clean run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from benchmarks.bench_measure import Measurement, Sample
from benchmarks.bench_report import (
    Case,
    breakdown_ms,
    check_ledger,
    check_results,
    conclusions,
    document,
    halves,
    make_case,
    problems,
    progress,
    table,
)
from benchmarks.bench_workload import DLQ, RESULTS, WARMUP_DEBTORS, Invoice, make_invoices, make_warmup
from benchmarks.observer import Read


def decode(value: bytes) -> tuple[str, bool]:
    result = json.loads(value)
    return str(result["invoiceNo"]), bool(result["declared"])


def result(invoice: Invoice, *, partition: int = 0, offset: int = 0, declared: bool = True) -> Read:
    value = json.dumps({"invoiceNo": invoice.invoice_no, "declared": declared}).encode()
    return Read(RESULTS, partition, offset, invoice.debtor, value)


def clean_reads(invoices: Sequence[Invoice]) -> list[Read]:
    return [result(invoice, offset=n) for n, invoice in enumerate(invoices)]


INVOICES = make_invoices(6, 2, "RUN")


def sample(at: float, cpu: float, *, steal: int = 0, total: int = 100) -> Sample:
    return Sample(at=at, cpu=cpu, loop_cpu=cpu / 2, sandbox_cpu=cpu / 4, broker_cpu=0.0, machine=(0, steal, total))


def measurement(**changes: Any) -> Measurement:
    made = Measurement(
        timing={
            "start": 100.0,
            "seconds": 2.0,
            "produce_seconds": 0.5,
            "arrivals": [(0.5, 2), (1.0, 5), (1.5, 8), (2.0, 10)],
        },
        samples=[sample(100.0, 1.0), sample(101.0, 2.0), sample(102.0, 4.0, steal=10, total=200)],
        reads=[],
        rss_baseline_kib=50 * 1024,
        rss_peak_kib=80 * 1024,
        peak_is_this_run=True,
        ledger={},
        stats={"byRoute": {"POST /sales": "10", "GET /token": 1}},
    )
    return replace(made, **changes)


def case(**changes: Any) -> Case:
    made = make_case(
        "worker, max_in_flight 64",
        "worker",
        measurement(),
        measured=make_invoices(10, 2, "RUN"),
        latency_ms=20.0,
        max_in_flight=64,
    )
    return replace(made, **changes)


# ---------------------------------------------------------------------------------------------
# The workload


def test_invoices_are_dealt_round_robin_and_numbered_in_order_per_debtor() -> None:
    assert [i.debtor for i in INVOICES] == ["BENCH-0001", "BENCH-0002"] * 3
    assert [i.invoice_no for i in INVOICES if i.debtor == "BENCH-0002"] == [
        "RUN-0002-0001",
        "RUN-0002-0002",
        "RUN-0002-0003",
    ]
    assert len(make_warmup(100, "RUN")) == WARMUP_DEBTORS
    assert [i.invoice_no for i in make_warmup(2, "RUN")] == ["RUN-0001-0000", "RUN-0002-0000"]


# ---------------------------------------------------------------------------------------------
# The checks


def test_a_clean_run_has_no_problem() -> None:
    assert check_results(clean_reads(INVOICES), INVOICES, decode) == []
    assert check_ledger({"byDuplicateKey": [{"count": 1}] * 6, "sales": [{}] * 6}, 6) == []


def test_a_dead_letter_is_a_problem() -> None:
    reads = [*clean_reads(INVOICES), Read(DLQ, 0, 0, "BENCH-0001", b"")]
    assert check_results(reads, INVOICES, decode) == ["1 invoices were dead-lettered (first key BENCH-0001)"]


def test_a_result_not_declared_is_a_problem() -> None:
    reads = [result(invoice, offset=n, declared=n != 3) for n, invoice in enumerate(INVOICES)]
    assert check_results(reads, INVOICES, decode) == ["1 results are not DECLARED / TARIFICADA"]


def test_results_out_of_order_or_missing_are_problems() -> None:
    swapped = [result(INVOICES[4], offset=0), *clean_reads(INVOICES[1:4]), result(INVOICES[0], offset=4)]
    found = check_results([*swapped, result(INVOICES[5], offset=5)], INVOICES, decode)
    assert found == [
        "BENCH-0001: results ['RUN-0001-0003', 'RUN-0001-0002', 'RUN-0001-0001']... are not the input order "
        "['RUN-0001-0001', 'RUN-0001-0002', 'RUN-0001-0003']..."
    ]
    missing = check_results([r for r in clean_reads(INVOICES) if r.key == "BENCH-0001"], INVOICES, decode)
    assert missing[0] == "results for 1 debtors, invoices for 2"
    assert missing[1].startswith("BENCH-0002: results []... are not the input order")


def test_a_debtor_in_two_partitions_is_a_problem() -> None:
    reads = [result(invoice, partition=int(n == 4), offset=n) for n, invoice in enumerate(INVOICES)]
    assert check_results(reads, INVOICES, decode) == [
        "BENCH-0001: results in more than one partition, so their order is undefined"
    ]


def test_the_ledger_finds_a_sale_declared_twice_or_missing() -> None:
    ledger = {"byDuplicateKey": [{"count": 2}, {"count": 1}], "sales": [{}] * 3}
    assert check_ledger(ledger, 4) == [
        "ledger: 1 invoices were declared more than once",
        "ledger: 3 sales for 4 invoices",
    ]


# ---------------------------------------------------------------------------------------------
# The figures


def test_a_case_is_made_of_the_window_between_the_first_and_last_sample() -> None:
    made = case()
    assert (made.invoices, made.debtors, made.seconds, made.produce_seconds) == (10, 2, 2.0, 0.5)
    assert made.first_result_seconds == 0.5
    assert (made.cpu_seconds, made.sandbox_cpu_seconds, made.broker_cpu_seconds) == (3.0, 0.75, 0.0)
    assert made.steal_percent == 10.0
    assert made.cesce_requests == {"GET /token": 1, "POST /sales": 10}
    assert made.timeline == [(0.5, 2)] * 2 + [(1.0, 5)] * 3 + [(1.5, 8)] * 3 + [(2.0, 10)] * 2
    assert made.rate == 5.0
    assert made.steady_rate == pytest.approx(8 / 1.5)
    assert made.ceiling == 3200.0
    assert made.cores_busy() == pytest.approx(3.75 / 2)
    assert made.problems == []
    assert made.breakdown_ms == {}


def test_halves_split_the_rate_and_the_cores_at_the_sample_nearest_the_middle() -> None:
    first, second = halves(measurement().samples, 100.0, 2.0, [(0.5, 2), (1.0, 5), (2.0, 10)])
    assert first == {
        "seconds": 1.0,
        "rate_per_second": 5.0,
        "process_cores": 1.0,
        "event_loop_cores": 0.5,
        "sandbox_cores": 0.25,
        "broker_cores": 0.0,
    }
    assert (second["rate_per_second"], second["process_cores"]) == (5.0, 2.0)


def test_the_breakdown_leaves_the_warmup_out() -> None:
    steps = {"declare": [1.0, 0.020, 0.030], "transaction": [1.0, 0.002, 0.004]}
    assert breakdown_ms(steps, 2) == {"declare": 25.0, "transaction": 3.0}


def test_what_is_printed_and_written() -> None:
    worker = case()
    naive = case(name="naive loop", system="naive", max_in_flight=1, seconds=10.0, breakdown_ms={"declare": 20.0})
    slow = case(name="worker, max_in_flight 4", max_in_flight=4, problems=["ledger: 1 sales for 2 invoices"])
    cases = [worker, naive, slow]

    assert progress(worker).splitlines()[0] == (
        "  worker, max_in_flight 64: 10 invoices in 2.00 s, 5/s; checks ok (CPU stolen by the hypervisor: 10%)"
    )
    assert "1 checks FAILED" in progress(slow)
    assert progress(worker).count("half:") == 2
    assert progress(worker).endswith("\n")

    lines = table(cases).splitlines()
    assert lines[0].split()[:3] == ["run", "invoices", "seconds"]
    assert [line.split("  ")[0] for line in lines[2:]] == [c.name for c in cases]
    assert lines[2].endswith("80 (+30)")

    said = conclusions(cases)
    assert said[0].startswith("worker / naive: 5.0x")
    assert said[0].endswith("naive loop per invoice: declare 20.0 ms")
    assert said[1].startswith("worker: 0% of max_in_flight / latency = 3200/s")
    assert conclusions([worker])[0].startswith("worker: ")

    assert problems(cases) == ["worker, max_in_flight 4: ledger: 1 sales for 2 invoices"]
    written = document({"invoices": 10}, {"cpus": 2}, cases, 12.34)
    assert list(written) == [
        "parameters",
        "machine",
        "ratio_worker_to_naive",
        "cases",
        "checks_passed",
        "problems",
        "wall_seconds",
    ]
    assert (written["ratio_worker_to_naive"], written["checks_passed"], written["wall_seconds"]) == (5.0, False, 12.3)
    assert written["cases"][0]["rate_per_second"] == 5.0
    assert document({}, {}, [worker], 1.0)["ratio_worker_to_naive"] is None
