"""The sandbox and the embedded broker as child processes, and the CPU and memory probes.

Both run as ``python -m workers.cli <command>`` rather than in the benchmark's process: the
sandbox (a Python ASGI server) and librdkafka's mock broker would otherwise burn CPU and hold
memory in the very process whose CPU time and peak RSS we attribute to the worker. Each child
prints its address on the first line of stdout (the documented contract of both commands), and
its CPU time is read from ``/proc/<pid>/stat``, so the benchmark can report where the machine's
two cores went.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

from workers.sandbox.scenario import read_scenario

__all__ = [
    "BENCH_CONTRACT",
    "Child",
    "bench_debtor",
    "machine_ticks",
    "process_cpu_seconds",
    "reset_peak_rss",
    "rss_kib",
    "thread_cpu_seconds",
    "write_scenario",
]

BENCH_CONTRACT: Final = "34109150331"
"""The default scenario's in-force policy (Máster Oro Integral) that the benchmark's debtors join."""

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_START_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 15.0


def bench_debtor(index: int) -> str:
    """The customerReference of the benchmark's `index`-th debtor (0-based): BENCH-0001, ..."""
    return f"BENCH-{index + 1:04d}"


def write_scenario(debtors: int, directory: Path) -> Path:
    """The default scenario plus `debtors` classified debtors on `BENCH_CONTRACT`; its path.

    The default scenario has only a handful of debtors, and a benchmark over five keys measures
    key-order waits, not throughput. The limit is far above what the run declares (the sandbox
    does not check exposure, but a reader of the file should not wonder).
    """
    scenario = read_scenario(None)
    contract = next(c for c in scenario["contracts"] if c["contractNo"] == BENCH_CONTRACT)
    contract["debtors"].extend(
        {
            "countryCode": "ES",
            "taxCode": f"B{70000000 + index:08d}",
            "customerReference": bench_debtor(index),
            "companyName": f"DEUDOR DE PRUEBA {index + 1} SL",
            "creditLimitGranted": "10000000,00",
            "paymentTermsRequested": "60",
            "paymentTermsGranted": "60",
            "requestDate": "20230102",
        }
        for index in range(debtors)
    )
    path = directory / "bench-scenario.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), "utf-8")
    return path


class Child:
    """``python -m workers.cli <args>``: started, its first stdout line read, stopped with SIGTERM.

        with Child(["sandbox", "--port", "0"], "sandbox") as sandbox:
            url = sandbox.address

    stderr goes to a temporary file, shown when the child fails to start, so a failure says why.
    """

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - our own CLI, run by this interpreter
            [sys.executable, "-m", "workers.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: stop() signals the group, not a name
        )
        try:
            self.address = self._first_line()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def _first_line(self) -> str:
        stdout = self._process.stdout
        assert stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT)
        line = lines[0].decode().strip() if lines else ""
        if not line:
            self._stderr.seek(0)
            detail = self._stderr.read().decode(errors="replace").strip()
            raise RuntimeError(f"the {self.name} did not start (exit {self._process.poll()}): {detail[-2000:]}")
        return line

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far."""
        return process_cpu_seconds(self._process.pid)

    def stop(self) -> None:
        """SIGTERM to its process group, then SIGKILL if it does not stop in time. Idempotent."""
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait(_STOP_TIMEOUT)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def _signal_group(self, signum: int) -> None:
        # the child leads its own session (start_new_session), so its pid is its group's id; it is not
        # reaped yet (poll() said None), so the id cannot have been reused
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` from ``/proc/<pid>/stat`` (every thread of the process)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(native_id: int) -> float:
    """utime + stime of one thread of this process (``threading.get_native_id()``), in clock ticks' grain."""
    return _stat_cpu_seconds(Path(f"/proc/self/task/{native_id}/stat"))


def _stat_cpu_seconds(path: Path) -> float:
    text = path.read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_ticks() -> tuple[int, int, int]:
    """(busy, stolen, total) clock ticks of the whole machine so far, from ``/proc/stat``.

    Stolen time is what the hypervisor gave other guests while ours wanted to run: on a shared VM
    it is the first suspect when two runs of the same benchmark disagree.
    """
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_kib() -> dict[str, Any]:
    """This process's resident set now and its peak (VmHWM) in KiB."""
    return {"rss": _status_kib("VmRSS"), "peak": _status_kib("VmHWM")}


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5), so the next peak is one run's.

    Without it the peak would be the process's lifetime maximum; False if the kernel refused.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
