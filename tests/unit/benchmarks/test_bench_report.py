"""The invoices benchmark's figures, checks and targets (`benchmarks.bench_report`), on made-up runs: no sockets.

Each check is shown failing on a run where its guarantee broke (a dead letter, a result missing,
out of order, in two partitions, not declared; a sale declared twice, missing, or reaching Cesce
out of the debtor's order), and silent on a clean run; each regime's target passing and missing.
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
    Target,
    breakdown_ms,
    check_ledger,
    check_results,
    conclusions,
    document,
    halves,
    limited_by,
    make_case,
    problems,
    progress,
    table,
    target_table,
    targets,
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


def ledger_of(invoices: Sequence[Invoice]) -> dict[str, Any]:
    """The sandbox's ledger after declaring `invoices` once each, in that order."""
    return {
        "byDuplicateKey": [{"count": 1}] * len(invoices),
        "sales": [{"customerReference": i.debtor, "invoiceNo": i.invoice_no} for i in invoices],
    }


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
    assert check_ledger(ledger_of(INVOICES), INVOICES) == []
    # debtors interleave in the ledger as they please: only each debtor's own order matters
    assert check_ledger(ledger_of([*INVOICES[1::2], *INVOICES[0::2]]), INVOICES) == []


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
    ledger = ledger_of(INVOICES[:3]) | {"byDuplicateKey": [{"count": 2}, {"count": 1}]}
    assert check_ledger(ledger, INVOICES[:4]) == [
        "ledger: 1 invoices were declared more than once",
        "ledger: 3 sales for 4 invoices",
    ]


def test_the_ledger_finds_a_debtors_sales_out_of_production_order() -> None:
    swapped = [INVOICES[2], INVOICES[1], INVOICES[0], *INVOICES[3:]]  # BENCH-0001's first two swapped
    assert check_ledger(ledger_of(swapped), INVOICES) == [
        "ledger: the sales of 1 debtors reached Cesce out of production order (first BENCH-0001: "
        "['RUN-0001-0002', 'RUN-0001-0001', 'RUN-0001-0003']... for "
        "['RUN-0001-0001', 'RUN-0001-0002', 'RUN-0001-0003']...)"
    ]
    # a missing sale is counted once, not also as a reordering
    assert check_ledger(ledger_of(INVOICES[1:]), INVOICES) == ["ledger: 5 sales for 6 invoices"]


# ---------------------------------------------------------------------------------------------
# The figures


def test_a_case_is_made_of_the_window_between_the_first_and_last_sample() -> None:
    made = case()
    assert (made.invoices, made.debtors, made.seconds, made.produce_seconds) == (10, 2, 2.0, 0.5)
    assert made.first_result_seconds == 0.5
    assert (made.cpu_seconds, made.sandbox_cpu_seconds, made.broker_cpu_seconds) == (3.0, 0.75, 0.0)
    assert (made.steal_percent, made.machine_busy_percent) == (10.0, 0.0)
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


def test_a_worker_case_has_its_trees_peaks_statuses_and_telemetry() -> None:
    made = make_case(
        "worker, 2 processes",
        "worker",
        measurement(
            samples=[
                replace(sample(100.0, 1.0), processes=1),
                replace(sample(101.0, 2.0), processes=3),
                replace(sample(102.0, 4.0), processes=2),
            ],
            peaks_kib=[20 * 1024, 90 * 1024, 95 * 1024],
            exit_code=0,
            otlp={"requests": {"/v1/traces": 3}, "bytes": {"/v1/traces": 3072}},
            stats={"byStatus": {"201": "97", "200": 1, "429": 2}, "faults": {"rateLimited": 2}},
        ),
        measured=make_invoices(10, 2, "RUN"),
        latency_ms=20.0,
        max_in_flight=64,
        jitter_ms=10.0,
        rate_limit=100.0,
        processes=2,
        regimes=["processes"],
    )
    assert (made.processes, made.processes_seen, made.regimes) == (2, 3, ["processes"])
    assert (made.rss_peak_kib, made.rss_peak_sum_kib) == (95 * 1024, 205 * 1024)
    assert made.loop_cpu_seconds == 1.5
    assert (made.calls, made.rate_limited, made.rate_limited_share) == (100, 2, 0.02)
    assert (made.exit_code, made.otlp_requests, made.otlp_kib) == (0, 3, 3.0)
    assert made.summary()["rate_limited_percent"] == 2.0
    assert (made.client_calls, made.calls_in_air, made.mean_call_ms) == (0, None, None)
    measured = make_case(
        "worker",
        "worker",
        measurement(metrics={"calls": 40.0, "call_seconds": 1.0, "in_flight": 20.0, "backpressure": 0.25}),
        measured=make_invoices(10, 2, "RUN"),
        latency_ms=20.0,
        max_in_flight=64,
    )
    assert (measured.calls_in_air, measured.mean_call_ms) == (0.5, 25.0)
    assert (measured.mean_in_flight, measured.backpressure_share) == (20.0, 0.25)


def test_the_ceiling_is_at_the_mean_latency_and_never_above_the_rate_limit() -> None:
    assert case(latency_ms=200.0).nominal_ceiling == 320.0
    assert case(latency_ms=200.0, jitter_ms=100.0).ceiling == pytest.approx(320.0)  # the jitter is centred
    assert case(latency_ms=20.0, jitter_ms=10.0, rate_limit=100.0).ceiling == 100.0
    assert case(max_in_flight=1, latency_ms=20.0, jitter_ms=10.0).ceiling == pytest.approx(50.0)


# ---------------------------------------------------------------------------------------------
# The targets


def regime_cases(*, fast: float, naive: float, slow: float, limited: float, refused: int) -> list[Case]:
    """One case per regime, its rate set through its seconds (10 invoices each)."""
    return [
        case(regimes=["20ms", "processes"], seconds=10 / fast),
        case(name="naive loop", system="naive", max_in_flight=1, regimes=["20ms"], seconds=10 / naive),
        case(name="slow", regimes=["200ms"], latency_ms=200.0, jitter_ms=100.0, seconds=10 / slow),
        case(
            name="limited",
            regimes=["rate-limited"],
            rate_limit=100.0,
            seconds=10 / limited,
            rate_limited=refused,
            cesce_statuses={"201": 1000 - refused, "429": refused},
        ),
        case(name="two", regimes=["processes"], processes=2, processes_seen=3, seconds=10 / (1.5 * fast)),
        case(name="four", regimes=["processes"], processes=4, processes_seen=1, seconds=10 / fast),
    ]


def test_each_regime_passes_its_targets() -> None:
    found = targets(regime_cases(fast=1000, naive=30, slow=300, limited=95, refused=5))
    assert [(t.regime, t.figure, t.verdict) for t in found] == [
        ("20ms", "worker / naive loop", "PASS"),
        ("20ms", "worker rate / ceiling", "-"),
        ("200ms", "rate / (max_in_flight / latency)", "PASS"),
        ("rate-limited", "rate / rate limit", "PASS"),
        ("rate-limited", "calls answered 429", "PASS"),
        ("processes", "1 process", "-"),
        ("processes", "2 processes", "-"),
        ("processes", "4 processes", "-"),
    ]
    assert found[0].value == "33.3x (1000/s / 30.0/s)"
    assert found[2].value == "94% (300/s of 320/s)"
    assert found[2].note == "latency 200 ms +/- 50 ms"
    assert found[4].value == "0.50% (5 of 1000)"
    assert found[6].value == "1500/s, 1.50x the 1-process rate"
    assert found[6].note == "3 processes in the tree (a supervisor and its engines)"
    assert found[7].note == "1 process in the tree (WORKER_PROCESSES not in effect?)"


def test_the_20ms_target_is_the_20ms_worker_s_whatever_its_processes() -> None:
    """The 20 ms regime runs the product's default, one engine per CPU: a 2-process worker is still its worker
    (the target silently vanished when only a 1-process worker counted)."""
    cases = [
        case(regimes=["20ms", "processes"], processes=2, processes_seen=3, seconds=10 / 900),
        case(name="naive loop", system="naive", max_in_flight=1, regimes=["20ms"], seconds=10 / 36),
        case(name="one", regimes=["processes"], seconds=10 / 700),
    ]
    found = targets(cases)
    assert (found[0].figure, found[0].value, found[0].verdict) == (
        "worker / naive loop",
        "25.0x (900/s / 36.0/s)",
        "PASS",
    )
    assert [t.value for t in found if t.regime == "processes"] == [
        "900/s, 1.29x the 1-process rate",
        "700/s",
    ]


def test_each_regime_misses_its_targets() -> None:
    found = targets(regime_cases(fast=700, naive=30, slow=250, limited=80, refused=10))
    assert [t.verdict for t in found if t.passed is not None] == ["MISS"] * 4
    written = document({}, {"cpus": 2}, regime_cases(fast=700, naive=30, slow=250, limited=80, refused=10), 1.0)
    assert written["targets_met"] is False
    assert written["targets"][0]["verdict"] == "MISS"


def test_a_regime_not_run_has_no_target() -> None:
    assert targets([case(regimes=["200ms"], latency_ms=200.0)])[0].regime == "200ms"
    assert targets([case(regimes=["20ms"])]) == [
        Target("20ms", "worker rate / ceiling", "0% (5/s of 3200/s)", "-", None)
    ]
    assert document({}, {"cpus": 2}, [], 1.0)["targets_met"] is True


def test_what_limited_a_case() -> None:
    # 10 invoices in 2 s: rate 5/s; the made-up case keeps 1.88 cores busy unless told otherwise
    idle = {"cpu_seconds": 0.2, "sandbox_cpu_seconds": 0.1, "loop_cpu_seconds": 0.1}
    assert limited_by(case(rate_limit=5.0), 2) == "the sandbox's rate limit (5/s)"
    loop_bound = case(loop_cpu_seconds=1.9)
    assert limited_by(loop_bound, 2).startswith("the worker's event loop (0.95 core per loop")
    two_loops = case(**idle | {"loop_cpu_seconds": 1.9}, processes=2, processes_seen=3)
    assert limited_by(two_loops, 2).startswith("neither CPU")
    assert limited_by(case(), 2).startswith("the machine's cores (1.88 of 2")
    assert limited_by(case(**idle, max_in_flight=1, latency_ms=180.0), 2) == (
        "the latency: max_in_flight / mean latency = 6/s"
    )
    assert limited_by(case(**idle), 2) == "neither CPU (0.15 of 2 cores, event loop 0.05) nor the ceiling (0%): waits"
    waiting = case(
        **idle,
        latency_ms=200.0,
        client_calls=100,
        client_call_seconds=20.0,
        mean_in_flight=44.0,
        backpressure_share=0.5,
    )
    assert limited_by(waiting, 2).endswith(
        "waits; 10.0 Cesce calls in the air on average of 64 allowed, 200 ms each (the sandbox's mean 200 ms); "
        "44.0 records in flight on average, in-flight full (paused) at 50% of the scrapes"
    )
    throttled = replace(waiting, throttle_waits=100, throttle_wait_seconds=3.0)
    assert throttled.mean_throttle_wait_ms == 30.0
    assert "200 ms each (the sandbox's mean 200 ms), after 30 ms in the client's throttle;" in limited_by(throttled, 2)
    lagging = replace(throttled, loop_lag_samples=200, loop_lag_seconds=1.6)
    assert lagging.mean_loop_lag_ms == 8.0
    assert "throttle; the event loops ran what was due 8.0 ms late on average; 44.0 records" in limited_by(lagging, 2)
    assert lagging.summary()["mean_loop_lag_ms"] == 8.0
    assert limited_by(case(**idle, machine_busy_percent=95.0), 2) == (
        "the machine's cores, shared with other work (1.90 of 2 busy, 0.15 of them this case's processes)"
    )


# ---------------------------------------------------------------------------------------------
# What is printed and written


def test_what_is_printed_and_written() -> None:
    worker = case(regimes=["20ms"])
    naive = case(
        name="naive loop",
        system="naive",
        max_in_flight=1,
        seconds=10.0,
        breakdown_ms={"declare": 20.0},
        regimes=["20ms"],
    )
    slow = case(name="worker, max_in_flight 4", max_in_flight=4, problems=["ledger: 1 sales for 2 invoices"])
    cases = [worker, naive, slow]

    assert progress(worker).splitlines()[0] == (
        "  worker, max_in_flight 64: 10 invoices in 2.00 s, 5/s; checks ok (machine 0% busy, stolen by the "
        "hypervisor 10%)"
    )
    assert "1 checks FAILED" in progress(slow)
    assert progress(worker).count("half:") == 2
    assert progress(worker).endswith("\n")

    lines = table(cases).splitlines()
    assert lines[0].split()[:3] == ["run", "invoices", "seconds"]
    assert [line.split("  ")[0] for line in lines[2:]] == [c.name for c in cases]
    assert lines[2].endswith("80/80                 0/0")

    verdicts = target_table(targets(cases)).splitlines()
    assert verdicts[0].split() == ["regime", "figure", "value", "target", "verdict"]
    assert verdicts[2].startswith("20ms")
    assert verdicts[2].endswith("MISS")

    said = conclusions(cases, 2)
    assert said[0].startswith("worker, max_in_flight 64: limited by ")
    assert said[-1] == "naive loop per invoice: declare 20.0 ms"
    assert len(conclusions([worker], 2)) == 1

    assert problems(cases) == ["worker, max_in_flight 4: ledger: 1 sales for 2 invoices"]
    written = document({"invoices": 10}, {"cpus": 2}, cases, 12.34)
    assert list(written) == [
        "parameters",
        "machine",
        "cases",
        "targets",
        "targets_met",
        "checks_passed",
        "problems",
        "wall_seconds",
    ]
    assert (written["checks_passed"], written["targets_met"], written["wall_seconds"]) == (False, False, 12.3)
    assert written["cases"][0]["rate_per_second"] == 5.0
    assert written["cases"][0]["limited_by"].startswith("the machine's cores")
