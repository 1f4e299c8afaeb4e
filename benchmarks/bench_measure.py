"""How the benchmarks measure: the broker and the sandbox as children, this process's CPU and peak RSS, the timed run.

Shared by ``bench_invoices`` and ``bench_risk``: `broker_and_sandbox` starts both child processes
(``benchmarks.services.Child``), so this process holds only the system under test; a `Window`
resets the kernel's peak RSS (VmHWM, the ``ru_maxrss`` figure, through ``/proc/self/clear_refs``)
and notes the wall-clock and CPU time it opened at, so what it reports is that window's; not
tracemalloc, which would slow every allocation and so the rate reported.

For ``bench_invoices``, `timed_run` runs a `SystemUnderTest` against a spawned observer process
(`Observer`, the parent's end of ``benchmarks.observer.observe``) that produces the invoices and
reads the results: the window starts after a warm-up, when the group is joined, the token fetched
and the connections open, and ends when the last result is visible to a ``read_committed`` reader
(``time.perf_counter`` in the observer). Meanwhile a `Sampler` takes a `Sample` every quarter
second: CPU time of this process (``time.process_time()``), of its event-loop thread, of the
sandbox and the broker (``/proc/<pid>/stat``), and the machine's stolen ticks, so the report can
split the cost over the run (``benchmarks.bench_report.halves``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.bench_workload import DLQ, INPUT, RESULTS, Invoice
from benchmarks.observer import Read, observe
from benchmarks.services import Child, cesce_env, machine_ticks, reset_peak_rss, rss_kib, thread_cpu_seconds
from workers.sandbox.admin_client import SandboxAdmin

__all__ = [
    "RUN_TIMEOUT",
    "Measurement",
    "Observer",
    "Sample",
    "Sampler",
    "SystemUnderTest",
    "Window",
    "broker_and_sandbox",
    "timed_run",
]

RUN_TIMEOUT: Final = 120.0
_MAIN_THREAD: Final = threading.get_native_id()  # asyncio.run runs the system under test's loop here


@contextlib.contextmanager
def broker_and_sandbox(scenario: Path, latency_ms: float | None = None) -> Iterator[tuple[Child, Child]]:
    """A fresh embedded broker and a fresh sandbox serving `scenario` (with a fixed added latency if given)."""
    sandbox_args = ["sandbox", "--port", "0", "--scenario", str(scenario)]
    if latency_ms is not None:
        sandbox_args += ["--latency-ms", str(latency_ms)]
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


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # perf_counter: CLOCK_MONOTONIC, the same clock as the observer process's
    cpu: float
    loop_cpu: float
    """The main thread's: the asyncio loop where the worker's Python runs (librdkafka has its own threads)."""
    sandbox_cpu: float
    broker_cpu: float
    machine: tuple[int, int, int]

    @classmethod
    def take(cls, sandbox: Child, broker: Child) -> Sample:
        return cls(
            time.perf_counter(),
            time.process_time(),
            thread_cpu_seconds(_MAIN_THREAD),
            sandbox.cpu_seconds(),
            broker.cpu_seconds(),
            machine_ticks(),
        )


class Sampler:
    """CPU samples of the three processes every quarter second, to split a run's cost over time."""

    def __init__(self, sandbox: Child, broker: Child) -> None:
        self._sandbox, self._broker = sandbox, broker
        self._stop = threading.Event()
        self.samples = [Sample.take(sandbox, broker)]
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append(Sample.take(self._sandbox, self._broker))

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        self.samples.append(Sample.take(self._sandbox, self._broker))
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


async def timed_run(
    name: str,
    run: SystemUnderTest,
    *,
    scenario: Path,
    latency_ms: float,
    warmup: Sequence[Invoice],
    measured: Sequence[Invoice],
) -> Measurement:
    """One run of `run` (an asyncio task named `name`) on a fresh broker and sandbox."""
    with broker_and_sandbox(scenario, latency_ms) as (broker, sandbox):
        window = Window()
        stop = asyncio.Event()
        task = asyncio.create_task(run(broker.address, cesce_env(sandbox.address, "bench"), stop), name=name)
        observer = Observer(broker.address, warmup, measured)
        try:
            await observer.expect("warm", task)
            sampler = Sampler(sandbox, broker)
            observer.go()
            timing = await observer.expect("done", task)
            samples = sampler.stop()
            reads: list[Read] = await observer.expect("records", task)
        finally:
            stop.set()
            observer.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)
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
    )
