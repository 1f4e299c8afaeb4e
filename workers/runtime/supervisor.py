"""The parent of a multi-process ``cesce-worker run``: start the children, restart them, stop them, answer for them.

Why processes: one asyncio engine runs on one core (the GIL), and a worker's time goes to decoding,
encoding and its handler as much as to waiting on Cesce. One engine per CPU uses the pod's quota;
each engine is an ordinary member of the worker's consumer groups, so the group shares the
partitions among the children exactly as among replicas, and rebalances, fencing and
exactly-once work as they do between pods.

How children start: as a fresh interpreter running the same command, ``cesce-worker run <worker>``
(``python -m workers.cli``), with the environment `workers.runtime.processes.child_env` gives it.
Not ``fork``: librdkafka's threads and the parent's HTTP thread do not survive a fork, and a fresh
process starts exactly as a one-process worker does, `run_worker` and all. Children are started from
the main thread only: the kernel's parent-death signal a child asks for (`workers.runtime.parent_link`)
fires when the thread that forked it ends.

What the parent does:

- **Restarts** a child that stopped unasked (any exit, any signal), after a backoff: 1 s, doubling
  to 30 s for a child that keeps failing, back to 1 s once a child has run a minute. Each exit is
  logged with its status or signal and the delay; each restart is counted
  (``cesce_worker_process_restarts_total{worker,process}``). Meanwhile the parent's ``/healthz`` and
  ``/readyz`` say which child is down and why.
- **Stops** on SIGTERM or SIGINT: it sends SIGTERM to every child, restarts nothing more, and waits for
  them within ``WORKER_DRAIN_SECONDS`` + 30 s (their drain and final transaction, inside the chart's
  termination grace of drain + 40 s); a child still running then is killed, and logged. Exit
  status: 0 when every child stopped cleanly, 1 otherwise.
- **Answers** ``/healthz``, ``/readyz`` and ``/metrics`` for the tree on ``WORKER_HTTP_PORT``
  (`workers.observability.tree`).

The parent runs no engine and opens no Kafka client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from workers.observability.health import HealthServer
from workers.observability.metrics import PROCESS_RESTARTS
from workers.observability.tree import ChildStatus, TreeHealth, TreeMetrics, registry_of
from workers.runtime.processes import child_env, in_flight_shares
from workers.runtime.run import checked_telemetry
from workers.runtime.settings import RuntimeSettings

__all__ = ["Backoff", "Supervisor", "supervise"]

_log = logging.getLogger(__name__)

_TICK: Final = 0.2
_FINAL_SECONDS: Final = 30.0  # after the drain: the final transaction and leaving the group
_KILL_WAIT: Final = 5.0


@dataclass(frozen=True)
class Backoff:
    """How long a stopped child waits before its restart: `first`, doubling per failure in a row up to
    `longest`; a child that ran `stable` seconds before it stopped starts the count again."""

    first: float = 1.0
    longest: float = 30.0
    stable: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.longest, self.first * 2 ** max(0, failures - 1)))


def exit_reason(status: int) -> str:
    """A child's end in words: ``exited with status 1``, ``killed by SIGKILL``."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with status {status}"


class _Child:
    """One slot of the tree: the process running there now (if any), and its history."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.pipe: int | None = None
        self.port: int | None = None
        self.started = 0.0
        self.starts = 0
        self.failures = 0
        self.restart_at = 0.0
        self.down: str | None = None

    def read_port(self) -> None:
        """The port the child reported, once it has (non-blocking: the pipe is read at each tick)."""
        if self.pipe is None:
            return
        try:
            data = os.read(self.pipe, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data.strip().isdigit():
            self.port = int(data.strip())
        self.close_pipe()  # one line, or EOF: either way nothing more comes

    def close_pipe(self) -> None:
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None


class Supervisor:
    """`count` children running `command`, each restarted when it stops unasked, until `run`'s stop."""

    def __init__(
        self,
        worker: str,
        command: Sequence[str],
        env: Mapping[str, str],
        settings: RuntimeSettings,
        count: int,
        *,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._worker = worker
        self._command = list(command)
        self._env = env
        self._settings = settings
        self._count = count
        self._backoff = backoff
        self._clock = clock
        self._children = [_Child(index) for index in range(count)]
        self._lock = threading.Lock()  # the probes' threads read what the loop's thread writes

    def statuses(self) -> list[ChildStatus]:
        """Each child's port and, when it is not running, why: for the probes (any thread)."""
        with self._lock:
            return [ChildStatus(child.index, child.port, child.down) for child in self._children]

    def pids(self) -> list[int]:
        with self._lock:
            return [child.process.pid for child in self._children if child.process is not None]

    async def run(self, stop: asyncio.Event) -> int:
        """Keep every child running until `stop` is set; then stop them all (the exit status, see above)."""
        for child in self._children:
            self._start(child)
        while not stop.is_set():
            self._tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _TICK)
        return await self._stop_all(self._settings.drain_seconds + _FINAL_SECONDS)

    def _tick(self) -> None:
        now = self._clock()
        for child in self._children:
            if child.process is None:
                if now >= child.restart_at:
                    self._start(child)
                continue
            child.read_port()
            status = child.process.poll()
            if status is not None:
                self._ended(child, status, now)

    def _start(self, child: _Child) -> None:
        child.started = self._clock()
        read, write = os.pipe()
        os.set_blocking(read, False)
        env = child_env(
            self._env, self._settings, index=child.index, count=self._count, parent_pid=os.getpid(), fd=write
        )
        try:
            process = subprocess.Popen(self._command, env=env, pass_fds=(write,))  # noqa: S603 - our own command
        except OSError as exc:
            os.close(read)
            self._ended(child, None, self._clock(), reason=f"cannot start: {exc}")
            return
        finally:
            os.close(write)
        with self._lock:
            child.process, child.pipe, child.port, child.down = process, read, None, None
        if child.starts:
            PROCESS_RESTARTS.add(1, {"worker": self._worker, "process": str(child.index)})
            _log.warning("process %d restarted (pid %d, restart %d)", child.index, process.pid, child.starts)
        else:
            _log.info("process %d started (pid %d)", child.index, process.pid)
        child.starts += 1

    def _ended(self, child: _Child, status: int | None, now: float, *, reason: str | None = None) -> None:
        reason = reason or exit_reason(status if status is not None else 1)
        child.failures = 1 if now - child.started >= self._backoff.stable else child.failures + 1
        delay = self._backoff.delay(child.failures)
        child.restart_at = now + delay
        pid = child.process.pid if child.process is not None else None
        child.close_pipe()
        with self._lock:
            child.process, child.port = None, None
            child.down = f"{reason}; restarting in {delay:.0f}s"
        _log.error("process %d (pid %s) %s; restarting it in %.0fs", child.index, pid, reason, delay)

    async def _stop_all(self, budget: float) -> int:
        running = [(child, child.process) for child in self._children if child.process is not None]
        _log.info("stopping %d processes (SIGTERM; %.0fs to finish)", len(running), budget)
        for _, process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = self._clock() + budget
        while True:  # polled, as at every tick: no thread per child
            if all(process.poll() is not None for _, process in running) or self._clock() >= deadline:
                break
            await asyncio.sleep(0.1)
        clean = True
        for child, process in running:
            if process.poll() is None:
                _log.error("process %d (pid %d) still running after %.0fs: killed", child.index, process.pid, budget)
                process.kill()
                await asyncio.to_thread(process.wait, _KILL_WAIT)
            if process.returncode != 0:
                clean = False
                _log.error("process %d (pid %d) %s", child.index, process.pid, exit_reason(process.returncode))
            child.close_pipe()
        return 0 if clean else 1


async def _until_signalled(supervisor: Supervisor, health: TreeHealth, server: HealthServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server.start(loop)
    heartbeat = loop.create_task(health.heartbeat())
    try:
        return await supervisor.run(stop)
    finally:
        heartbeat.cancel()


def supervise(
    worker: str, command: Sequence[str], env: Mapping[str, str], settings: RuntimeSettings, count: int
) -> int:
    """Run `count` children of `command` until SIGTERM or Ctrl-C, serving the tree's probes; the exit status
    (2: a setting prevents the start, as for one process: ``SCHEMA_REGISTRY_*``, ``OTEL_*``, the health port)."""
    telemetry = checked_telemetry(worker, env, settings.instance_id)
    if telemetry is None:
        return 2
    supervisor = Supervisor(worker, command, env, settings, count)
    health = TreeHealth(supervisor.statuses, stall_seconds=settings.liveness_stall_seconds)
    try:
        server = HealthServer(
            health,
            registry_of(TreeMetrics(telemetry.registry, supervisor.statuses)),
            settings.http_host,
            settings.http_port,
        )
    except OSError as exc:
        _log.error("%s: cannot serve WORKER_HTTP_PORT %d: %s", worker, settings.http_port, exc)
        telemetry.shutdown()
        return 2
    _log.info("health and metrics on http://%s:%d (/healthz /readyz /metrics)", settings.http_host, server.port)
    shares = in_flight_shares(settings.max_in_flight, count)
    _log.info(
        "%s: %d processes (instances %s.0 to .%d), in flight %s of WORKER_MAX_IN_FLIGHT %d",
        worker,
        count,
        settings.instance_id,
        count - 1,
        "+".join(str(share) for share in shares),
        settings.max_in_flight,
    )
    try:
        with asyncio.Runner() as runner:
            status = runner.run(_until_signalled(supervisor, health, server))
    finally:
        server.close()
        telemetry.shutdown()
    if status == 0:
        _log.info("%s stopped cleanly", worker)
    return status
