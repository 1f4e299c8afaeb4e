"""Operations of a worker process: /healthz, /readyz, /metrics, JSON logs, and no secret ever written.

Each test runs ``cesce-worker run invoices`` as a child process (stdout and stderr in separate
files) against the embedded broker and a sandbox, reads the health port from its log, and stops it
with SIGTERM; a process still running at the end of a test, failed or not, is killed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from confluent_kafka import Message
from pydantic import SecretStr

from tests.integration.runtime.support import header, produce, read
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.demo.sample import sample_changes
from workers.runtime.consumer_thread import headers_of
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.admin_client import shared_tls_context
from workers.sandbox.config import Credentials

pytestmark = pytest.mark.integration

T = TypeVar("T")

_PORT_LINE = re.compile(r"health and metrics on http://[^:/\s]+:(\d+) \(/healthz /readyz /metrics\)")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_LOG_FIELDS = {"time", "level", "logger", "message"}


# --- a worker process ------------------------------------------------------------------------------


class WorkerProcess:
    """A running ``cesce-worker run``: its output files and its health endpoint."""

    def __init__(self, process: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.process = process
        self.stdout_path = stdout
        self.stderr_path = stderr
        self._port: int | None = None

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def port(self, within: float = 30) -> int:
        """The health port the process logged at start."""
        if self._port is None:

            def logged() -> int | None:
                assert self.process.poll() is None, f"the worker exited early:\n{self.stderr()[-3000:]}"
                found = _PORT_LINE.search(self.stderr())
                return int(found.group(1)) if found else None

            self._port = wait_for(logged, within, "the worker never logged its health port")
        return self._port

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port()}{path}", timeout=15)

    def ready(self, within: float = 30) -> httpx.Response:
        """The first 200 of /readyz."""

        def answer() -> httpx.Response | None:
            assert self.process.poll() is None, f"the worker exited:\n{self.stderr()[-3000:]}"
            response = self.get("/readyz")
            return response if response.status_code == 200 else None

        return wait_for(answer, within, lambda: f"never ready: {self.get('/readyz').text}")

    def terminate(self, within: float = 40) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(within)


@contextmanager
def worker_run(
    env: dict[str, str], tmp_path: Path, *args: str, worker: str = "invoices", name: str = "worker"
) -> Iterator[WorkerProcess]:
    """``python -m workers.cli run <worker> <args>`` with `env` over ours; killed at the end if still running."""
    stdout, stderr = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "run", worker, *args],
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=err,
        )
    try:
        yield WorkerProcess(process, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait_for(probe: Callable[[], T | None], within: float, failure: str | Callable[[], str]) -> T:
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(failure if isinstance(failure, str) else failure())
        time.sleep(0.2)


def invoices_env(
    kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, source: str, results: str, **extra: str
) -> dict[str, str]:
    return {
        **base_env(kafka, sandbox, registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
        "WORKER_HTTP_HOST": "127.0.0.1",
        "WORKER_HTTP_PORT": "0",
        "LOG_FORMAT": "json",
        **extra,
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a JSON-lines log; fails on a line that is not a JSON object with the log's fields."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"stderr line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict), f"stderr line {number} is not an object: {line!r}"
        assert entry.keys() >= _LOG_FIELDS, f"stderr line {number} lacks {_LOG_FIELDS - entry.keys()}: {line!r}"
        entries.append(entry)
    return entries


def samples(metrics: str, name: str, **labels: str) -> list[float]:
    """The values of the Prometheus samples `name` whose labels include `labels`."""
    found = []
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?", line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(match.group(3)))
    return found


# --- 1. health and metrics ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_worker_process_serves_health_readiness_metrics_and_json_logs(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    env = invoices_env(kafka, sandbox, schema_registry, source, results)
    # the input topic must exist for the group to hand out partitions (the mock creates it on first write)
    change = sample_changes(unique_topic("h")[-6:])[0]
    produce(kafka, source, [(change.key, change.value)])
    with worker_run(env, tmp_path, "--log-level", "DEBUG") as worker:  # an answered exchange's line is DEBUG
        alive = worker.get("/healthz")
        assert alive.status_code == 200
        assert alive.json()["alive"] is True
        assert worker.get("/nowhere").status_code == 404

        ready = worker.ready(within=30).json()
        assert ready["ready"] is True
        assert ready["checks"]["invoices.kafka"] == "ok"
        assert ready["checks"]["invoices.cesce"] == "ok"

        [result] = read(kafka, [results, f"{source}.dlq"], expect=1, timeout=60)
        assert result.topic() == results

        metrics = worker.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        published = samples(metrics.text, "cesce_worker_records_total", worker="invoices", outcome="published")
        assert sum(published) >= 1, metrics.text
        buckets = samples(metrics.text, "cesce_client_duration_seconds_bucket", operation="sales.declare")
        assert buckets, metrics.text
        assert max(buckets) >= 1, metrics.text

        assert worker.terminate() == 0

    entries = json_lines(worker.stderr())
    # the record's span: its trace continues in the result's traceparent, and the sale's request was logged in it
    trace_id = header(result, "traceparent").split("-")[1]
    in_span = [e for e in entries if e.get("trace_id") == trace_id]
    assert any("sales" in e["message"] and "POST" in e["message"] for e in in_span), entries
    for entry in entries:
        if "trace_id" in entry:
            assert _HEX32.fullmatch(entry["trace_id"]), entry


# --- 2. credentials refused ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_worker_whose_credentials_cesce_refuses_is_alive_but_not_ready(
    kafka: KafkaBackend, tmp_path: Path, schema_registry: str
) -> None:
    credentials = Credentials("it", SecretStr("the-right-secret"), "it", SecretStr("it-password"))
    wrong = "wrong-secret-3b1d77"
    with serve_in_thread(SandboxConfig(seed=1, credentials=credentials)) as strict:
        source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
        env = invoices_env(kafka, strict, schema_registry, source, results, CESCE_CLIENT_SECRET=wrong)
        with worker_run(env, tmp_path) as worker:

            def cesce_check() -> httpx.Response | None:
                assert worker.process.poll() is None, worker.stderr()[-3000:]
                response = worker.get("/readyz")
                return response if "invoices.cesce" in response.json()["checks"] else None

            readiness = wait_for(cesce_check, 30, "the invoices.cesce check never appeared")
            assert readiness.status_code == 503
            body = readiness.json()
            assert body["ready"] is False
            assert body["checks"]["invoices.cesce"].startswith("no Cesce token"), body
            assert wrong not in readiness.text
            alive = worker.get("/healthz")
            assert alive.status_code == 200
            assert alive.json()["alive"] is True
            assert worker.terminate() == 0
        assert wrong not in worker.stderr() + worker.stdout()


# --- 3. the health port taken ----------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_a_taken_health_port_stops_the_start_with_status_2(tmp_path: Path) -> None:
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "CESCE_BASE_URL": "http://127.0.0.1:1",
            "CESCE_CLIENT_ID": "it",
            "CESCE_CLIENT_SECRET": "it-secret",
            "CESCE_USERNAME": "it",
            "CESCE_PASSWORD": "it-password",
            "WORKER_HTTP_HOST": "127.0.0.1",
            "WORKER_HTTP_PORT": str(port),
            "SCHEMA_REGISTRY_URL": "http://127.0.0.1:1",  # never reached: the port check comes first
            "LOG_FORMAT": "json",
        }
        started = time.monotonic()
        with worker_run(env, tmp_path) as worker:
            assert worker.process.wait(45) == 2
        took = time.monotonic() - started
    finally:
        held.close()
    entries = json_lines(worker.stderr())
    assert any("WORKER_HTTP_PORT" in e["message"] and e["level"] == "ERROR" for e in entries), entries
    assert took < 45


# --- 4. no secret is ever written ------------------------------------------------------------------


class TokenRecorder:
    """A token endpoint in front of the sandbox's: forwards each POST, records the tokens it hands out."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.tokens: dict[str, str] = {}
        """What the sandbox handed out (``access token 1 (password grant)`` -> the token)."""
        self.grants: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-recorder", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/oauth2/v1/token"

    def __enter__(self) -> TokenRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def _record(self, form: bytes, answer: bytes) -> None:
        grant = parse_qs(form.decode()).get("grant_type", ["?"])[0]
        try:
            payload = json.loads(answer)
        except ValueError:
            payload = {}
        with self._lock:
            self.grants.append(grant)
            for name in ("access_token", "refresh_token"):
                if isinstance(payload, dict) and payload.get(name):
                    label = f"{name.replace('_', ' ')} {len(self.grants)} ({grant} grant)"
                    self.tokens[label] = str(payload[name])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    answer = httpx.post(
                        recorder.target,
                        content=body,
                        headers={"Content-Type": self.headers.get("Content-Type", "")},
                        timeout=10,
                        verify=shared_tls_context(),
                    )
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                recorder._record(body, answer.content)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def record_text(message: Message) -> str:
    """A record's key, value and headers as text (bytes decoded leniently: a secret is ASCII)."""
    parts = [message.key() or b"", message.value() or b""]
    for name, value in headers_of(message):
        parts += [name.encode(), value or b""]
    return "\n".join(part.decode("utf-8", errors="replace") for part in parts)


def leaks(places: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """``<secret> in <place>`` for every secret found somewhere."""
    return [
        f"{what} in {where}" for where, text in places.items() for what, secret in secrets.items() if secret in text
    ]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_whole_flow_never_writes_a_secret_or_a_token(
    kafka: KafkaBackend, tmp_path: Path, schema_registry: str
) -> None:
    client_secret, password, sasl_password = "cs-7f3a9e-DO-NOT-LOG", "pw-51c2d8-DO-NOT-LOG", "sasl-e40b6c-DO-NOT-LOG"
    credentials = Credentials("it-client", SecretStr(client_secret), "it-user", SecretStr(password))
    # access tokens live 10 s: the worker renews them after 5 s with the refresh grant
    config = SandboxConfig(seed=5, credentials=credentials, token_ttl_seconds=10)
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    dlq = f"{source}.dlq"
    changes = sample_changes(unique_topic("s")[-6:])
    first, second = changes[:7], changes[7:]
    with serve_in_thread(config) as strict, TokenRecorder(f"{strict.base_url}/oauth2/v1/token") as recorder:
        env = invoices_env(
            kafka,
            strict,
            schema_registry,
            source,
            results,
            CESCE_OAUTH_URL=recorder.url,
            CESCE_CLIENT_ID="it-client",
            CESCE_CLIENT_SECRET=client_secret,
            CESCE_USERNAME="it-user",
            CESCE_PASSWORD=password,
            KAFKA_SASL_USERNAME="it-sasl-user",
            KAFKA_SASL_PASSWORD=sasl_password,
            OTEL_TRACES_EXPORTER="console",
            OTEL_METRICS_EXPORTER="console",
            OTEL_METRIC_EXPORT_INTERVAL="2000",
        )
        produce(kafka, source, [(c.key, c.value) for c in first])
        with worker_run(env, tmp_path, "--log-level", "DEBUG") as worker:
            worker.ready(within=30)
            read(kafka, [results, dlq], expect=len(first), timeout=60)
            # the token is stale after 5 s: the readiness check renews it with the refresh grant
            time.sleep(5.5)
            ready_after_refresh = worker.ready(within=20)
            # then Cesce forgets every access token: the next call is refused (401) and the token renewed
            assert strict.admin().revoke_tokens() >= 1
            produce(kafka, source, [(c.key, c.value) for c in second])
            read(kafka, [results, dlq], expect=len(changes), timeout=60)
            metrics = worker.get("/metrics")
            readiness = worker.ready(within=20)
            assert worker.terminate() == 0
        stdout, stderr = worker.stdout(), worker.stderr()
    # every record of both topics, read again once the worker has stopped
    messages = read(kafka, [results, dlq], expect=len(changes), timeout=30)

    # the flow did what it should, so the search below had material
    assert len(messages) == len(changes)
    categories = sorted(header(m, "dlq.category") for m in messages if m.topic() == dlq)
    assert categories == sorted(c.expect.removeprefix("dlq:") for c in changes if c.expect.startswith("dlq:"))
    # a password grant, a refresh when the token went stale, another after the 401: 3 access tokens at least
    assert sum(label.startswith("access") for label in recorder.tokens) >= 3, recorder.grants
    assert "password" in recorder.grants, recorder.grants
    assert "refresh_token" in recorder.grants, recorder.grants
    refused = samples(metrics.text, "cesce_client_duration_seconds_count", status="401")
    assert sum(refused) >= 1, f"no call was refused after the revocation:\n{metrics.text}"
    assert '"name": "process ' in stdout, stdout[:2000]
    entries = json_lines(stderr)
    assert any(e["level"] == "DEBUG" for e in entries)

    places = {
        "stdout": stdout,
        "stderr": stderr,
        "/metrics": metrics.text,
        "/readyz (after the refresh)": ready_after_refresh.text,
        "/readyz (at the end)": readiness.text,
    }
    for number, message in enumerate(messages):
        places[f"{message.topic()} record {number} (offset {message.offset()})"] = record_text(message)
    secrets = {
        "the client secret": client_secret,
        "the password": password,
        "the SASL password": sasl_password,
        "Bearer ": "Bearer ",
    }
    secrets |= recorder.tokens
    assert leaks(places, secrets) == []
    # the search does find what is there: the input topic is named in the logs, the spans and the dead letters
    control = leaks(places, {"the input topic": source})
    assert {"the input topic in stdout", "the input topic in stderr"} <= set(control)
    assert any(f"in {dlq} record" in found for found in control)
