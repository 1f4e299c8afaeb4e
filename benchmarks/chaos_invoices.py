"""Chaos for the invoices worker: replicas killed and rescaled, Cesce faulty then down; nothing lost or doubled.

    .venv/bin/python -m benchmarks.chaos_invoices [--invoices 10000] [--debtors 500] [--kills 50]
        [--outage-seconds 300] [--seed 20261206] [--rate 50] [--replicas 4] [--outage-kind errors]

**The system under test** is the product as deployed: ``cesce-worker run invoices`` processes (the
replicas) in one consumer group, each with its own ``WORKER_INSTANCE_ID`` (its pod name, kept across
restarts) and ``WORKER_HTTP_PORT=0``, at the product's settings except the two the README advises for
the mock cluster (``KAFKA_SESSION_TIMEOUT_MS=6000``, ``KAFKA_HEARTBEAT_INTERVAL_MS=500``) and the Cesce
client's timeout (``--cesce-timeout``, 2 s, so that the sandbox's held answers outlast it without
holding a key for the product's 30 s). They run on the embedded broker (``cesce-worker broker``)
against the sandbox (``cesce-worker sandbox --latency-ms 20``), both child processes
(`benchmarks.services`); every process this module starts leads its own process group, and every one
is stopped before it returns. Each replica runs as ``cesce-worker run invoices`` does by default: the
re-keying companion (consumer group ``<group>.rekey``) reads ``erp.invoices`` and writes each change,
keyed by its debtor, to ``erp.invoices.by-debtor`` in one transaction with its offsets, and the worker
reads that topic; so every kill, rebalance and restart hits both loops of the process.

**The ERP** (a thread of this process) produces Debezium JSON envelopes (op ``c``) to ``erp.invoices``
at ``--rate`` per second, keyed by the debtor, each debtor's in order, debtors interleaved:
``--invoices`` sales over ``--debtors`` debtors (BENCH-0001...), and for every fourth debtor a credit
note after every fourth sale, for the debtor's whole open balance (every sale since its previous
credit note). Cesce accepts such a credit note only if each of those sales was declared before it, so
one that overtook its sale is refused, and shows (after ``INVOICES_CREDIT_NOTE_WAIT_SECONDS``, left at
its default). The ERP keys by debtor, as a connector with ``message.key.columns`` does, and the
re-keyer runs all the same: the run checks each debtor's order at Cesce and in the results, which the
product promises across replicas only when one debtor's changes share an input partition. Keyed by
primary key, two changes of one debtor on partitions of different replicas are ordered by timing only
(``docs/debezium.md``), and the order checks would measure that documented limit, not a defect.

**The chaos**, drawn from one seeded generator: Cesce faults for the whole run through the sandbox's
admin API (``--error-rate`` 10% answered 500, ``--hang-rate`` 5% answered after ``--hang-seconds``,
past the client's timeout, ``--drop-rate`` 2% connections cut after Cesce processed the call); one
Cesce outage of ``--outage-seconds`` (every call answered 500, or ``maintenance`` errorCode 18) once 30%
of the inputs have their outcome; the replicas going 1 -> ``--replicas`` a third into the outage ->
1 (SIGTERM, as a scale-down does) once the outage is over and 85% of the inputs are answered;
``--kills`` SIGKILLs of a random running replica, a fifth at random moments of the outage and the rest
at random points of the progress (each a random part of a second after its point), every killed
replica restarted under its own name 0.5 to 2 s later. A replica that exits on its own is restarted
too, and reported. The seed fixes the inputs, the sandbox's fault draws, the kill points and the
harness's choices; when each lands among the processes' own timings is the machine's, so two runs with
one seed are alike, not identical.

**Figures**, from a ``read_committed`` reader of ``cesce.sale-results`` and ``erp.invoices.dlq`` (every
output names what it answers in ``source.topic/partition/offset`` headers, or ``dlq.original.*``: for
the worker's outputs a record of ``erp.invoices.by-debtor``, which the reader reads too, and whose own
``source.*`` headers name the input; a result must also name the input in its ``sourceTopic``,
``sourcePartition`` and ``sourceOffset``) and from the sandbox's ledger
(``GET /sandbox-admin/ledger``): inputs, results, dead letters by category, lost (an input with no
result and no dead letter), duplicate results (an input with more than one output), duplicate sales
(a duplicate-sale key counted twice in Cesce's ledger), per-debtor order violations (a debtor's results
out of its input order; and, Cesce's side, its sales recorded out of that order), the time until
results flow again after the outage, and the end-to-end lag (produced -> outcome visible).

**Guarantees**: the run exits 1 when one breaks: lost, duplicate results, duplicate sales, transient
dead letters, order violations (either side), sales missing from the ledger, any outcome other than a
declared sale (every input is valid: a dead letter of any category, or a result naming another invoice,
is a defect), or records the broker dropped (see below: the run would prove nothing). A run in which
nothing is answered for ``--stall-seconds`` (240) outside the outage and its first minute after stops
there, with each replica's ``/readyz`` and its in-flight and paused metrics recorded, and fails.

**The embedded broker's limit**: each partition of librdkafka's mock keeps only about 5 MiB or 100,000
record batches and silently drops its oldest beyond that (``rdkafka_mock.c``). The run is sized
before it starts (refused when a partition could pass 80% of it; ``--invoices`` up to about 21,000
fit) and checked after: every partition's low watermark must still be 0, and the largest partition's
bytes and offsets are reported against the limits.

The table goes to stdout; everything (figures, examples with topic/partition/offset, the chaos's
events, a timeline, each replica's exits, the workers' warnings) to ``benchmarks/results/chaos.json``.
The workers' logs are kept when a guarantee breaks (their directory is printed).

**The modules**: this one is the command and the run (`run_chaos`); `benchmarks.chaos_report` the
plan, the analysis, the checks and the table (pure); `benchmarks.chaos_workload` the ERP;
`benchmarks.chaos_replicas` the worker processes; `benchmarks.chaos_outputs` the reader of the outputs
and the partitions' sizes; `benchmarks.chaos_conductor` the chaos's schedule and loop.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from benchmarks.chaos_conductor import Conductor
from benchmarks.chaos_outputs import Tap, partition_uses
from benchmarks.chaos_replicas import REPO_ROOT, Fleet, worker_env, worker_warnings
from benchmarks.chaos_report import (
    RESULTS,
    ChaosPlan,
    ChaosReport,
    Delivery,
    Figures,
    Output,
    analyse,
    broken_guarantees,
    broker_summary,
    size_check,
    table,
)
from benchmarks.chaos_workload import Feed, Invoice, make_invoices
from benchmarks.services import Child, machine, stop_children_on_sigterm, write_json, write_scenario
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = [
    "ChaosPlan",
    "ChaosReport",
    "Delivery",
    "Figures",
    "Invoice",
    "Output",
    "analyse",
    "main",
    "make_invoices",
    "run_chaos",
    "size_check",
    "write_report",
]

RESULTS_FILE: Final = Path(__file__).parent / "results" / "chaos.json"

_log = logging.getLogger("chaos")  # the conductor's events and progress lines


# ---------------------------------------------------------------------------------------------
# One run


def _code_state() -> dict[str, Any]:
    """The commit the run tested, and which of its files differed from it (other engineers edit the tree)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - git, with fixed arguments
                ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain", "workers").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_in_workers": changed}


def _sandbox_args(scenario: Path, plan: ChaosPlan) -> list[str]:
    latency, seed = str(plan.latency_ms), str(plan.seed)
    return ["sandbox", "--port", "0", "--scenario", str(scenario), "--latency-ms", latency, "--seed", seed]


def run_chaos(plan: ChaosPlan, *, logs: Path | None = None, force: bool = False) -> ChaosReport:
    """One chaos run on a fresh broker and sandbox; every process it started is stopped when it returns.

    `logs`: where the workers' logs go (kept); by default a temporary directory, deleted unless a
    guarantee broke. `force`: run even when the plan may not fit the embedded broker.
    """
    tag = secrets.token_hex(2).upper()
    invoices = make_invoices(plan, tag)
    sizing = size_check(plan, invoices)
    if not sizing["fits"] and not force:
        raise ValueError(f"the plan may pass 80% of the mock broker's per-partition limits: {sizing}")
    started = time.monotonic()

    def clock() -> float:
        return time.monotonic() - started

    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    workdir = logs if logs is not None else Path(tempfile.mkdtemp(prefix="chaos-invoices-"))
    try:
        report = _run(plan, invoices, workdir, clock, sizing)
    except BaseException:
        print(f"the run failed; the workers' logs: {workdir}", file=sys.stderr)
        raise
    keep = logs is not None or bool(report.problems)
    report.logs = str(workdir) if keep else None
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    report.wall_seconds = round(clock(), 1)
    return report


def _run(
    plan: ChaosPlan, invoices: Sequence[Invoice], workdir: Path, clock: Callable[[], float], sizing: dict[str, Any]
) -> ChaosReport:
    scenario = write_scenario(plan.debtors, workdir)
    pids: list[int] = []
    # the registry in this process, over HTTP like any: every replica shares its ids, and it outlives the broker
    with EmbeddedRegistry() as registry:
        with Child(["broker"], "broker") as broker, Child(_sandbox_args(scenario, plan), "sandbox") as sandbox:
            pids += [broker.pid, sandbox.pid]
            admin = SandboxAdmin(sandbox.address)
            admin.set_faults(
                error_rate=plan.error_rate,
                hang_rate=plan.hang_rate,
                hang_seconds=plan.hang_seconds,
                drop_rate=plan.drop_rate,
            )
            group = f"chaos-invoices-{secrets.token_hex(3)}"
            fleet = Fleet(worker_env(plan, broker.address, registry.url, sandbox.address, group), workdir, clock)
            feed = Feed(broker.address, invoices, plan.rate, clock)
            tap = Tap(broker.address, clock)
            conductor = Conductor(plan, fleet=fleet, admin=admin, feed=feed, tap=tap, clock=clock)
            try:
                tap.start()
                conductor.run()
                conductor.event("stopping the replicas (SIGTERM)")
                fleet.stop_all()
                feed.stopping.set()
                feed.join(60)
                tap.read_to_end()
                conductor.event("read every output to the end of its partition")
            finally:
                fleet.close()
                feed.stopping.set()
                tap.close()
                pids += [p.popen.pid for p in fleet.history]
            ledger, stats = admin.ledger(), admin.stats()
            deliveries = dict(feed.deliveries)
            uses = partition_uses(broker.address, invoices, deliveries, [*tap.outputs, *tap.copies])
            addresses = [broker.address, sandbox.address]
        with schema_registry_client(registry.url) as client:  # closed: its connection would outlive the registry
            reader = AvroReader(client)
            figures = analyse(
                invoices,
                deliveries,
                tap.outputs,
                ledger,
                lambda value: reader.decode(value, RESULTS).value,
                outage_end=conductor.outage_end,
            )
        dropped = [u.name() for u in uses if u.low > 0]
        problems = broken_guarantees(figures, dropped)
        if conductor.timed_out:
            problems.append(f"the run timed out after {plan.timeout_seconds:.0f} s")
        if conductor.stalled is not None:
            problems.append(
                f"the run stalled: no input got its outcome for {plan.stall_seconds:.0f} s from "
                f"{conductor.stalled['since']} s, {conductor.stalled['waiting']} inputs waiting (see 'stalled')"
            )
        if len(deliveries) != len(invoices):
            problems.append(f"only {len(deliveries)} of {len(invoices)} inputs were delivered to the broker")
        return ChaosReport(
            plan=plan,
            figures=figures,
            problems=problems,
            kills=conductor.kills,
            crashes=conductor.crashes,
            timed_out=conductor.timed_out,
            stalled=conductor.stalled,
            outage={
                "start": _round(conductor.outage_start),
                "end": _round(conductor.outage_end),
                "scaled_up": _round(conductor.scaled_up),
                "scaled_down": _round(conductor.scaled_down),
            },
            replicas=[p.summary() for p in fleet.history],
            events=[asdict(e) for e in conductor.events],
            timeline=conductor.timeline,
            broker=broker_summary(sizing, uses),
            sandbox={
                "faults": stats.get("faults", {}),
                "by_status": stats.get("byStatus", {}),
                "by_route": stats.get("byRoute", {}),
            },
            worker_warnings=worker_warnings(workdir),
            pids=pids,
            addresses=addresses,
            logs=None,
            wall_seconds=0.0,
            code=_code_state(),
        )


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def write_report(report: ChaosReport, path: Path) -> None:
    """``chaos.json``: the report, the machine it ran on, and whether every check passed."""
    write_json(path, report.summary() | {"machine": machine(), "checks_passed": not report.problems})


# ---------------------------------------------------------------------------------------------
# The command


def _parser() -> argparse.ArgumentParser:
    defaults = ChaosPlan()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos_invoices", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--invoices", type=int, default=defaults.invoices, help="sales; credit notes come on top (default %(default)s)")
    add("--debtors", type=int, default=defaults.debtors, help="debtors (default %(default)s)")
    add("--kills", type=int, default=defaults.kills, help="SIGKILLs of a random replica (default %(default)s)")
    add("--outage-seconds", type=float, default=defaults.outage_seconds, help="Cesce outage (default %(default)s)")
    add(
        "--outage-kind",
        choices=("errors", "maintenance"),
        default=defaults.outage_kind,
        help="every call answered 500, or maintenance errorCode 18 (default %(default)s)",
    )
    add("--seed", type=int, default=defaults.seed, help="inputs, fault draws and schedule (default %(default)s)")
    add("--rate", type=float, default=defaults.rate, help="inputs produced per second (default %(default)s)")
    add("--replicas", type=int, default=defaults.replicas, help="replicas at the peak (default %(default)s)")
    add("--latency-ms", type=float, default=defaults.latency_ms, help="sandbox latency (default %(default)s)")
    add("--error-rate", type=float, default=defaults.error_rate, help="share answered 500 (default %(default)s)")
    add("--hang-rate", type=float, default=defaults.hang_rate, help="share of answers held (default %(default)s)")
    add("--hang-seconds", type=float, default=defaults.hang_seconds, help="how long (default %(default)s)")
    add("--drop-rate", type=float, default=defaults.drop_rate, help="share of connections cut (default %(default)s)")
    add(
        "--cesce-timeout",
        type=float,
        default=defaults.cesce_timeout_seconds,
        help="the workers' CESCE_TIMEOUT_SECONDS (default %(default)s)",
    )
    add("--timeout", type=float, default=defaults.timeout_seconds, help="give up after (default %(default)s s)")
    add(
        "--stall-seconds",
        type=float,
        default=defaults.stall_seconds,
        help="give up when nothing was answered for this long outside the outage (default %(default)s)",
    )
    add("--worker-env", action="append", default=[], metavar="NAME=VALUE", help="extra variable for the replicas")
    add("--logs", type=Path, help="keep the workers' logs here (default: kept only when a guarantee breaks)")
    add("--force", action="store_true", help="run even if the plan may not fit the embedded broker")
    add("--output", type=Path, default=RESULTS_FILE, help="JSON results (default %(default)s)")
    return parser


def _plan(args: argparse.Namespace) -> ChaosPlan:
    extra = []
    for item in args.worker_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--worker-env wants NAME=VALUE, got {item!r}")
        extra.append((name, value))
    try:
        return ChaosPlan(
            invoices=args.invoices,
            debtors=args.debtors,
            kills=args.kills,
            outage_seconds=args.outage_seconds,
            outage_kind=args.outage_kind,
            seed=args.seed,
            rate=args.rate,
            replicas=args.replicas,
            latency_ms=args.latency_ms,
            error_rate=args.error_rate,
            hang_rate=args.hang_rate,
            hang_seconds=args.hang_seconds,
            drop_rate=args.drop_rate,
            cesce_timeout_seconds=args.cesce_timeout,
            timeout_seconds=args.timeout,
            stall_seconds=args.stall_seconds,
            worker_env=tuple(extra),
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = _plan(args)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(progress)
    _log.setLevel(logging.INFO)
    _log.propagate = False
    stop_children_on_sigterm()
    print(
        f"{plan.invoices:,} sales and their credit notes over {plan.debtors} debtors at {plan.rate:g}/s; "
        f"{plan.kills} kills, replicas 1 -> {plan.replicas} -> 1, a {plan.outage_seconds:g} s Cesce outage, "
        f"faults {plan.error_rate:.0%} 500s / {plan.hang_rate:.0%} held / {plan.drop_rate:.0%} dropped; "
        f"seed {plan.seed}",
        flush=True,
    )
    try:
        report = run_chaos(plan, logs=args.logs, force=args.force)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print()
    print(table(report))
    print()
    for kind, examples in report.figures.examples.items():
        print(f"{kind}:", *examples[:5], sep="\n  ")
    if report.stalled is not None:
        print("stalled; the replicas then:", *(json.dumps(p) for p in report.stalled["replicas"]), sep="\n  ")
    write_report(report, args.output)
    print(f"results written to {args.output}")
    if report.problems:
        print("GUARANTEES BROKEN:", *report.problems, sep="\n  ", file=sys.stderr)
        if report.logs:
            print(f"the workers' logs: {report.logs}", file=sys.stderr)
        return 1
    print("every guarantee held: nothing lost, nothing twice, every debtor in order, no transient dead letter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
