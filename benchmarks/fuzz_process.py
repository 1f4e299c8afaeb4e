"""The worker under fuzz: ``cesce-worker run invoices`` as a child process, its memory, CPU and logs watched.

A child process, not the harness's own event loop, so that a crash is an exit the harness sees
(and counts, and recovers from by starting it again), and so that the resident set read from
``/proc/<pid>/status`` is the worker's alone. Its stderr (JSON log lines) is read by a thread that
keeps the figures the fuzz checks: lines by level, the longest line, how often a transaction was
aborted, and the last lines, shown when the worker exits or stalls.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter, deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

from benchmarks.services import process_cpu_seconds, stop_group

__all__ = ["LOG_LINE_LIMIT", "WorkerProcess"]

LOG_LINE_LIMIT: Final = 16 * 1024
"""Bytes at most in one line the worker logs: a line quoting a whole hostile value would be far longer."""
_STOP_SECONDS: Final = 60.0
_TAIL_LINES: Final = 30
_PARSED_LINE_BYTES: Final = 64 * 1024
_OWN_PREFIXES: Final = ("KAFKA_", "WORKER_", "CESCE_", "SCHEMA_REGISTRY_", "OTEL_", "LOG_")


class _LogWatch:
    """Reads one incarnation's stderr to its end, line by line, keeping the figures."""

    def __init__(self, stream: IO[bytes], figures: _LogFigures) -> None:
        self._stream, self._figures = stream, figures
        self._thread = threading.Thread(target=self._run, name="fuzz-worker-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for line in iter(self._stream.readline, b""):
            self._figures.add(line)

    def join(self) -> None:
        self._thread.join(10)
        self._stream.close()


class _LogFigures:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines = 0
        self.levels: Counter[str] = Counter()
        self.longest = 0
        self.aborted = 0
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)

    def add(self, line: bytes) -> None:
        level = "unparsed"
        if len(line) <= _PARSED_LINE_BYTES:
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                level = str(parsed.get("level", "none")) if isinstance(parsed, dict) else "unparsed"
        with self.lock:
            self.lines += 1
            self.levels[level] += 1
            self.longest = max(self.longest, len(line))
            self.aborted += b"transaction aborted" in line
            self.tail.append(line[:400].decode(errors="replace").rstrip())


class WorkerProcess:
    """``python -m workers.cli run invoices`` with `env` (and nothing of the caller's own settings); restartable.

    with WorkerProcess(env, directory) as worker:
        ...; worker.rss_kib(); worker.exited(); worker.stop()
    """

    def __init__(self, env: Mapping[str, str], directory: str | Path) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
        self._env = {**inherited, **env}
        self._directory = Path(directory)
        self._figures = _LogFigures()
        self._peak_kib = 0
        self._cpu_before = 0.0
        self._cpu_now = 0.0
        self._stopped = False
        self._process, self._log = self._start()

    def _start(self) -> tuple[subprocess.Popen[bytes], _LogWatch]:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "run", "invoices"],
            env=self._env,
            cwd=self._directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stopped by its id, never by a name
        )
        assert process.stderr is not None
        return process, _LogWatch(process.stderr, self._figures)

    @property
    def pid(self) -> int:
        return self._process.pid

    def exited(self) -> bool:
        """Whether the worker ended on its own (a crash: nothing asked it to stop)."""
        return not self._stopped and self._process.poll() is not None

    def crash_text(self) -> str:
        self._log.join()
        with self._figures.lock:
            tail = " | ".join(list(self._figures.tail)[-5:])
        return f"exit code {self._process.returncode}; last log lines: {tail}"

    def restart(self) -> None:
        self._cpu_before += self._cpu_now
        self._cpu_now = 0.0
        self._process, self._log = self._start()

    def _status_kib(self, field: str) -> int:
        try:
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:  # it just exited
            pass
        return 0

    def rss_kib(self) -> int:
        """The resident set now (0 if it is not running); also samples the peak and the CPU time."""
        rss = self._status_kib("VmRSS")
        self._peak_kib = max(self._peak_kib, self._status_kib("VmHWM"))
        with contextlib.suppress(OSError, ValueError, IndexError):
            self._cpu_now = process_cpu_seconds(self._process.pid)
        return rss

    def peak_rss_kib(self) -> int:
        """The highest VmHWM sampled (the kernel's peak resident set) over every incarnation."""
        self.rss_kib()
        return self._peak_kib

    def cpu_seconds(self) -> float:
        self.rss_kib()
        return self._cpu_before + self._cpu_now

    def log_figures(self) -> dict[str, Any]:
        with self._figures.lock:
            return {
                "lines": self._figures.lines,
                "by_level": dict(self._figures.levels),
                "longest_line_bytes": self._figures.longest,
                "transaction_aborted_lines": self._figures.aborted,
                "last_lines": list(self._figures.tail)[-5:],
            }

    def stop(self) -> int | None:
        """SIGTERM (it drains and commits), SIGKILL if it takes over a minute; its exit code. Idempotent."""
        self._stopped = True
        stop_group(self._process, _STOP_SECONDS)
        self._log.join()
        return self._process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
