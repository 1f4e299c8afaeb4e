"""The invoices benchmark's regimes planned into cases (`benchmarks.bench_invoices.plan`): pure, no processes."""

from __future__ import annotations

import pytest

from benchmarks.bench_invoices import REGIMES, CaseSpec, Options, parse_regimes, plan, worker_settings
from workers.runtime.cpus import available_cpus


def test_regimes_are_parsed_in_the_order_given() -> None:
    assert parse_regimes("all") == REGIMES
    assert parse_regimes("") == REGIMES
    assert parse_regimes(" 200ms, rate-limited,200ms") == ("200ms", "rate-limited")
    with pytest.raises(ValueError, match="unknown regime 5ms"):
        parse_regimes("20ms,5ms")


def test_every_regime_by_default() -> None:
    cases = plan(REGIMES, Options(fast_processes=2))
    assert [(c.system, c.latency_ms, c.jitter_ms, c.rate_limit, c.processes, c.invoices, c.regimes) for c in cases] == [
        ("worker", 20.0, 10.0, None, 2, 10000, ("20ms", "processes")),
        ("naive", 20.0, 10.0, None, 1, 300, ("20ms",)),
        ("worker", 200.0, 100.0, None, 1, 6000, ("200ms",)),
        ("worker", 20.0, 10.0, 100.0, 1, 2000, ("rate-limited",)),
        ("worker", 20.0, 10.0, None, 1, 10000, ("processes",)),
        ("worker", 20.0, 10.0, None, 4, 10000, ("processes",)),
    ]
    assert {c.max_in_flight for c in cases if c.system == "worker"} == {64}
    assert cases[1].max_in_flight == 1
    assert cases[1].debtors == 9  # the worker's shape: about 33 invoices per debtor
    assert [c.name for c in cases[:5]] == [
        "worker, 20 ms, 64 in flight, 2 processes",
        "naive loop, 20 ms",
        "worker, 200 ms, 64 in flight, 1 process",
        "worker, 20 ms, 64 in flight, 1 process, limit 100/s",
        "worker, 20 ms, 64 in flight, 1 process",
    ]


def test_the_20ms_regime_runs_the_product_s_default_of_one_engine_per_cpu() -> None:
    """Issue 18: `cesce-worker run` runs one engine per available CPU by default; the 20 ms target is the product's."""
    [fast, _naive] = plan(("20ms",), Options())
    assert fast.processes == available_cpus()
    assert plan(("20ms",), Options(fast_processes=1, naive_invoices=0))[0].processes == 1


def test_the_options_size_and_shape_the_cases() -> None:
    options = Options(
        invoices=40, debtors=8, naive_invoices=10, rate_limit=50.0, jitter_ms=0.0, processes=(1, 3), fast_processes=1
    )
    cases = plan(("rate-limited", "processes", "20ms"), options)
    assert [(c.system, c.jitter_ms, c.rate_limit, c.processes, c.invoices, c.debtors, c.regimes) for c in cases] == [
        ("worker", 0.0, 50.0, 1, 40, 8, ("rate-limited",)),
        ("worker", 0.0, None, 1, 40, 8, ("processes", "20ms")),
        ("worker", 0.0, None, 3, 40, 8, ("processes",)),
        ("naive", 0.0, None, 1, 10, 2, ("20ms",)),
    ]
    assert plan(("rate-limited",), Options(rate_limit=20.0))[0].invoices == 400  # 20 s of the limit


def test_the_naive_loop_is_optional_and_never_larger_than_the_worker() -> None:
    assert [c.system for c in plan(("20ms",), Options(naive_invoices=0))] == ["worker"]
    naive = plan(("20ms",), Options(invoices=100, debtors=300, naive_invoices=300))[1]
    assert (naive.invoices, naive.debtors) == (100, 100)


def test_the_worker_is_told_its_case_and_runs_alone_keyed_by_debtor() -> None:
    spec = CaseSpec("worker", 20.0, 10.0, None, 64, 4, 100, 10, ("processes",))
    assert worker_settings(spec, 200) == {
        "WORKER_INSTANCE_ID": "bench",
        "WORKER_MAX_IN_FLIGHT": "64",
        "WORKER_COMMIT_INTERVAL_MS": "200",
        "WORKER_PROCESSES": "4",
        "INVOICES_KEYED_BY_DEBTOR": "true",
        "INVOICES_TOPIC": "erp.invoices",
        "SALE_RESULTS_TOPIC": "cesce.sale-results",
    }
