"""How the benchmarks measure: the children (broker, sandbox, worker, OTLP sink), CPU and peak RSS, the timed run.

Shared by ``bench_invoices`` and ``bench_risk``: `broker_and_sandbox` starts both child processes
(``benchmarks.services.Child``), so the benchmark's process holds at most the system under test; a
`Window` resets the kernel's peak RSS of this process (VmHWM, the ``ru_maxrss`` figure, through
``/proc/self/clear_refs``) and notes the wall-clock and CPU time it opened at, so what it reports is
that window's; not tracemalloc, which would slow every allocation and so the rate reported.

For ``bench_invoices``, `timed_run` runs a `SystemUnderTest` against a spawned observer process
(`Observer`, the parent's end of ``benchmarks.observer.observe``) that produces the invoices and
reads the results: the window starts after a warm-up, when the group is joined, the token fetched
and the connections open, and ends when the last result is visible to a ``read_committed`` reader
(``time.perf_counter`` in the observer). The system under test is either `WorkerProcess`
(``cesce-worker run invoices``, the production entry point, in a child process of its own, with
the OpenTelemetry SDK exporting traces to an `otlp_sink` child) or a coroutine in this process
(the naive loop). Meanwhile a `Sampler` takes a `Sample` every quarter second: the CPU time of the
system under test (for the worker, its whole process tree, `ProcessTree`; for an in-process one,
``time.process_time()``), of its event-loop threads, of the sandbox and the broker
(``/proc/<pid>/stat``), and the machine's stolen ticks, so the report can split the cost over the
run (``benchmarks.bench_report.halves``).

``python -m benchmarks.bench_measure otlp-sink`` is the discard OTLP/HTTP sink (`otlp_sink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks.bench_workload import DLQ, INPUT, RESULTS, Invoice
from benchmarks.observer import Read, observe
from benchmarks.services import (
    Child,
    cesce_env,
    machine_ticks,
    mock_kafka_env,
    reset_peak_rss,
    rss_kib,
    stat_cpu_seconds,
    stop_group,
    thread_cpu_seconds,
)
from workers.sandbox.admin_client import SandboxAdmin

__all__ = [
    "RUN_TIMEOUT",
    "Measurement",
    "MetricsPoller",
    "Observer",
    "ProcessTree",
    "Sample",
    "Sampler",
    "SystemUnderTest",
    "Usage",
    "Window",
    "WorkerProcess",
    "broker_and_sandbox",
    "free_port",
    "otlp_sink",
    "this_process",
    "timed_run",
    "worker_env",
    "worker_metrics",
]

RUN_TIMEOUT: Final = 180.0
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
WORKER_STOP_SECONDS: Final = 60.0
"""How long a SIGTERMed worker may drain (the product's drain is 20 s) before it is SIGKILLed."""
_MAIN_THREAD: Final = threading.get_native_id()  # asyncio.run runs an in-process system under test's loop here
_OWN_VARIABLES: Final = re.compile(
    r"^(KAFKA_|WORKER_|CESCE_|SCHEMA_REGISTRY_|OTEL_|INVOICES_|SALE_RESULTS_|LOG_FORMAT$|LOG_LEVEL$)"
)


@contextlib.contextmanager
def broker_and_sandbox(
    scenario: Path,
    latency_ms: float | None = None,
    *,
    jitter_ms: float | None = None,
    rate_limit: float | None = None,
) -> Iterator[tuple[Child, Child]]:
    """A fresh embedded broker and a fresh sandbox serving `scenario`, with an added latency, a uniform
    jitter around it and a rate limit (requests per second, excess answered 429) if given. The jitter is
    centred: the sandbox waits ``latency - jitter / 2`` plus up to `jitter_ms`, so the mean is `latency_ms`."""
    sandbox_args = ["sandbox", "--port", "0", "--scenario", str(scenario)]
    if latency_ms is not None and jitter_ms:
        latency_ms = max(latency_ms - jitter_ms / 2, 0.0)
    for option, value in (("--latency-ms", latency_ms), ("--jitter-ms", jitter_ms), ("--rate-limit", rate_limit)):
        if value is not None:
            sandbox_args += [option, str(value)]
    with Child(["broker"], "broker") as broker, Child(sandbox_args, "sandbox") as sandbox:
        yield broker, sandbox


class Window:
    """This process's wall-clock time, CPU time and peak RSS from the moment it is opened.

    Opening one resets the kernel's peak (VmHWM) to the current RSS, so `peak_rss_kib` is this
    window's, not the process's lifetime maximum (unless the kernel refused: `peak_is_own` False).
    """

    def __init__(self) -> None:
        self.rss_baseline_kib: int = rss_kib()["rss"]
        self.peak_is_own = reset_peak_rss()
        self.started = time.monotonic()
        self._cpu_started = time.process_time()

    def cpu_seconds(self) -> float:
        """CPU time of this process (every thread) since the window opened."""
        return time.process_time() - self._cpu_started

    @staticmethod
    def peak_rss_kib() -> int:
        return int(rss_kib()["peak"])


# ---------------------------------------------------------------------------------------------
# The system under test's CPU and memory


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds so far of a system under test: every thread, its event-loop threads, and how many processes."""

    cpu: float
    loop_cpu: float
    processes: int


def this_process() -> Usage:
    """This process's: ``time.process_time()`` and the main thread (where ``asyncio.run`` runs the loop)."""
    return Usage(time.process_time(), thread_cpu_seconds(_MAIN_THREAD), 1)


def parse_children(text: str) -> list[int]:
    """The pids in a ``/proc/<pid>/task/<tid>/children`` text."""
    return [int(pid) for pid in text.split()]


def parse_peak_kib(status: str) -> int | None:
    """VmHWM (peak RSS, KiB) from a ``/proc/<pid>/status`` text; None for a process without memory (a zombie)."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def worker_metrics(exposition: str) -> dict[str, float]:
    """From a worker's Prometheus `exposition`, summed over every label (operation, status, process):
    ``calls`` and ``call_seconds``, the Cesce client's duration histogram (calls so far and the time they took
    together); ``in_flight``, records being handled; ``backpressure``, engines paused because in-flight is full;
    ``throttle_waits`` and ``throttle_seconds``, the time calls waited for their turn in the client's throttle;
    ``lag_samples`` and ``lag_seconds``, how late the event loops woke for their heartbeats (``event_loop_lag``)."""
    found = dict.fromkeys(
        (
            "calls",
            "call_seconds",
            "in_flight",
            "backpressure",
            "throttle_waits",
            "throttle_seconds",
            "lag_samples",
            "lag_seconds",
        ),
        0.0,
    )
    for line in exposition.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = re.split(r"[{\s]", line, maxsplit=1)[0]
        try:
            value = float(line.rsplit(maxsplit=1)[-1])
        except ValueError:
            continue
        if name.startswith("cesce_client_duration") and name.endswith("_count"):
            found["calls"] += value
        elif name.startswith("cesce_client_duration") and name.endswith("_sum"):
            found["call_seconds"] += value
        elif name.startswith("cesce_client_throttle_wait") and name.endswith("_count"):
            found["throttle_waits"] += value
        elif name.startswith("cesce_client_throttle_wait") and name.endswith("_sum"):
            found["throttle_seconds"] += value
        elif name.startswith("cesce_worker_event_loop_lag") and name.endswith("_count"):
            found["lag_samples"] += value
        elif name.startswith("cesce_worker_event_loop_lag") and name.endswith("_sum"):
            found["lag_seconds"] += value
        elif name.startswith("cesce_worker_in_flight") and not name.endswith("_created"):
            found["in_flight"] += value
        elif name.startswith("cesce_worker_paused") and 'reason="backpressure"' in line:
            found["backpressure"] += value
    return found


_COUNTED = ("calls", "call_seconds", "throttle_waits", "throttle_seconds", "lag_samples", "lag_seconds")
"""The counters and histogram sums `MetricsPoller.stop` takes over the window (last scrape minus first)."""


class MetricsPoller:
    """The system under test's metrics (`worker_metrics`) every second on a thread of its own: few enough
    scrapes that the worker's CPU for them is noise, enough to average its in-flight gauge over a run."""

    def __init__(self, scrape: Callable[[], dict[str, float]]) -> None:
        self._scrape = scrape
        self._stop = threading.Event()
        self.scrapes = [scrape()]
        self._thread = threading.Thread(target=self._run, name="bench-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(httpx.HTTPError):
                self.scrapes.append(self._scrape())

    def stop(self) -> dict[str, float]:
        """Over the window: the calls made, the throttle's waits and their seconds (first and last scrape), mean
        in-flight and share
        of the scrapes that found an engine paused for backpressure."""
        self._stop.set()
        self._thread.join()
        self.scrapes.append(self._scrape())
        first, last, inside = self.scrapes[0], self.scrapes[-1], self.scrapes[1:]
        return {
            **{key: last[key] - first[key] for key in _COUNTED},
            "in_flight": sum(s["in_flight"] for s in inside) / len(inside),
            "backpressure": sum(s["backpressure"] > 0 for s in inside) / len(inside),
        }


class ProcessTree:
    """A process and its descendants, followed as they come and go: CPU seconds and peak RSS of each.

    `sample` walks the tree again each time (``/proc/<pid>/task/<tid>/children``), so children that
    appear later (a supervisor's engines) are counted from their start. A process that has exited
    keeps the CPU time it had when last seen (up to one sampling period of it is lost), so the sum
    never goes backwards. The event-loop CPU is each process's main thread (``task/<pid>``), where
    ``asyncio`` runs (librdkafka and the health server have threads of their own).
    """

    def __init__(self, root: int, proc: Path = Path("/proc")) -> None:
        self.root = root
        self._proc = proc
        self._cpu: dict[int, float] = {}
        self._loop_cpu: dict[int, float] = {}
        self.peaks_kib: dict[int, int] = {}
        """pid -> its VmHWM when last seen: the process's peak resident set since it started."""

    def pids(self) -> list[int]:
        """The root and its live descendants, parents first."""
        found, queue = [], [self.root]
        while queue:
            pid = queue.pop(0)
            found.append(pid)
            try:
                tasks = sorted((self._proc / str(pid) / "task").iterdir())
            except OSError:  # it just exited
                continue
            for task in tasks:
                with contextlib.suppress(OSError, ValueError):
                    queue.extend(c for c in parse_children((task / "children").read_text()) if c not in found)
        return found

    def sample(self) -> Usage:
        alive = 0
        for pid in self.pids():
            folder = self._proc / str(pid)
            try:
                cpu = stat_cpu_seconds((folder / "stat").read_text())
                loop_cpu = stat_cpu_seconds((folder / "task" / str(pid) / "stat").read_text())
                peak = parse_peak_kib((folder / "status").read_text())
            except (OSError, ValueError):  # gone between the walk and the read
                continue
            alive += 1
            self._cpu[pid], self._loop_cpu[pid] = cpu, loop_cpu
            if peak is not None:
                self.peaks_kib[pid] = max(peak, self.peaks_kib.get(pid, 0))
        return Usage(sum(self._cpu.values()), sum(self._loop_cpu.values()), alive)


# ---------------------------------------------------------------------------------------------
# The worker as production runs it, and its telemetry's sink


def free_port() -> int:
    """A TCP port free on the loopback now (the OS's pick; nothing holds it afterwards)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_env(
    settings: Mapping[str, str],
    *,
    bootstrap: str,
    registry_url: str,
    cesce: Mapping[str, str],
    otlp_url: str,
    inherited: Mapping[str, str],
) -> dict[str, str]:
    """The environment of ``cesce-worker run invoices``: this process's minus every variable the worker reads,
    then the broker and the registry, `settings` (``WORKER_*``, ``INVOICES_*``), the sandbox as Cesce, and
    the OpenTelemetry SDK as in production: traces pushed over OTLP/HTTP to `otlp_url`, no metrics pushed
    (the Prometheus reader is always there)."""
    return {
        **{k: v for k, v in inherited.items() if not _OWN_VARIABLES.match(k)},
        **mock_kafka_env(bootstrap, registry_url),
        **settings,
        **cesce,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
        "OTEL_METRICS_EXPORTER": "none",
    }


class WorkerProcess:
    """``cesce-worker run invoices`` in a child process, the leader of its own process group.

    `run` is a `SystemUnderTest`: it starts the OTLP sink and the worker (its log in `log`), fails as
    soon as the worker exits by itself, and on `stop` sends SIGTERM to its group and waits for its
    drain. `usage` is its whole process tree's (`ProcessTree`); `ready` waits for its ``/readyz``.
    After the run: `exit_code`, `otlp` (what the sink received) and `tree.peaks_kib`.
    """

    def __init__(self, settings: Mapping[str, str], registry_url: str, health_port: int, log: Path) -> None:
        self._settings = {**settings, "WORKER_HTTP_HOST": "127.0.0.1", "WORKER_HTTP_PORT": str(health_port)}
        self._registry_url = registry_url
        self._health = f"http://127.0.0.1:{health_port}"
        self._log = log
        self.tree: ProcessTree | None = None
        self.exit_code: int | None = None
        self.otlp: dict[str, Any] = {}

    async def run(self, bootstrap: str, cesce: Mapping[str, str], stop: asyncio.Event) -> None:
        with Child(["otlp-sink"], "OTLP sink", module="benchmarks.bench_measure") as sink:
            env = worker_env(
                self._settings,
                bootstrap=bootstrap,
                registry_url=self._registry_url,
                cesce=cesce,
                otlp_url=sink.address,
                inherited=os.environ,
            )
            popen = await asyncio.to_thread(self._spawn, env)
            self.tree = ProcessTree(popen.pid)
            try:
                while not stop.is_set():
                    if popen.poll() is not None:
                        raise RuntimeError(f"the worker exited by itself ({popen.returncode}):\n{self.log_tail()}")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.2)
            finally:
                self.tree.sample()  # the last peaks before the processes go
                await asyncio.to_thread(stop_group, popen, WORKER_STOP_SECONDS)
                self.exit_code = popen.returncode
                self.otlp = await asyncio.to_thread(_sink_stats, sink.address)

    def _spawn(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with self._log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run", "invoices"],
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped through it, never by a name
            )

    def metrics(self) -> dict[str, float]:
        """`worker_metrics` of its ``/metrics`` now (the whole tree's, with a supervisor)."""
        return worker_metrics(httpx.get(f"{self._health}/metrics", timeout=10).text)

    def usage(self) -> Usage:
        if self.tree is None:
            raise RuntimeError("the worker has not started")
        return self.tree.sample()

    async def ready(self, within: float = 60.0) -> None:
        """Until ``/readyz`` answers 200 (with several engines, the supervisor's answer), or fail."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self._health}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the worker was not ready within {within:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _sink_stats(address: str) -> dict[str, Any]:
    try:
        stats: dict[str, Any] = httpx.get(f"{address}/stats", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return stats


def otlp_sink(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An OTLP/HTTP receiver that discards: 200 and an empty body to every POST (``/v1/traces``, ``/v1/metrics``),
    ``GET /stats`` -> requests and bytes received by path, as JSON. Not started: call ``serve_forever``."""
    received: Counter[str] = Counter()
    payload: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(size)
            with lock:
                received[self.path] += 1
                payload[self.path] += size
            self._answer(200, "application/x-protobuf", b"")

        def do_GET(self) -> None:
            with lock:
                body = json.dumps({"requests": dict(received), "bytes": dict(payload)}).encode()
            self._answer(200 if self.path == "/stats" else 404, "application/json", body)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------------------------------------
# The samples


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # perf_counter: CLOCK_MONOTONIC, the same clock as the observer process's
    cpu: float
    """The system under test's: the worker's process tree, or this process."""
    loop_cpu: float
    """Its event-loop threads' (each process's main thread), where the worker's Python runs."""
    sandbox_cpu: float
    broker_cpu: float
    machine: tuple[int, int, int]
    processes: int = 1
    """Processes of the system under test alive at the sample."""

    @classmethod
    def take(cls, usage: Callable[[], Usage], sandbox: Child, broker: Child) -> Sample:
        now = usage()
        return cls(
            time.perf_counter(),
            now.cpu,
            now.loop_cpu,
            sandbox.cpu_seconds(),
            broker.cpu_seconds(),
            machine_ticks(),
            now.processes,
        )


class Sampler:
    """CPU samples of the system under test, the sandbox and the broker every quarter second."""

    def __init__(self, sandbox: Child, broker: Child, usage: Callable[[], Usage] = this_process) -> None:
        self._sandbox, self._broker, self._usage = sandbox, broker, usage
        self._stop = threading.Event()
        self.samples = [Sample.take(usage, sandbox, broker)]
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append(Sample.take(self._usage, self._sandbox, self._broker))

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        self.samples.append(Sample.take(self._usage, self._sandbox, self._broker))
        return self.samples


class Observer:
    """The parent's end of `benchmarks.observer.observe`, running in a spawned process."""

    def __init__(self, bootstrap: str, warmup: Sequence[Invoice], measured: Sequence[Invoice]) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs librdkafka threads
        self._conn, child_end = context.Pipe()
        self._closed = False
        self._process = context.Process(
            target=observe,
            args=(child_end,),
            kwargs={
                "bootstrap": bootstrap,
                "input_topic": INPUT,
                "output_topics": (RESULTS, DLQ),
                "warmup": [(i.debtor, i.value) for i in warmup],
                "measured": [(i.debtor, i.value) for i in measured],
                "timeout": RUN_TIMEOUT,
            },
            name="bench-observer",
            daemon=True,
        )
        self._process.start()
        child_end.close()

    def _receive(self, timeout: float) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._closed:
            if self._conn.poll(0.2):
                message: tuple[str, Any] = self._conn.recv()
                return message
            if not self._process.is_alive():
                raise RuntimeError(f"the observer process died (exit code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError("the observer said nothing in time")
        return ("closed", None)

    async def expect(self, kind: str, system: asyncio.Task[None]) -> Any:
        """The observer's next message, which must be `kind`; fails as soon as `system` fails."""
        receive = asyncio.ensure_future(asyncio.to_thread(self._receive, RUN_TIMEOUT))
        waiting: set[asyncio.Future[Any]] = {receive, system}
        while True:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if receive in done:
                break
            system.result()  # raises what stopped the system under test
            waiting.discard(system)  # it finished its work (the naive loop stops by itself)
        got, payload = receive.result()
        if got == "error":
            raise RuntimeError(f"the observer failed:\n{payload}")
        if got != kind:
            raise RuntimeError(f"the observer sent {got!r}, expected {kind!r}")
        return payload

    def go(self) -> None:
        self._conn.send("go")

    def close(self) -> None:
        self._closed = True
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


SystemUnderTest = Callable[[str, Mapping[str, str], asyncio.Event], Coroutine[Any, Any, None]]
"""(bootstrap servers, CESCE_* environment, stop) -> runs until `stop` or its work is done."""


@dataclass(frozen=True)
class Measurement:
    """What one timed run saw, before any figure is made of it (``benchmarks.bench_report.make_case``)."""

    timing: dict[str, Any]
    """The observer's: ``start`` (perf_counter), ``seconds``, ``produce_seconds`` and ``arrivals``,
    (seconds since start, results visible) each time more became visible."""
    samples: list[Sample]
    """From the go to the last result visible: the first and the last bound the timed window."""
    reads: list[Read]
    """Every result and dead letter read, warm-up included."""
    rss_baseline_kib: int
    rss_peak_kib: int
    peak_is_this_run: bool
    ledger: dict[str, Any]
    stats: dict[str, Any]
    """The sandbox's ledger and request statistics after the run."""
    peaks_kib: list[int] = field(default_factory=list)
    """Each process's peak RSS (VmHWM) when the system under test is a process tree; empty otherwise."""
    exit_code: int | None = None
    """The worker's exit status after SIGTERM (0: a clean drain); None for an in-process system under test."""
    otlp: dict[str, Any] = field(default_factory=dict)
    """What the OTLP sink received: ``requests`` and ``bytes`` by path."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The system under test's metrics over the timed window (`MetricsPoller.stop`); empty when not read."""


async def timed_run(
    name: str,
    run: SystemUnderTest,
    *,
    scenario: Path,
    latency_ms: float,
    jitter_ms: float | None = None,
    rate_limit: float | None = None,
    warmup: Sequence[Invoice],
    measured: Sequence[Invoice],
    usage: Callable[[], Usage] = this_process,
    ready: Callable[[], Awaitable[None]] | None = None,
    metrics: Callable[[], dict[str, float]] | None = None,
) -> Measurement:
    """One run of `run` (an asyncio task named `name`) on a fresh broker and sandbox; `usage` is its CPU (this
    process by default), `ready` awaited after the warm-up, before the clock starts; `metrics` scraped through
    the window (`MetricsPoller`)."""
    with broker_and_sandbox(scenario, latency_ms, jitter_ms=jitter_ms, rate_limit=rate_limit) as (broker, sandbox):
        window = Window()
        stop = asyncio.Event()
        task = asyncio.create_task(run(broker.address, cesce_env(sandbox.address, "bench"), stop), name=name)
        observer = Observer(broker.address, warmup, measured)
        try:
            await observer.expect("warm", task)
            if ready is not None:
                await ready()
            poller = await asyncio.to_thread(MetricsPoller, metrics) if metrics is not None else None
            sampler = Sampler(sandbox, broker, usage)
            observer.go()
            timing = await observer.expect("done", task)
            samples = sampler.stop()
            seen = await asyncio.to_thread(poller.stop) if poller is not None else {}
            reads: list[Read] = await observer.expect("records", task)
        finally:
            stop.set()
            observer.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, WORKER_STOP_SECONDS + 30)
        peak = window.peak_rss_kib()
        admin = SandboxAdmin(sandbox.address)
        ledger, stats = admin.ledger(), admin.stats()
    return Measurement(
        timing=timing,
        samples=samples,
        reads=reads,
        rss_baseline_kib=window.rss_baseline_kib,
        rss_peak_kib=peak,
        peak_is_this_run=window.peak_is_own,
        ledger=ledger,
        stats=stats,
        metrics=seen,
    )


def _main(argv: Sequence[str]) -> int:
    if list(argv) != ["otlp-sink"]:
        print("usage: python -m benchmarks.bench_measure otlp-sink", file=sys.stderr)
        return 2
    server = otlp_sink()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)  # the address first, as every child
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
