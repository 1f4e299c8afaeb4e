"""A harness stopped with SIGTERM stops every process it started (benchmarks.services.stop_children_on_sigterm).

The memory benchmark, at a small size, is signalled once its worker runs: it exits 143 and its broker,
sandbox and worker (each in a process group of its own, so a signal to the harness reaches none of them)
are gone within seconds. Python's default for SIGTERM ended the harness at once and left them running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import children_of, process_running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(180)
def test_a_harness_stopped_with_sigterm_stops_its_broker_sandbox_and_worker(tmp_path: Path) -> None:
    small = ["--invoices", "2000", "--debtors", "20", "--seconds", "60", "--output", str(tmp_path / "memory.json")]
    harness = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_memory", *small],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and harness.poll() is None:
            started = children_of(harness.pid)
            if any(" run invoices" in command for command in started.values()):
                break
            time.sleep(0.2)
        assert any(" run invoices" in command for command in started.values()), started
        assert any(" broker" in command for command in started.values()), started
        assert any(" sandbox" in command for command in started.values()), started
        harness.send_signal(signal.SIGTERM)
        assert harness.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(process_running(pid) for pid in started):
            time.sleep(0.2)
        assert {pid: command for pid, command in started.items() if process_running(pid)} == {}
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for pid in started:  # what a failed run left: each child leads its own process group
            if process_running(pid):
                os.killpg(pid, signal.SIGKILL)
