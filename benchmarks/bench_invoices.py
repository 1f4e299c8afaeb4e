"""Invoices per second: the invoices worker against a naive one-at-a-time loop, both checked.

    .venv/bin/python -m benchmarks.bench_invoices [--invoices 3000] [--debtors 300]
        [--latency-ms 20] [--max-in-flight 64] [--naive-invoices 300] [--sweep 4,16,128]

Against the Cesce sandbox with a fixed added latency (no jitter), the same kind of ERP invoice
changes (Debezium JSON envelopes, op ``c``, interleaved over the debtors, each debtor's invoices
numbered in order) go through:

- **the worker**: ``workers.runtime.run.serve(invoices_spec(env), env, stop)``, in this process,
  with ``WORKER_MAX_IN_FLIGHT`` from ``--max-in-flight``. ``invoices_spec`` is the worker alone,
  reading ``erp.invoices`` keyed by debtor as ``INVOICES_KEYED_BY_DEBTOR=true`` runs it: the
  re-keying companion that ``cesce-worker run invoices`` adds by default is not in the measure (the
  naive loop has none either); the chaos run (``benchmarks.chaos_invoices``) runs it;
- **the naive loop** (``benchmarks.bench_naive``): one record at a time, consume, decode,
  declare, produce the result, commit the transaction. It is what the runtime exists to beat, so
  the ratio says what key-ordered concurrency buys. It is latency-bound (about one call per
  latency), so by default it runs over a smaller set of the same shape (``--naive-invoices``) to
  keep the run short.

Each run gets a fresh embedded broker and a fresh sandbox, both child processes, and a spawned
observer process produces the invoices and reads the results (``benchmarks.observer``): this
process holds only the system under test, so its CPU time and peak RSS are the worker's own. A
warm-up of a few invoices goes first, so the timed window starts with the group joined, the
token fetched and connections open, and ends when the last result is visible to a
``read_committed`` reader (the commit interval included: that is when downstream sees it).

What is measured, and how: the rate is invoices / seconds from the first produce to the last
result visible (``time.perf_counter`` in the observer). CPU time is ``time.process_time()`` of
this process over that window; the sandbox's and the broker's come from ``/proc/<pid>/stat``, and
a sampler splits all three (and this process's event-loop thread) over the two halves of the run,
which shows which process saturates when. Peak memory is the kernel's VmHWM (peak RSS, the
``ru_maxrss`` figure) of this process, reset before each run through ``/proc/self/clear_refs`` so
it is that run's; not tracemalloc, which would slow every allocation and so the rate it reports.

The ceiling of the worker is ``max_in_flight / latency`` (64 / 20 ms = 3200/s): every call
waits the latency and at most ``max_in_flight`` calls are in the air. The naive loop's is
``1 / latency``. ``--sweep`` repeats the worker run with other ``max_in_flight`` values to show
whether the rate scales with it (if it does not, something other than the latency limits it).

Checked in the same run, or the benchmark exits 1: every invoice has exactly one result and no
dead letter; each debtor's results are in one partition and in the order its invoices were
produced; the sandbox's ledger counts every duplicate-sale key once and holds one sale per
invoice. Numbers are printed as a table and written to ``benchmarks/results/invoices.json``.

This module is the runner (the flags, the cases, what is printed); the parts are
``bench_workload`` (the invoices produced), ``bench_naive`` (the naive loop), ``bench_measure``
(the children, the observer, the samples; shared with ``bench_risk``) and ``bench_report`` (the
figures, the checks, the table).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from benchmarks.bench_measure import SystemUnderTest, timed_run
from benchmarks.bench_naive import naive_loop, read_result
from benchmarks.bench_report import (
    Case,
    Decode,
    breakdown_ms,
    check_ledger,
    check_results,
    conclusions,
    document,
    make_case,
    problems,
    progress,
    table,
)
from benchmarks.bench_workload import RESULTS, WARMUP_DEBTORS, make_invoices, make_warmup
from benchmarks.services import machine, mock_kafka_env, write_json, write_scenario
from workers.invoices import invoices_spec
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader

__all__ = ["main"]

RESULTS_FILE: Final = Path(__file__).parent / "results" / "invoices.json"


def _worker(registry_url: str, max_in_flight: int, commit_interval_ms: int) -> SystemUnderTest:
    """(a) the worker: ``serve(invoices_spec(env), env, stop)`` in this process."""

    async def run(bootstrap: str, cesce: Mapping[str, str], stop: asyncio.Event) -> None:
        env = {
            **mock_kafka_env(bootstrap, registry_url),
            "WORKER_INSTANCE_ID": "bench",
            "WORKER_MAX_IN_FLIGHT": str(max_in_flight),
            "WORKER_COMMIT_INTERVAL_MS": str(commit_interval_ms),
            **cesce,
        }
        await serve(invoices_spec(env), env, stop)

    return run


def _decoder(system: str, registry_url: str) -> Decode:
    """How `system`'s results read: the naive loop's JSON, or the worker's Avro from the registry."""
    if system == "naive":
        return read_result
    reader = AvroReader(schema_registry_client(registry_url))

    def worker(value: bytes) -> tuple[str, bool]:
        result = reader.decode(value, RESULTS).value
        return str(result["invoiceNo"]), result["outcome"] == "DECLARED"

    return worker


@dataclass(frozen=True)
class _Plan:
    invoices: int
    debtors: int
    latency_ms: float
    max_in_flight: int
    naive_invoices: int
    sweep: tuple[int, ...]
    commit_interval_ms: int


def _run_case(plan: _Plan, scenario: Path, registry_url: str, system: str, max_in_flight: int) -> Case:
    """Run one case in a fresh event loop and check it; a printed line as it finishes."""
    run = secrets.token_hex(3).upper()
    steps: dict[str, list[float]] = defaultdict(list)
    if system == "worker":
        name = f"worker, max_in_flight {max_in_flight}"
        measured = make_invoices(plan.invoices, plan.debtors, run)
        debtors = plan.debtors
        sut = _worker(registry_url, max_in_flight, plan.commit_interval_ms)
    else:
        name = "naive loop"
        # The same shape as the worker's input (as many invoices per debtor), scaled down.
        debtors = max(1, round(plan.debtors * plan.naive_invoices / plan.invoices))
        measured = make_invoices(plan.naive_invoices, debtors, run)
        sut = naive_loop(len(measured) + min(WARMUP_DEBTORS, debtors), steps)
    warmup = make_warmup(debtors, run)
    measurement = asyncio.run(
        timed_run(name, sut, scenario=scenario, latency_ms=plan.latency_ms, warmup=warmup, measured=measured)
    )
    case = make_case(
        name, system, measurement, measured=measured, latency_ms=plan.latency_ms, max_in_flight=max_in_flight
    )
    case.breakdown_ms = breakdown_ms(steps, len(measured))
    case.problems = check_results(
        measurement.reads, [*warmup, *measured], _decoder(system, registry_url)
    ) + check_ledger(measurement.ledger, len(warmup) + len(measured))
    print(progress(case), end="", flush=True)
    return case


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_invoices", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=3000, help="invoices the worker declares (default 3000)")
    parser.add_argument("--debtors", type=int, default=300, help="debtors they are dealt over (default 300)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox latency per call (default 20)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="WORKER_MAX_IN_FLIGHT (default 64)")
    parser.add_argument(
        "--naive-invoices", type=int, default=300, help="invoices for the naive loop; 0 skips it (default 300)"
    )
    parser.add_argument(
        "--sweep",
        default="4,16,128",
        help="other max_in_flight values to run the worker with, comma separated; '' for none (default 4,16,128)",
    )
    parser.add_argument(
        "--commit-interval-ms", type=int, default=200, help="WORKER_COMMIT_INTERVAL_MS (default 200, the product's)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.invoices < 1 or args.debtors < 1 or args.max_in_flight < 1 or args.latency_ms <= 0:
        raise SystemExit("--invoices, --debtors, --max-in-flight and --latency-ms must be positive")
    sweep = tuple(int(v) for v in args.sweep.split(",") if v.strip())
    plan = _Plan(
        invoices=args.invoices,
        debtors=min(args.debtors, args.invoices),
        latency_ms=args.latency_ms,
        max_in_flight=args.max_in_flight,
        naive_invoices=min(args.naive_invoices, args.invoices),
        sweep=tuple(v for v in sweep if v != args.max_in_flight),
        commit_interval_ms=args.commit_interval_ms,
    )
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    print(
        f"{plan.invoices} invoices over {plan.debtors} debtors, sandbox latency {plan.latency_ms:g} ms (no jitter), "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    started = time.perf_counter()
    # one registry for every case, in this process: results are decoded after each case's broker has stopped
    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as directory, EmbeddedRegistry() as registry:
        scenario = write_scenario(plan.debtors, Path(directory))
        cases = [_run_case(plan, scenario, registry.url, "worker", plan.max_in_flight)]
        if plan.naive_invoices:
            cases.append(_run_case(plan, scenario, registry.url, "naive", 1))
        cases.extend(_run_case(plan, scenario, registry.url, "worker", value) for value in plan.sweep)
    print()
    print(table(cases))
    print()
    print(*conclusions(cases), sep="\n")
    report = document(asdict(plan), machine(), cases, time.perf_counter() - started)
    failed = problems(cases)
    write_json(args.output, report)
    print(f"results written to {args.output}")
    if failed:
        print("CHECKS FAILED:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    print("checks: every invoice one result, in input order per debtor, declared once in the ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
