"""`cesce-worker` as a user runs it: real processes, real ports, clean exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "workers.cli"]


@pytest.fixture
def sandbox_process() -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CESCE_")}
    process = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    process.stderr.close()


def test_sandbox_prints_its_url_first_serves_and_stops_on_sigterm(sandbox_process: subprocess.Popen[str]) -> None:
    assert sandbox_process.stdout is not None
    base_url = sandbox_process.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:")
    token = httpx.post(
        f"{base_url}/oauth2/v1/token",
        data={
            "grant_type": "password",
            "client_id": "cli",
            "client_secret": "x",
            "username": "u",
            "password": "p",
            "scope": "read",
        },
    )
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert httpx.get(f"{base_url}/openapi.json").json()["openapi"].startswith("3.")
    sandbox_process.send_signal(signal.SIGTERM)
    assert sandbox_process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["sandbox", "--error-rate", "2"], "must be between 0 and 1"),
        (["sandbox", "--latency-ms", "-5"], "must not be negative"),
        (["sandbox", "--fixed-credentials", "--port", "0"], "set CESCE_SANDBOX_CLIENT_ID"),
        (["sandbox", "--scenario", "/nonexistent.json", "--port", "0"], "no scenario file at /nonexistent.json"),
        (["nothing"], "invalid choice"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(arguments: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CESCE_SANDBOX_")}
    done = subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=30, env=env, check=False)
    assert done.returncode != 0
    assert message in done.stderr


@pytest.mark.slow
def test_demo_runs_every_step_and_exits_zero() -> None:
    done = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith(("  ok", "  FAIL"))]
    assert len(steps) >= 50
    assert all(line.startswith("  ok") for line in steps)
    for shown in (
        "sandbox ledger: one sale per invoice",
        "sandbox ledger: one claim file per debtor",
        "FINAL GRANTED",
        "FINAL REJECTED",
        "2809",
        "newClaimFile False",
        "SETTLEMENT 2",
        "PENDING_DECIDED endorsementNo 4",
        "REDUCED endorsementNo 1",
        "CANCELLED endorsementNo 6",
        "month-end books",  # the reconciliation (issue 19)
        "DEACTIVATED",  # classification operations driven from the ERP (issue 19)
        "PREMIUM_ACCEPTED",
    ):
        assert shown in done.stdout
