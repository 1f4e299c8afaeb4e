"""The operator's walk-through (docs/operations.md, "Running the pipeline by hand") works as written.

Issue 20: "`examples/` with ready JSON-lines files for each input topic, used by the docs' walk-through (which today
says "same variables" for a second worker and then collides on the health port)."

Every command of its code blocks runs as the guide prints it, from the repository root, in a shell of its own: the
broker and the sandbox in the background, each worker in the background after the guide's ``export``, then the
commands that produce `examples/` and read the results, whose outcomes must be the ones the guide's comments name.
Skipped, saying why, where a port the guide names is taken or the repository has no ``.venv``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.walk_through import blocks, commands, words
from workers.runtime.serde import loads_exact

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[3]
BASH = shutil.which("bash") or "/bin/bash"  # the guide's commands are bash
DEFAULT_HEALTH_PORT = 9464
OURS = ("KAFKA_", "CESCE_", "SCHEMA_REGISTRY_", "WORKER_", "RISK_", "SALES_FOLLOWUP_", "LOG_", "OTEL_")
OUTCOMES = {  # what the guide's comments say each topic shows
    "cesce.sale-results": Counter({"DECLARED": 2, "NO_CHANGE": 1}),
    "cesce.classification-results": Counter({"GRANTED": 2, "PENDING": 1}),
    "cesce.non-payment-results": Counter({"DECLARED": 2}),
}


def taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(what: str, done: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done() if callable(done) else done:
            return
        time.sleep(0.2)
    raise AssertionError(f"the walk-through: {what} within {seconds:g} s")


class Terminals:
    """The terminals of the walk-through: each background command its own session, killed at the end."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]] = []

    def start(self, command: str) -> Path:
        """`command` in the background; the file its stdout goes to."""
        index = len(self.running)
        out, err = self.directory / f"{index}.out", self.directory / f"{index}.err"
        stdout, stderr = out.open("wb"), err.open("wb")
        process = subprocess.Popen(
            [BASH, "-c", command], cwd=ROOT, env=self.env, stdout=stdout, stderr=stderr, start_new_session=True
        )
        self.running.append((process, stdout, stderr))
        return out

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASH, "-c", command], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=90, check=False
        )

    def stop(self) -> None:
        for process, _, _ in reversed(self.running):  # the workers first, the broker last
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for _, stdout, stderr in self.running:
            stdout.close()
            stderr.close()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in sorted(self.directory.glob("*.err")))


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[Terminals]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(OURS)}
    opened = Terminals(tmp_path, env)
    try:
        yield opened
    finally:
        opened.stop()


def health_port(command: str) -> int:
    settings = dict(word.split("=", 1) for word in words(command) if "=" in word and word.split("=")[0].isupper())
    return int(settings.get("WORKER_HTTP_PORT", DEFAULT_HEALTH_PORT))


def outcomes(printed: str) -> Counter[str]:
    return Counter(str(loads_exact(line)["value"]["outcome"]) for line in printed.splitlines() if line.strip())


@pytest.mark.timeout(300)
def test_every_command_of_the_walk_through_works_as_written(terminals: Terminals) -> None:
    servers, settings, workers, session = (commands(block) for block in blocks())
    assert len(settings) == 1
    assert settings[0].startswith("export ")
    if not (ROOT / ".venv" / "bin" / "cesce-worker").exists():
        pytest.skip("the walk-through runs .venv/bin/cesce-worker: no .venv at the repository root")
    sandbox_port = int(next(w for w in words(servers[1]) if w.isdigit()))
    ports = [sandbox_port, *(health_port(command) for command in workers)]
    busy = [port for port in ports if taken(port)]
    if busy:
        pytest.skip(f"the walk-through's ports {busy} are taken on this machine")

    broker_out = terminals.start(servers[0])
    terminals.start(servers[1])
    wait_until("the broker prints its two addresses", lambda: len(broker_out.read_text().splitlines()) >= 2)
    wait_until(f"the sandbox listens on {sandbox_port}", lambda: taken(sandbox_port))
    for command in workers:
        terminals.start(f"{settings[0]}; {command}")
    for port in ports[1:]:
        wait_until(f"a worker serves /healthz on {port}", lambda port=port: taken(port))

    said = {}
    for command in session:
        done = terminals.run(f"{settings[0]}; {command}")
        assert done.returncode == 0, f"{command}\n{done.stderr}\n{terminals.logs()}"
        said[command] = done.stdout
        argv = words(command)
        if "produce" in argv:
            sent = (ROOT / argv[argv.index("--file") + 1]).read_text(encoding="utf-8").splitlines()
            assert len(done.stdout.splitlines()) == len(sent), done.stderr  # one delivery line per record
        topic = argv[argv.index("--topic") + 1]
        if "consume" in argv and topic in OUTCOMES:
            for _ in range(3):  # a worker that joined its group late answers on the next read
                if outcomes(said[command]) == OUTCOMES[topic]:
                    break
                said[command] = terminals.run(f"{settings[0]}; {command}").stdout
            assert outcomes(said[command]) == OUTCOMES[topic], f"{topic}: {said[command]}\n{terminals.logs()}"

    dead_letters = "\n".join(text for command, text in said.items() if "erp.invoices.dlq" in command)
    assert "1522" in dead_letters  # the invoice dated after its maturity, as the guide says
    assert "F2026-0003" in dead_letters
    with httpx.Client() as http:  # every worker on its own port, all alive
        assert all(http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200 for port in ports[1:])
