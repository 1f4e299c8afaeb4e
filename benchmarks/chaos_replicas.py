"""The chaos run's replicas: ``cesce-worker run invoices`` processes started, killed, stopped and restarted by name.

`Fleet` starts each replica (its ``WORKER_INSTANCE_ID``, kept across restarts) as the leader of its own
process group, signals it through that group, reaps it, and asks a live one for its ``/readyz`` and
metrics (its health port is in its log); `worker_env` is their settings, `worker_warnings` what their
logs warned of.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks.chaos_report import INPUT, RESULTS, ChaosPlan
from benchmarks.services import cesce_env, mock_kafka_env, signal_group

__all__ = ["REPO_ROOT", "TICK_SECONDS", "Fleet", "worker_env", "worker_warnings"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS: Final = 60.0
"""How long a SIGTERMed replica may take (the product drains for 20 s) before it is SIGKILLed."""
TICK_SECONDS: Final = 0.05
"""How often the harness looks again: the conductor's loop, and the wait for stopping replicas."""


def worker_env(plan: ChaosPlan, bootstrap: str, registry_url: str, sandbox_url: str, group: str) -> dict[str, str]:
    """The replicas' settings: one consumer group on the embedded broker, the sandbox as Cesce with the plan's
    client timeout, a health port each, and the plan's ``--worker-env`` last."""
    return {
        **mock_kafka_env(bootstrap, registry_url),
        "WORKER_GROUP_ID": group,
        "WORKER_HTTP_HOST": "127.0.0.1",
        "WORKER_HTTP_PORT": "0",
        "INVOICES_TOPIC": INPUT,
        "SALE_RESULTS_TOPIC": RESULTS,
        **cesce_env(sandbox_url, "chaos"),
        "CESCE_TIMEOUT_SECONDS": str(plan.cesce_timeout_seconds),
        **dict(plan.worker_env),
    }


# ---------------------------------------------------------------------------------------------
# The processes


@dataclass
class _Process:
    instance: str
    number: int
    popen: subprocess.Popen[bytes]
    log: Path
    started: float
    how: str | None = None
    """Why it ended: ``killed``, ``scaled down``, ``final stop``; None while it runs or if it exited by itself."""
    signalled: float | None = None
    ended: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "incarnation": self.number,
            "pid": self.popen.pid,
            "started": round(self.started, 2),
            "ended": round(self.ended, 2) if self.ended is not None else None,
            "how": self.how or "exited by itself",
            "exit_code": self.popen.returncode,
            "seconds_to_stop": round(self.ended - self.signalled, 2)
            if self.ended is not None and self.signalled is not None and self.how != "killed"
            else None,
        }


_HEALTH_URL: Final = re.compile(r"health and metrics on http://[^:\s]+:(\d+)")
_OWN_VARIABLES: Final = re.compile(
    r"^(KAFKA_|WORKER_|CESCE_|SCHEMA_REGISTRY_|OTEL_|INVOICES_TOPIC$|SALE_RESULTS_TOPIC$)"
)


class Fleet:
    """The replicas: ``cesce-worker run invoices`` processes, each the leader of its own process group."""

    def __init__(self, env: Mapping[str, str], logs: Path, clock: Callable[[], float]) -> None:
        inherited = {k: v for k, v in os.environ.items() if not _OWN_VARIABLES.match(k)}
        self._env = {**inherited, **env}
        self._logs = logs
        self._clock = clock
        self._live: dict[str, _Process] = {}
        self.history: list[_Process] = []

    def start(self, instance: str) -> None:
        number = sum(p.instance == instance for p in self.history) + 1
        log = self._logs / f"{instance}-{number:02d}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run", "invoices"],
                env={**self._env, "WORKER_INSTANCE_ID": instance},
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = _Process(instance, number, popen, log, self._clock())
        self._live[instance] = process
        self.history.append(process)

    def running(self) -> list[str]:
        """Instances with a process that is neither exiting nor being stopped."""
        return sorted(i for i, p in self._live.items() if p.how is None and p.popen.poll() is None)

    def live(self) -> list[str]:
        return sorted(self._live)

    def probe(self, instance: str) -> dict[str, Any]:
        """What a live replica says of itself: ``/readyz`` and a few metrics (its port is in its log)."""
        process = self._live.get(instance)
        if process is None:
            return {"instance": instance, "state": "not running"}
        found = _HEALTH_URL.search(process.log.read_text(errors="replace"))
        if found is None:
            return {"instance": instance, "state": "no health endpoint logged yet"}
        url = f"http://127.0.0.1:{found.group(1)}"
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5)
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            return {"instance": instance, "state": f"unreachable: {exc!r}"}
        wanted = ("cesce_worker_in_flight", "cesce_worker_paused", "cesce_worker_lag")
        return {
            "instance": instance,
            "readyz": ready.status_code,
            "checks": ready.json().get("checks")
            if ready.headers.get("content-type", "").startswith("application/json")
            else None,
            "metrics": [line for line in metrics.splitlines() if line.startswith(wanted)],
        }

    def kill(self, instance: str) -> None:
        process = self._live.pop(instance)
        process.how, process.signalled = "killed", self._clock()
        signal_group(process.popen, signal.SIGKILL)
        process.popen.wait(30)
        process.ended = self._clock()

    def terminate(self, instance: str, how: str) -> None:
        process = self._live[instance]
        process.how, process.signalled = how, self._clock()
        signal_group(process.popen, signal.SIGTERM)

    def reap(self) -> list[_Process]:
        """The processes that exited since the last call (SIGTERMed ones SIGKILLed past their grace)."""
        gone = []
        now = self._clock()
        for instance, process in list(self._live.items()):
            if process.popen.poll() is None:
                if process.signalled is not None and now - process.signalled > STOP_GRACE_SECONDS:
                    process.how = f"{process.how}, SIGKILLed after {STOP_GRACE_SECONDS:.0f} s"
                    signal_group(process.popen, signal.SIGKILL)
                    process.popen.wait(30)
                else:
                    continue
            process.ended = now
            del self._live[instance]
            gone.append(process)
        return gone

    def stop_all(self) -> None:
        """SIGTERM every live replica and wait for each, up to the grace, then SIGKILL."""
        for instance in self.live():
            if self._live[instance].signalled is None:
                self.terminate(instance, "final stop")
        while self._live:
            self.reap()
            time.sleep(TICK_SECONDS)

    def close(self) -> None:
        """SIGKILL whatever still runs (an interrupted run); idempotent."""
        for process in self._live.values():
            signal_group(process.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(30)
            process.ended = self._clock()
        self._live.clear()


# ---------------------------------------------------------------------------------------------
# Their logs


_DIGITS: Final = re.compile(r"\d+")


def worker_warnings(logs: Path) -> list[dict[str, Any]]:
    """The workers' WARNING and ERROR lines, grouped by logger and message (digits as #), most frequent first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.startswith("Traceback"):
                    counts[("ERROR", "python", "Traceback (not a JSON log line)")] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                message = _DIGITS.sub("#", str(entry.get("message", "")))[:140]
                counts[(str(entry["level"]), str(entry.get("logger", "")), message)] += 1
    return [
        {"level": level, "logger": logger, "message": message, "count": count}
        for (level, logger, message), count in counts.most_common(15)
    ]
