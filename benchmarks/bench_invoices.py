"""Invoices per second: ``cesce-worker run invoices`` as production runs it, in four regimes, checked.

    .venv/bin/python -m benchmarks.bench_invoices [--regimes 20ms,200ms,rate-limited,processes]
        [--invoices N] [--debtors 300] [--max-in-flight 64] [--naive-invoices 300] [--jitter-ms J]
        [--rate-limit 100] [--processes 1,2,4] [--fast-processes N] [--commit-interval-ms 200]
        [--output results/invoices.json]

Against the Cesce sandbox (``cesce-worker sandbox``, a child process) with a mean latency and, by
default, a uniform jitter of half of it centred on it (``--jitter-ms``: 20 ms is 15-25 ms), the same kind of ERP invoice
changes (Debezium JSON envelopes, op ``c``, dealt round-robin over the debtors, each debtor's
invoices numbered in order) go through:

- **the worker**: ``cesce-worker run invoices``, the production entry point, in a child process of
  its own (`benchmarks.bench_measure.WorkerProcess`): uvloop, ``gc.freeze()``, the health server and
  the OpenTelemetry SDK as ``run_worker`` installs them, traces exported over OTLP/HTTP
  (``OTEL_TRACES_EXPORTER=otlp``) to a discard sink (another child, ``python -m
  benchmarks.bench_measure otlp-sink``), ``OTEL_METRICS_EXPORTER=none`` (the Prometheus reader is
  always there), ``WORKER_MAX_IN_FLIGHT``, ``WORKER_COMMIT_INTERVAL_MS``, ``WORKER_PROCESSES``, a free
  health port. ``INVOICES_KEYED_BY_DEBTOR=true``: the worker alone, reading ``erp.invoices`` keyed by
  debtor; the re-keying companion that ``cesce-worker run invoices`` adds by default is not in the
  measure (the naive loop has none either); the chaos run (``benchmarks.chaos_invoices``) runs it;
- **the naive loop** (``benchmarks.bench_naive``, in this process): one record at a time, consume,
  decode, declare, produce the result, commit the transaction. It is what the runtime exists to
  beat. It is latency-bound (about one call per latency), so it runs over a smaller set of the
  same shape (``--naive-invoices``).

The regimes (``--regimes``, all by default; a case two regimes share runs once), each against its
target (the thresholds are in ``benchmarks.bench_report``, PASS / MISS printed next to each figure):

- ``20ms``: 20 ms latency, 64 in flight, the product's default of one engine process per available CPU
  (``--fast-processes``), and the naive loop: worker / naive >= 25x;
- ``200ms``: 200 ms latency, 64 in flight, 1 process: rate >= 90% of max_in_flight / latency
  (320/s); the jitter is centred on the latency, so the mean call waits 200 ms;
- ``rate-limited``: the sandbox's ``--rate-limit`` (``--rate-limit``, 100/s by default), 20 ms: rate
  >= 90% of the limit, and under 1% of the calls answered 429 (the sandbox's ``/stats``);
- ``processes``: ``WORKER_PROCESSES`` 1, 2 and 4 (``--processes``) at 20 ms: the rate and its
  speed-up over one process, and the processes seen in the tree (no target).

Each case gets a fresh embedded broker and a fresh sandbox, both child processes, and a spawned
observer process produces the invoices and reads the results (``benchmarks.observer``). A warm-up
of a few invoices goes first, then the worker's ``/readyz`` must answer 200, so the timed window
starts with the group joined, the token fetched and connections open; it ends when the last result
is visible to a ``read_committed`` reader (the commit interval included: that is when downstream
sees it).

What is measured, and how: the rate is invoices / seconds from the first produce to the last
result visible (``time.perf_counter`` in the observer). CPU is utime + stime from
``/proc/<pid>/stat`` of the worker's whole process tree (the process and every descendant, walked
again every quarter second since a supervisor's engines appear later; one that exits keeps what
it had last), over the window, per invoice; the event-loop cores are each process's main thread.
Peak memory is each process's VmHWM (peak RSS), the largest and the sum. The sandbox's and the
broker's CPU come from ``/proc`` too, the machine's busy and stolen share from ``/proc/stat``, and
a sampler splits them over the two halves of the run. The worker's own ``/metrics`` (scraped each
second) give its Cesce calls in the air (the client's call durations added up, over the window),
a call's mean duration, the wait in the client's throttle, and the records in flight; the
sandbox's ``/stats`` the calls by status (429s). ``bench_report.limited_by`` says what most likely
bounded each case.

Checked in the same run, or the benchmark exits 1: every invoice has exactly one result and no
dead letter (nothing lost); each debtor's results are in one partition and in the order its
invoices were produced; the sandbox's ledger counts every duplicate-sale key once and holds one
sale per invoice (nothing doubled), and each debtor's sales reached it in production order (nothing
reordered); the worker drained and exited 0 on SIGTERM, and its traces reached the sink. Numbers
are printed as tables and written to ``benchmarks/results/invoices.json``.

This module is the runner (the flags, the regimes planned into cases, what is printed); the parts
are ``bench_workload`` (the invoices produced), ``bench_naive`` (the naive loop), ``bench_measure``
(the children, the observer, the samples; shared with ``bench_risk``) and ``bench_report`` (the
figures, the checks, the targets, the tables).
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
import traceback
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Final

from benchmarks.bench_measure import Measurement, WorkerProcess, free_port, timed_run
from benchmarks.bench_naive import naive_loop, read_result
from benchmarks.bench_report import (
    Case,
    breakdown_ms,
    check_ledger,
    check_results,
    conclusions,
    document,
    make_case,
    problems,
    progress,
    table,
    target_table,
    targets,
)
from benchmarks.bench_workload import INPUT, RESULTS, Invoice, make_invoices, make_warmup
from benchmarks.observer import Read
from benchmarks.services import machine, stop_children_on_sigterm, write_json, write_scenario
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.cpus import available_cpus
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader

__all__ = ["REGIMES", "CaseSpec", "Options", "main", "parse_regimes", "plan", "worker_settings"]

RESULTS_FILE: Final = Path(__file__).parent / "results" / "invoices.json"
REGIMES: Final = ("20ms", "200ms", "rate-limited", "processes")
FAST_MS: Final = 20.0
SLOW_MS: Final = 200.0
DEFAULT_INVOICES: Final = {"20ms": 10000, "200ms": 6000, "processes": 10000}
"""Invoices per regime when ``--invoices`` is not given (the rate-limited regime: `RATE_LIMITED_SECONDS` of
the limit): a few seconds of steady state each, the whole run under ten minutes."""
RATE_LIMITED_SECONDS: Final = 20


@dataclass(frozen=True)
class Options:
    """The command line, as the plan reads it."""

    invoices: int | None = None
    """Every regime's invoices; None: `DEFAULT_INVOICES`."""
    debtors: int = 300
    max_in_flight: int = 64
    naive_invoices: int = 300
    rate_limit: float = 100.0
    jitter_ms: float | None = None
    """The sandbox's jitter, centred on the latency; None: half the latency."""
    processes: tuple[int, ...] = (1, 2, 4)
    commit_interval_ms: int = 200
    fast_processes: int | None = None
    """The 20 ms regime's ``WORKER_PROCESSES``; None: the product's default, one per available CPU."""


@dataclass(frozen=True)
class CaseSpec:
    """One case to run: the system, the sandbox's faults, the worker's settings, the workload; the regimes it serves."""

    system: str  # "worker" or "naive"
    latency_ms: float
    jitter_ms: float
    rate_limit: float | None
    max_in_flight: int
    processes: int
    invoices: int
    debtors: int
    regimes: tuple[str, ...]

    @property
    def name(self) -> str:
        if self.system == "naive":
            return f"naive loop, {self.latency_ms:g} ms"
        limit = f", limit {self.rate_limit:g}/s" if self.rate_limit is not None else ""
        many = "es" if self.processes > 1 else ""
        return f"worker, {self.latency_ms:g} ms, {self.max_in_flight} in flight, {self.processes} process{many}{limit}"

    def same_run(self) -> tuple[object, ...]:
        """Everything but the regimes: two specs alike run once."""
        return (
            self.system,
            self.latency_ms,
            self.jitter_ms,
            self.rate_limit,
            self.max_in_flight,
            self.processes,
            self.invoices,
            self.debtors,
        )


def parse_regimes(text: str) -> tuple[str, ...]:
    """``--regimes``: names from `REGIMES`, comma separated, in the order given; ``all`` or empty for every one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or names == ["all"]:
        return REGIMES
    unknown = [name for name in names if name not in REGIMES]
    if unknown:
        raise ValueError(f"unknown regime {', '.join(unknown)}: choose among {', '.join(REGIMES)}")
    return tuple(dict.fromkeys(names))


def plan(regimes: Sequence[str], options: Options) -> list[CaseSpec]:
    """The cases of `regimes`, in order; a case two regimes share (the 20 ms worker is the processes regime's
    case of as many processes when their sizes agree) runs once and serves both."""

    def jitter(latency_ms: float) -> float:
        return options.jitter_ms if options.jitter_ms is not None else latency_ms / 2

    def invoices(regime: str) -> int:
        if options.invoices is not None:
            return options.invoices
        if regime == "rate-limited":
            return max(1, round(RATE_LIMITED_SECONDS * options.rate_limit))
        return DEFAULT_INVOICES[regime]

    def worker(regime: str, latency_ms: float, *, processes: int = 1, rate_limit: float | None = None) -> CaseSpec:
        count = invoices(regime)
        return CaseSpec(
            "worker",
            latency_ms,
            jitter(latency_ms),
            rate_limit,
            options.max_in_flight,
            processes,
            count,
            min(options.debtors, count),
            (regime,),
        )

    specs: list[CaseSpec] = []
    for regime in regimes:
        if regime == "20ms":
            fast = worker(regime, FAST_MS, processes=options.fast_processes or available_cpus())
            specs.append(fast)
            if options.naive_invoices:
                count = min(options.naive_invoices, fast.invoices)
                # the same shape as the worker's input (as many invoices per debtor), scaled down
                debtors = max(1, round(fast.debtors * count / fast.invoices))
                specs.append(CaseSpec("naive", FAST_MS, jitter(FAST_MS), None, 1, 1, count, debtors, (regime,)))
        elif regime == "200ms":
            specs.append(worker(regime, SLOW_MS))
        elif regime == "rate-limited":
            specs.append(worker(regime, FAST_MS, rate_limit=options.rate_limit))
        else:
            specs.extend(worker(regime, FAST_MS, processes=n) for n in options.processes)
    merged: dict[tuple[object, ...], CaseSpec] = {}
    for spec in specs:
        seen = merged.get(spec.same_run())
        merged[spec.same_run()] = spec if seen is None else replace(seen, regimes=(*seen.regimes, *spec.regimes))
    return list(merged.values())


def worker_settings(spec: CaseSpec, commit_interval_ms: int) -> dict[str, str]:
    """What ``cesce-worker run invoices`` is told beside the broker, the registry, Cesce and OpenTelemetry
    (`benchmarks.bench_measure.worker_env`): the worker alone, keyed by debtor, and the case's settings."""
    return {
        "WORKER_INSTANCE_ID": "bench",
        "WORKER_MAX_IN_FLIGHT": str(spec.max_in_flight),
        "WORKER_COMMIT_INTERVAL_MS": str(commit_interval_ms),
        "WORKER_PROCESSES": str(spec.processes),
        "INVOICES_KEYED_BY_DEBTOR": "true",
        "INVOICES_TOPIC": INPUT,
        "SALE_RESULTS_TOPIC": RESULTS,
    }


def _check_results(spec: CaseSpec, reads: Sequence[Read], produced: Sequence[Invoice], registry_url: str) -> list[str]:
    """`check_results` with `spec`'s decoder: the naive loop's JSON, or the worker's Avro from the registry."""
    if spec.system == "naive":
        return check_results(reads, produced, read_result)
    with schema_registry_client(registry_url) as client:
        reader = AvroReader(client)

        def worker(value: bytes) -> tuple[str, bool]:
            result = reader.decode(value, RESULTS).value
            return str(result["invoiceNo"]), result["outcome"] == "DECLARED"

        return check_results(reads, produced, worker)


def _run_case(spec: CaseSpec, scenario: Path, registry_url: str, commit_interval_ms: int, logs: Path) -> Case:
    """Run one case in a fresh event loop and check it; a printed line as it finishes."""
    run = secrets.token_hex(3).upper()
    steps: dict[str, list[float]] = defaultdict(list)
    measured = make_invoices(spec.invoices, spec.debtors, run)
    warmup = make_warmup(spec.debtors, run)
    measurement: Measurement
    if spec.system == "worker":
        worker = WorkerProcess(
            worker_settings(spec, commit_interval_ms), registry_url, free_port(), logs / f"worker-{run}.log"
        )
        measurement = asyncio.run(
            timed_run(
                spec.name,
                worker.run,
                scenario=scenario,
                latency_ms=spec.latency_ms,
                jitter_ms=spec.jitter_ms,
                rate_limit=spec.rate_limit,
                warmup=warmup,
                measured=measured,
                usage=worker.usage,
                ready=worker.ready,
                metrics=worker.metrics,
            )
        )
        peaks = list(worker.tree.peaks_kib.values()) if worker.tree is not None else []
        measurement = replace(measurement, peaks_kib=peaks, exit_code=worker.exit_code, otlp=worker.otlp)
    else:
        sut = naive_loop(len(measured) + len(warmup), steps)
        measurement = asyncio.run(
            timed_run(
                spec.name,
                sut,
                scenario=scenario,
                latency_ms=spec.latency_ms,
                jitter_ms=spec.jitter_ms,
                warmup=warmup,
                measured=measured,
            )
        )
    case = make_case(
        spec.name,
        spec.system,
        measurement,
        measured=measured,
        latency_ms=spec.latency_ms,
        max_in_flight=spec.max_in_flight,
        jitter_ms=spec.jitter_ms,
        rate_limit=spec.rate_limit,
        processes=spec.processes,
        regimes=spec.regimes,
    )
    case.breakdown_ms = breakdown_ms(steps, len(measured))
    produced = [*warmup, *measured]
    case.problems = _check_results(spec, measurement.reads, produced, registry_url) + check_ledger(
        measurement.ledger, produced
    )
    if spec.system == "worker":
        if case.exit_code != 0:
            case.problems.append(f"the worker exited {case.exit_code} after SIGTERM (0: a clean drain)")
        if not case.otlp_requests:
            case.problems.append("no export reached the OTLP sink: the worker ran without its tracing")
    print(progress(case), end="", flush=True)
    return case


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_invoices", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--regimes",
        default="all",
        help=f"regimes to run, comma separated, among {','.join(REGIMES)} (default all)",
    )
    parser.add_argument(
        "--invoices",
        type=int,
        default=None,
        help="invoices each regime's worker declares (default: 20ms 10000, 200ms 6000, rate-limited "
        f"{RATE_LIMITED_SECONDS} s of the limit, processes 10000)",
    )
    parser.add_argument("--debtors", type=int, default=300, help="debtors they are dealt over (default 300)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="WORKER_MAX_IN_FLIGHT (default 64)")
    parser.add_argument(
        "--naive-invoices", type=int, default=300, help="invoices for the naive loop; 0 skips it (default 300)"
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=None,
        help="sandbox jitter: a uniform width centred on the latency (default half of it)",
    )
    parser.add_argument(
        "--rate-limit", type=float, default=100.0, help="the rate-limited regime's requests per second (default 100)"
    )
    parser.add_argument(
        "--processes", default="1,2,4", help="WORKER_PROCESSES of the processes regime, comma separated (default 1,2,4)"
    )
    parser.add_argument(
        "--fast-processes",
        type=int,
        default=None,
        help="WORKER_PROCESSES of the 20ms regime (default: the product's, one per available CPU)",
    )
    parser.add_argument(
        "--commit-interval-ms", type=int, default=200, help="WORKER_COMMIT_INTERVAL_MS (default 200, the product's)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    return parser


def _options(args: argparse.Namespace) -> tuple[tuple[str, ...], Options]:
    try:
        regimes = parse_regimes(args.regimes)
        processes = tuple(int(v) for v in args.processes.split(",") if v.strip())
    except ValueError as exc:
        raise SystemExit(f"--regimes / --processes: {exc}") from exc
    if (args.invoices is not None and args.invoices < 1) or args.debtors < 1 or args.max_in_flight < 1:
        raise SystemExit("--invoices, --debtors and --max-in-flight must be positive")
    if args.rate_limit <= 0 or (args.jitter_ms is not None and args.jitter_ms < 0) or not processes:
        raise SystemExit("--rate-limit must be positive, --jitter-ms not negative, --processes not empty")
    if any(n < 1 for n in processes) or (args.fast_processes is not None and args.fast_processes < 1):
        raise SystemExit("--processes, --fast-processes: every count must be positive")
    return regimes, Options(
        invoices=args.invoices,
        debtors=args.debtors,
        max_in_flight=args.max_in_flight,
        naive_invoices=max(0, args.naive_invoices),
        rate_limit=args.rate_limit,
        jitter_ms=args.jitter_ms,
        processes=processes,
        commit_interval_ms=args.commit_interval_ms,
        fast_processes=args.fast_processes,
    )


def _machine() -> dict[str, object]:
    return {**machine(), "nproc": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg()}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_children_on_sigterm()
    regimes, options = _options(args)
    specs = plan(regimes, options)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    about = _machine()
    print(
        f"regimes {', '.join(regimes)}: {len(specs)} cases; {about['nproc']} CPUs, load average "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} at start; sandbox jitter "
        f"{'half the latency' if options.jitter_ms is None else f'{options.jitter_ms:g} ms'}",
        flush=True,
    )
    started = time.perf_counter()
    cases: list[Case] = []
    errors: list[str] = []
    largest = max(spec.debtors for spec in specs)
    # one registry for every case, in this process: results are decoded after each case's broker has stopped
    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as directory, EmbeddedRegistry() as registry:
        scenario = write_scenario(largest, Path(directory))
        for spec in specs:
            try:
                cases.append(_run_case(spec, scenario, registry.url, options.commit_interval_ms, Path(directory)))
            except Exception as exc:
                print(f"  {spec.name}: FAILED: {exc!r}", flush=True)
                errors.append(f"{spec.name}: {''.join(traceback.format_exception_only(exc)).strip()}")
    cpus = int(str(about["nproc"]))
    if cases:
        print()
        print(table(cases))
        print()
        print(target_table(targets(cases)))
        print()
        print(*conclusions(cases, cpus), sep="\n")
    parameters = asdict(options) | {"regimes": list(regimes), "cases": [asdict(spec) for spec in specs]}
    report = document(parameters, about, cases, time.perf_counter() - started)
    report["errors"] = errors
    failed = problems(cases) + errors
    write_json(args.output, report)
    print(f"results written to {args.output}")
    if failed:
        print("CHECKS FAILED:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    print("checks: every invoice one result, in input order per debtor, declared once and in order in the ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
