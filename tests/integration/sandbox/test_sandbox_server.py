"""Serving: threads and ports are cleaned up, shutdown is prompt, `run` stops on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from workers.sandbox import Faults, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_ephemeral_port_is_used_and_released() -> None:
    threads_before = set(threading.enumerate())
    with serve_in_thread(SandboxConfig()) as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        assert running.base_url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{running.base_url}/sandbox-admin/clock").status_code == 200
    assert set(threading.enumerate()) == threads_before
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free again


def test_a_given_port_is_used() -> None:
    port = _free_port()
    with serve_in_thread(SandboxConfig(port=port)) as running:
        assert running.base_url.endswith(f":{port}")


def test_a_port_in_use_fails_to_start_cleanly() -> None:
    threads_before = set(threading.enumerate())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start"), serve_in_thread(SandboxConfig(port=port)):
            pass  # pragma: no cover - never reached
    assert set(threading.enumerate()) == threads_before


def test_shutdown_is_prompt_with_a_hung_request_in_flight() -> None:
    threads_before = set(threading.enumerate())
    config = SandboxConfig(faults=Faults(hang_rate=1.0, hang_seconds=30))
    results: list[Any] = []
    with serve_in_thread(config) as running:

        def hang() -> None:
            try:
                results.append(httpx.get(f"{running.base_url}/sales/v1/contracts/34109150331/subsidiaries", timeout=20))
            except httpx.HTTPError as exc:
                results.append(exc)

        client = threading.Thread(target=hang)
        client.start()
        deadline = time.monotonic() + 5
        while running.admin().stats()["faults"]["hung"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    client.join(5)
    assert not client.is_alive()
    assert len(results) == 1  # the held answer was released (or cut) at shutdown, not after 30 s
    assert set(threading.enumerate()) == threads_before


def test_each_sandbox_has_its_own_state(get_token: Any) -> None:
    with serve_in_thread(SandboxConfig()) as first, serve_in_thread(SandboxConfig()) as second:
        first.admin().set_faults(maintenance=True)
        assert second.admin().faults()["maintenance"] is False
        token = get_token(first.base_url)["access_token"]
        refused = httpx.get(
            f"{second.base_url}/sales/v1/contracts/34109150331/subsidiaries?languageCode=ES",
            headers={"Authorization": f"Bearer {token}", "X-IBM-Client-Id": "test-client"},
        )
    assert refused.status_code == 401


def test_reset_reloads_the_scenario(api: Any, sandbox: Any) -> None:
    api.sale()
    admin = sandbox.admin()
    admin.set_faults(latency_ms=1)
    admin.reset()
    assert admin.ledger()["sales"] == []
    assert admin.faults()["latencyMs"] == 1
    assert api.sale().status_code == 201  # the token survived the reset


@pytest.mark.slow
def test_run_serves_until_sigint() -> None:
    code = (
        "import sys\n"
        "from workers.sandbox import SandboxConfig, run\n"
        "run(SandboxConfig(), lambda url: print(url, flush=True))\n"
        "print('stopped', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{base_url}/sandbox-admin/clock").status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
