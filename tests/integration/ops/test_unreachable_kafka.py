"""Issue 20: "A broker that cannot be reached gives one line naming the address (today `consume` prints about 200 raw
librdkafka lines in 10 s and then blames the topic, and `run` ends in a traceback). librdkafka's logs go through
Python logging, deduplicated."

The real CLI, as a child process, against 127.0.0.1 on a port nobody listens on (bound, then closed); and a real
librdkafka consumer whose lines go through the product's logger settings.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from workers.ops.consume import consumer_settings
from workers.runtime.kafka_logs import RepeatFilter

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "workers.cli"]
REACH_SECONDS = 2
_PORT_LINE = re.compile(r"health and metrics on http://127\.0\.0\.1:(\d+) ")


@pytest.fixture
def dead_address() -> str:
    """127.0.0.1 and a port that was free a moment ago: connections to it are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    return f"127.0.0.1:{port}"


def command_env(bootstrap: str, **extra: str) -> dict[str, str]:
    ours = ("KAFKA_", "CESCE_", "SCHEMA_REGISTRY_", "WORKER_", "OTEL_", "LOG_FORMAT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SCHEMA_REGISTRY_URL": f"mock://unreachable-{uuid.uuid4().hex}",
        "WORKER_KAFKA_REACH_SECONDS": str(REACH_SECONDS),
        "CESCE_BASE_URL": "http://127.0.0.1:9",
        "CESCE_CLIENT_ID": "it",
        "CESCE_CLIENT_SECRET": "it-secret",
        "CESCE_USERNAME": "it",
        "CESCE_PASSWORD": "it-password",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["consume", "--topic", "erp.invoices"], 1),
        (["produce", "--topic", "erp.invoices", "--file", "-"], 1),
        (["dlq", "list", "--topic", "erp.invoices.dlq"], 1),
        (["dlq", "replay", "--topic", "erp.invoices.dlq"], 1),
        (["reconcile", "sales", "--contract", "34109150331", "--month", "203001"], 2),
    ],
)
@pytest.mark.timeout(90)
def test_each_command_says_in_one_line_that_it_cannot_reach_kafka(
    argv: list[str], status: int, dead_address: str
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, *argv],
        input='{"key": "k", "value": "v"}\n',
        capture_output=True,
        text=True,
        env=command_env(dead_address),
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    name = " ".join(argv[:2]) if argv[0] in {"dlq", "reconcile"} else argv[0]
    assert done.returncode == status, done.stderr
    assert done.stderr.splitlines() == [
        f"cesce-worker {name}: cannot reach Kafka at {dead_address} "
        f"(Connect to ipv4#{dead_address} failed: Connection refused)"
    ]
    assert done.stdout == ""
    assert took < REACH_SECONDS + 40  # the bound, plus the interpreter's start on a busy machine


@pytest.mark.timeout(90)
def test_the_flag_names_the_address_the_command_tried(dead_address: str) -> None:
    done = subprocess.run(
        [*CLI, "consume", "--topic", "t", "--bootstrap-servers", dead_address],
        capture_output=True,
        text=True,
        env=command_env("127.0.0.1:1"),  # the variable says otherwise: the flag wins
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"cesce-worker consume: cannot reach Kafka at {dead_address} "
        f"(Connect to ipv4#{dead_address} failed: Connection refused)\n"
    )


# --- a worker ----------------------------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.timeout(150)
def test_a_worker_that_cannot_reach_kafka_says_so_once_is_not_ready_and_does_not_crash_loop(
    processes: int, dead_address: str, tmp_path: Path
) -> None:
    stdout, stderr = tmp_path / "worker.stdout", tmp_path / "worker.stderr"
    env = command_env(
        dead_address,
        LOG_FORMAT="json",
        WORKER_HTTP_HOST="127.0.0.1",
        WORKER_HTTP_PORT="0",
        WORKER_PROCESSES=str(processes),
        WORKER_KAFKA_REACH_SECONDS="1",
    )
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([*CLI, "run", "invoices"], env=env, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 90
        said: list[dict[str, Any]] = []
        while len(said) < processes:
            assert time.monotonic() < deadline, stderr.read_text()
            assert process.poll() is None, stderr.read_text()
            time.sleep(0.5)
            said = [e for e in json_lines(stderr.read_text()) if "cannot reach Kafka" in e["message"]]
        found = _PORT_LINE.search(stderr.read_text())
        assert found is not None, stderr.read_text()
        base = f"http://127.0.0.1:{found.group(1)}"
        readiness = httpx.get(f"{base}/readyz", timeout=15)
        assert readiness.status_code == 503
        assert f"cannot reach Kafka at {dead_address}" in readiness.json()["checks"]["kafka"]
        assert httpx.get(f"{base}/healthz", timeout=15).status_code == 200  # alive: restarting would not help
        time.sleep(3)  # three more probes each: still one line per process
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 1
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    entries = json_lines(stderr.read_text())
    text = stderr.read_text()
    assert "Traceback" not in text
    assert not [e for e in entries if e["logger"] == "librdkafka" and e["level"] != "DEBUG"], text
    line = f"invoices: cannot reach Kafka at {dead_address} (Connect to ipv4#{dead_address} failed: Connection refused)"
    waiting = [e for e in entries if e["message"] == f"{line}; not ready, trying again"]
    assert len(waiting) == processes, text
    assert all(e["level"] == "ERROR" for e in waiting)
    stopped = [e for e in entries if e["message"] == line.replace(": cannot", " stopped: cannot", 1)]
    assert len(stopped) == processes, text
    assert not [e for e in entries if "restart" in e["message"]], text  # no crash loop
    ours = [e for e in entries if e["logger"] != "httpx"]  # httpx: the parent asking its children's probes
    assert len(ours) <= 5 + 4 * processes, text  # a few lines, no flood


# --- librdkafka's lines through Python logging ---------------------------------------------------------


class Counter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        return True


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.timeout(60)
def test_librdkafka_lines_reach_python_logging_each_repeat_once(dead_address: str) -> None:
    """A consumer built from the operator commands' settings, its ``logger`` replaced by one with a fresh filter
    (the product's is shared by the whole test process): hundreds of refusals, one line shown."""
    logger = logging.getLogger(f"test.librdkafka.{uuid.uuid4().hex}")
    logger.propagate = False
    counter, kept = Counter(), Kept()
    logger.addFilter(counter)
    logger.addFilter(RepeatFilter(window=60))
    logger.addHandler(kept)
    config = consumer_settings({"bootstrap.servers": dead_address}, group=None, from_beginning=True)
    assert config["logger"].name == "librdkafka"
    consumer = Consumer({**config, "logger": logger})
    try:
        consumer.subscribe(["t"])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            consumer.poll(0.2)  # librdkafka's lines are handed over here
    finally:
        consumer.close()
    failures = [r for r in kept.records if isinstance(r.args, tuple) and r.args[0] == "FAIL"]
    assert len(failures) == 1, [r.getMessage() for r in kept.records]
    assert f"Connect to ipv4#{dead_address} failed: Connection refused" in failures[0].getMessage()
    assert failures[0].levelno == logging.ERROR
    assert counter.seen >= 10 + len(kept.records)  # librdkafka said it many times
