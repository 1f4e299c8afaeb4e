"""Peak memory of one worker process while a 100,000-invoice backlog waits.

    .venv/bin/python -m benchmarks.bench_memory [--invoices 100000] [--debtors 300]
        [--latency-ms 20] [--seconds 60] [--interval 0.5] [--worker-env NAME=VALUE ...]
        [--worker-compression lz4] [--worker-tree PATH] [--worker-log PATH]

The embedded broker (``cesce-worker broker``) and the Cesce sandbox (``cesce-worker sandbox
--latency-ms 20``) run as child processes, and the Schema Registry in this process, as in the
other benchmarks. Before the worker starts, this process produces `--invoices` ERP invoice
changes (Debezium JSON envelopes, op ``c``, as ``bench_workload`` makes them, dealt round-robin
over `--debtors` debtors) to ``erp.invoices``, keyed like Debezium keys a row (its primary key,
``{"invoiceNo":...}``): the re-keying companion has to put them in debtor order, as in
production. The mock keeps only about 5 MiB per partition (`benchmarks.services.MOCK_PARTITION_BYTES`),
so they go zstd-compressed in large batches (as ``bench_row_state`` writes its million rows), and the
run checks that the mock kept every one (the low watermarks stay at 0).

Then the system under test starts: ``cesce-worker run invoices`` as a child process, with the
product's defaults (the worker and its re-keying companion in one process, two consumers and two
transactional producers), ``WORKER_PROCESSES=1`` (one process), and whatever ``--worker-env`` adds
(``KAFKA_QUEUED_MAX_MESSAGES_KBYTES=65536`` to try another prefetch bound). One setting is not the
product's: the worker's producers compress (``KAFKA_COMPRESSION_TYPE``, default ``lz4``;
``--worker-compression none`` leaves it out), since the re-keyer copies the backlog into
``erp.invoices.by-debtor`` and, uncompressed, that can outgrow what the mock keeps per partition (it
would silently drop the oldest records); the run checks that topic's watermarks too.
``--worker-tree`` runs the worker from another copy of the repository (``python -m`` imports
``workers`` from its working directory first): how a "before" is measured against the same harness.

For `--seconds` from its start, every `--interval` seconds, it samples the kernel's figures for the
worker process and any children it has (``/proc/<pid>/status``: ``VmRSS`` the resident set now,
``VmHWM`` its peak; ``/proc/<pid>/stat``: CPU time), the sandbox's count of sale calls
(``/admin/stats``) and the engines' ``cesce.worker.in_flight`` gauges from the worker's ``/metrics``;
not psutil (not a dependency), not tracemalloc (which would slow what it measures). Reported: the
peak (the highest VmHWM of any one process, and of all of them together), the steady resident set
(the median of the last third of the samples), the invoices declared as a rate over the time the
backlog was waiting (from the first sale call to the window's end, or to the last invoice if the
backlog ran out first), the worker's records in flight meanwhile (it should sit at
``WORKER_MAX_IN_FLIGHT``) and its CPU time per sale call. Results go to
``benchmarks/results/memory.json``; the limit the product is held to (150 MB per process, `LIMIT_MB`)
is checked there and the run exits 1 above it, or if the mock dropped records.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.bench_measure import broker_and_sandbox
from benchmarks.bench_workload import INPUT, make_invoices
from benchmarks.services import (
    BULK_PRODUCER,
    MOCK_PARTITION_BYTES,
    cesce_env,
    columns,
    machine,
    mock_kafka_env,
    process_cpu_seconds,
    stop_children_on_sigterm,
    stop_group,
    write_json,
    write_scenario,
)
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, MOCK_PARTITIONS
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["LIMIT_MB", "ProcessMemory", "in_flight", "main", "parse_status", "process_tree", "rate", "steady"]

RESULTS_FILE: Final = Path(__file__).parent / "results" / "memory.json"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
LIMIT_MB: Final = 150.0
"""Peak resident set one worker process may reach with the backlog waiting (issue 18)."""
BY_DEBTOR: Final = f"{INPUT}.by-debtor"
SALE_ROUTE: Final = "POST /sales/v1/contracts/{contractNo}/sales"
_PRODUCER: Final = {**BULK_PRODUCER, "partitioner": "murmur2_random"}  # Java's partitioner, as Debezium's producer
_OWN_VARIABLES: Final = ("KAFKA_", "WORKER_", "CESCE_", "SCHEMA_REGISTRY_", "OTEL_", "INVOICES_", "SALE_RESULTS_")
_STOP_SECONDS: Final = 60.0
_HEALTH_URL: Final = re.compile(r"health and metrics on http://[^:\s]+:(\d+)")
_IN_FLIGHT: Final = re.compile(r"^cesce_worker_in_flight[a-z_]*\{([^}]*)\}\s+(\S+)$", re.MULTILINE)
_WORKER_LABEL: Final = re.compile(r'(?:^|,)worker="([^"]*)"')
_MB: Final = 1000 * 1000  # the "150 MB"; KiB from /proc are converted to it


# ---------------------------------------------------------------------------------------------
# /proc


def parse_status(text: str) -> dict[str, int]:
    """The ``Vm*`` and ``Rss*`` fields of a ``/proc/<pid>/status`` text, in KiB (``VmRSS``, ``VmHWM``...)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name.startswith(("Vm", "Rss")) and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name] = int(parts[0])
    return fields


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # it just exited
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (``/proc/<pid>/task/<tid>/children``), parents first."""
    tree, index = [pid], 0
    while index < len(tree):
        tree.extend(child for child in _children(tree[index]) if child not in tree)
        index += 1
    return tree


def in_flight(metrics: str) -> dict[str, int]:
    """Records in flight per engine (``worker`` label: ``invoices``, ``invoices.rekey``) in a ``/metrics`` text."""
    found: dict[str, int] = {}
    for labels, value in _IN_FLIGHT.findall(metrics):
        worker = _WORKER_LABEL.search(labels)
        if worker is not None:
            found[worker.group(1)] = found.get(worker.group(1), 0) + round(float(value))
    return found


@dataclass
class ProcessMemory:
    """One process's samples: its resident set over time and the highest peak the kernel reported."""

    pid: int
    rss_kib: list[int] = field(default_factory=list)
    peak_kib: int = 0

    def add(self, status: Mapping[str, int]) -> None:
        self.rss_kib.append(status.get("VmRSS", 0))
        self.peak_kib = max(self.peak_kib, status.get("VmHWM", 0), status.get("VmRSS", 0))


def steady(samples: Sequence[int]) -> int:
    """The settled value of a series: the median of its last third (0 for no samples)."""
    if not samples:
        return 0
    return round(statistics.median(samples[len(samples) - max(1, len(samples) // 3) :]))


def _mb(kib: float) -> float:
    return round(kib * 1024 / _MB, 1)


# ---------------------------------------------------------------------------------------------
# The backlog


def produce_backlog(bootstrap: str, invoices: int, debtors: int) -> dict[str, Any]:
    """`invoices` changes to ``erp.invoices``, keyed by the row's primary key, compressed; what was written."""
    producer = Producer({"bootstrap.servers": bootstrap, **MOCK_CLIENT_CONFIG, **_PRODUCER})
    started = time.monotonic()
    raw = 0
    for invoice in make_invoices(invoices, debtors, "MEM"):
        key = json.dumps({"invoiceNo": invoice.invoice_no}).encode()
        raw += len(key) + len(invoice.value)
        while True:
            try:
                producer.produce(INPUT, key=key, value=invoice.value)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(300) > 0:
        raise TimeoutError("the backlog was not all delivered")
    return {
        "invoices": invoices,
        "debtors": debtors,
        "uncompressed_mib": round(raw / 2**20, 1),
        "write_seconds": round(time.monotonic() - started, 1),
    }


def watermarks(bootstrap: str, topic: str) -> dict[str, list[int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-memory-marks", **MOCK_CLIENT_CONFIG})
    try:
        return {
            str(p): list(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10))
            for p in range(MOCK_PARTITIONS)
        }
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# The worker


def worker_env(
    bootstrap: str, registry_url: str, sandbox_url: str, compression: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The environment of ``cesce-worker run invoices``: the caller's, without its own settings, plus the run's."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
    return {
        **inherited,
        **mock_kafka_env(bootstrap, registry_url),
        **cesce_env(sandbox_url, "memory"),
        "WORKER_INSTANCE_ID": "bench-memory",
        "WORKER_PROCESSES": "1",
        "WORKER_HTTP_HOST": "127.0.0.1",
        "WORKER_HTTP_PORT": "0",
        "INVOICES_TOPIC": INPUT,
        **({"KAFKA_COMPRESSION_TYPE": compression} if compression != "none" else {}),
        **extra,
    }


def start_worker(env: Mapping[str, str], log: IO[bytes], tree: Path) -> subprocess.Popen[bytes]:
    """``python -m workers.cli run invoices`` in `tree` (``-m`` imports ``workers`` from there first)."""
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "run", "invoices"],
        env=dict(env),
        cwd=tree,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped by its id, never by a name
    )


@dataclass
class _Samples:
    seconds: list[float] = field(default_factory=list)
    declared: list[int] = field(default_factory=list)
    total_rss_kib: list[int] = field(default_factory=list)
    in_flight: list[dict[str, int]] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    """User + system CPU time of the worker's processes so far."""
    processes: dict[int, ProcessMemory] = field(default_factory=dict)


class _Metrics:
    """The worker's ``/metrics``, once its log has said where."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._url: str | None = None

    def in_flight(self) -> dict[str, int]:
        if self._url is None:
            found = _HEALTH_URL.search(self._log.read_text(errors="replace"))
            if found is None:
                return {}
            self._url = f"http://127.0.0.1:{found.group(1)}/metrics"
        try:
            return in_flight(httpx.get(self._url, timeout=2).text)
        except httpx.HTTPError:
            return {}


def sample(
    worker: subprocess.Popen[bytes], admin: SandboxAdmin, metrics: _Metrics, seconds: float, interval: float
) -> _Samples:
    """The worker's memory and in-flight records and the sandbox's declarations every `interval` for `seconds`
    (or until it exits)."""
    samples = _Samples()
    started = time.monotonic()
    tick = 0
    while (now := time.monotonic() - started) <= seconds and worker.poll() is None:
        total, cpu = 0, 0.0
        for pid in process_tree(worker.pid):
            try:
                status = parse_status(Path(f"/proc/{pid}/status").read_text())
                cpu += process_cpu_seconds(pid)
            except OSError:
                continue
            samples.processes.setdefault(pid, ProcessMemory(pid)).add(status)
            total += status.get("VmRSS", 0)
        samples.cpu_seconds.append(round(cpu, 2))
        samples.seconds.append(round(now, 2))
        samples.total_rss_kib.append(total)
        samples.declared.append(int(admin.stats()["byRoute"].get(SALE_ROUTE, 0)))
        samples.in_flight.append(metrics.in_flight())
        tick += 1
        time.sleep(max(0.0, started + tick * interval - time.monotonic()))
    return samples


def rate(seconds: Sequence[float], declared: Sequence[int], backlog: int) -> dict[str, Any]:
    """Invoices per second while the backlog waited: from the first sample with a declaration to the window's end,
    or to the first sample where all of `backlog` was declared."""
    first = next((i for i, d in enumerate(declared) if d > 0), None)
    if first is None:
        return {"invoices_per_second": 0.0, "over_seconds": 0.0, "backlog_ran_out": False}
    last = next((i for i, d in enumerate(declared) if d >= backlog), len(declared) - 1)
    span = seconds[last] - seconds[first]
    count = declared[last] - declared[first]
    return {
        "invoices_per_second": round(count / span, 1) if span > 0 else 0.0,
        "over_seconds": round(span, 1),
        "backlog_ran_out": declared[last] >= backlog,
    }


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class _Plan:
    invoices: int
    debtors: int
    latency_ms: float
    seconds: float
    interval: float
    worker_compression: str
    worker_env: dict[str, str]
    worker_log: Path | None
    worker_tree: Path


def run(plan: _Plan) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as directory,
        EmbeddedRegistry() as registry,
        broker_and_sandbox(write_scenario(plan.debtors, Path(directory)), plan.latency_ms) as (broker, sandbox),
    ):
        backlog = produce_backlog(broker.address, plan.invoices, plan.debtors)
        input_marks = watermarks(broker.address, INPUT)
        print(f"backlog: {json.dumps(backlog)}; watermarks {input_marks}", flush=True)
        env = worker_env(broker.address, registry.url, sandbox.address, plan.worker_compression, plan.worker_env)
        admin = SandboxAdmin(sandbox.address)
        log_path = Path(directory) / "worker.log"
        with log_path.open("wb") as log:
            worker = start_worker(env, log, plan.worker_tree)
            try:
                samples = sample(worker, admin, _Metrics(log_path), plan.seconds, plan.interval)
                exited = worker.poll()
            finally:
                stop_group(worker, _STOP_SECONDS)
        declared = len(admin.ledger()["sales"])
        by_debtor_marks = watermarks(broker.address, BY_DEBTOR)
        log_tail = log_path.read_text(errors="replace").splitlines()[-5:]
        if plan.worker_log is not None:
            plan.worker_log.write_bytes(log_path.read_bytes())
    return _report(
        plan,
        backlog=backlog,
        input_marks=input_marks,
        by_debtor_marks=by_debtor_marks,
        samples=samples,
        exited=exited,
        declared=declared,
        log_tail=log_tail,
    )


def _report(
    plan: _Plan,
    *,
    backlog: dict[str, Any],
    input_marks: dict[str, list[int]],
    by_debtor_marks: dict[str, list[int]],
    samples: _Samples,
    exited: int | None,
    declared: int,
    log_tail: list[str],
) -> dict[str, Any]:
    processes = list(samples.processes.values())
    peak_kib = max((p.peak_kib for p in processes), default=0)
    per_process = [
        {
            "pid": p.pid,
            "peak_rss_mb": _mb(p.peak_kib),
            "steady_rss_mb": _mb(steady(p.rss_kib)),
            "samples": len(p.rss_kib),
        }
        for p in processes
    ]
    return {
        "plan": asdict(plan),
        "backlog": {
            **backlog,
            "input_watermarks": input_marks,
            "kept_by_mock": all(low == 0 for low, _ in input_marks.values())
            and sum(high for _, high in input_marks.values()) == plan.invoices,
            "by_debtor_watermarks": by_debtor_marks,
            "by_debtor_kept_by_mock": all(low == 0 for low, _ in by_debtor_marks.values()),
            "mock_partition_limit_mib": MOCK_PARTITION_BYTES / 2**20,
        },
        "memory": {
            "limit_mb": LIMIT_MB,
            "peak_rss_mb": _mb(peak_kib),
            "peak_rss_all_processes_mb": _mb(sum(p.peak_kib for p in processes)),
            "steady_rss_mb": _mb(steady(samples.total_rss_kib)),
            "processes": per_process,
            "within_limit": 0 < _mb(peak_kib) <= LIMIT_MB,
        },
        "throughput": {
            **rate(samples.seconds, samples.declared, plan.invoices),
            "worker_in_flight": _in_flight_summary(samples),
            "worker_cpu_ms_per_sale_call": _cpu_per_call(samples),
            "sale_calls_in_window": samples.declared[-1] if samples.declared else 0,
            "declared_in_ledger_at_stop": declared,
        },
        "series": {
            "seconds": samples.seconds,
            "cpu_seconds": samples.cpu_seconds,
            "in_flight": samples.in_flight,
            "rss_mb": [_mb(v) for v in samples.total_rss_kib],
            "sale_calls": samples.declared,
        },
        "worker_exited_early": exited,
        "worker_log_tail": log_tail if exited is not None else [],
        "machine": machine(),
    }


def _cpu_per_call(samples: _Samples) -> float | None:
    """The worker's CPU time (every process, every thread) per sale call, from the first call to the window's end."""
    first = next((i for i, d in enumerate(samples.declared) if d > 0), None)
    if first is None or samples.declared[-1] <= samples.declared[first]:
        return None
    cpu = samples.cpu_seconds[-1] - samples.cpu_seconds[first]
    return round(cpu * 1000 / (samples.declared[-1] - samples.declared[first]), 2)


def _in_flight_summary(samples: _Samples) -> dict[str, Any]:
    """The worker's (not the re-keyer's) records in flight, over the samples since its first declaration."""
    first = next((i for i, d in enumerate(samples.declared) if d > 0), len(samples.declared))
    values = [sample.get("invoices", 0) for sample in samples.in_flight[first:] if sample]
    if not values:
        return {"samples": 0}
    return {
        "samples": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def _summary(report: Mapping[str, Any]) -> str:
    memory, throughput = report["memory"], report["throughput"]
    rows = [
        [
            "peak RSS (MB)",
            "steady RSS (MB)",
            "invoices/s",
            "over (s)",
            "in flight (median)",
            "sale calls",
            "declared at stop",
        ],
        [
            f"{memory['peak_rss_mb']:.1f}",
            f"{memory['steady_rss_mb']:.1f}",
            f"{throughput['invoices_per_second']:.0f}",
            f"{throughput['over_seconds']:.1f}",
            str(throughput["worker_in_flight"].get("median", "-")),
            str(throughput["sale_calls_in_window"]),
            str(throughput["declared_in_ledger_at_stop"]),
        ],
    ]
    return columns(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices in the backlog (default 100000)")
    parser.add_argument("--debtors", type=int, default=300, help="debtors they are dealt over (default 300)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox latency per call (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the worker is watched (default 60)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples (default 0.5)")
    parser.add_argument(
        "--worker-compression",
        default="lz4",
        help="KAFKA_COMPRESSION_TYPE for the worker (its re-keyed copy must fit the mock); 'none' to leave it unset",
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another variable for the worker (repeatable), e.g. KAFKA_QUEUED_MAX_MESSAGES_KBYTES=65536",
    )
    parser.add_argument("--worker-log", type=Path, default=None, help="keep the worker's log there")
    parser.add_argument(
        "--worker-tree",
        type=Path,
        default=REPO_ROOT,
        help="run the worker from this copy of the repository (its workers/ package), e.g. a 'before' copy; "
        "default this one",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_children_on_sigterm()
    if args.invoices < 1 or args.debtors < 1 or args.seconds <= 0 or args.interval <= 0 or args.latency_ms < 0:
        raise SystemExit("--invoices, --debtors, --seconds and --interval must be positive")
    extra = dict(item.split("=", 1) for item in args.worker_env)
    plan = _Plan(
        invoices=args.invoices,
        debtors=min(args.debtors, args.invoices),
        latency_ms=args.latency_ms,
        seconds=args.seconds,
        interval=args.interval,
        worker_compression=args.worker_compression,
        worker_env=extra,
        worker_log=args.worker_log,
        worker_tree=args.worker_tree.resolve(),
    )
    print(
        f"{plan.invoices} invoices waiting over {plan.debtors} debtors, sandbox latency {plan.latency_ms:g} ms, "
        f"watched {plan.seconds:g} s, {os.cpu_count()} cores",
        flush=True,
    )
    report = run(plan)
    print(_summary(report))
    write_json(args.output, report)
    print(f"results written to {args.output}")
    failed = []
    if report["worker_exited_early"] is not None:
        failed.append(f"the worker exited early ({report['worker_exited_early']}): {report['worker_log_tail']}")
    if not report["backlog"]["kept_by_mock"]:
        failed.append("the mock broker dropped part of the backlog")
    if not report["backlog"]["by_debtor_kept_by_mock"]:
        failed.append(f"the mock broker dropped part of {BY_DEBTOR}: set --worker-compression")
    if not report["memory"]["within_limit"]:
        failed.append(f"peak RSS {report['memory']['peak_rss_mb']} MB is over {LIMIT_MB:g} MB")
    if failed:
        print("CHECKS FAILED:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
