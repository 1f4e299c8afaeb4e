"""One /healthz, /readyz and /metrics for a process tree: the parent's answers over its children's."""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from workers.observability.tree import (
    ChildStatus,
    TreeHealth,
    TreeMetrics,
    http_fetch,
    merge_families,
    merge_readiness,
    registry_of,
)


def exposition(records: float, in_flight: float, seconds: float) -> str:
    """What a child's /metrics says: a counter, a gauge and a histogram, as the OpenTelemetry exporter names them."""
    registry = CollectorRegistry()
    Counter("cesce_worker_records", "Records handled", ["worker", "outcome"], registry=registry).labels(
        "invoices", "published"
    ).inc(records)
    Gauge("cesce_worker_in_flight", "Records being handled", ["worker"], registry=registry).labels("invoices").set(
        in_flight
    )
    Histogram("cesce_client_duration_seconds", "Cesce calls", ["operation"], registry=registry).labels(
        "sales.declare"
    ).observe(seconds)
    return generate_latest(registry).decode()


class FakeChildren:
    """Children's endpoints by port: (status, body) per path, or an exception to raise."""

    def __init__(self, answers: dict[int, dict[str, tuple[int, str] | Exception]]) -> None:
        self.answers = answers
        self.asked: list[tuple[int, str, float]] = []

    def __call__(self, port: int, path: str, timeout: float) -> tuple[int, str]:
        self.asked.append((port, path, timeout))
        answer = self.answers[port][path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def readiness(ready: bool, **checks: str) -> tuple[int, str]:
    return (200 if ready else 503), json.dumps({"ready": ready, "checks": checks})


# --- /readyz ------------------------------------------------------------------------------------------


def test_readiness_merges_checks_by_name_and_says_which_process_complains() -> None:
    merged = merge_readiness(
        {
            0: {"invoices.kafka": "ok", "invoices.cesce": "ok"},
            1: {"invoices.kafka": "no partition assignment yet", "invoices.cesce": "ok"},
            2: "down: exited with status 1; restarting in 4s",
        }
    )
    assert merged == {
        "process.0": "ok",
        "process.1": "ok",
        "process.2": "down: exited with status 1; restarting in 4s",
        "invoices.kafka": "no partition assignment yet (process 1)",
        "invoices.cesce": "ok",
    }


async def test_tree_readiness_is_ready_only_when_every_child_is() -> None:
    fetch = FakeChildren(
        {
            9001: {"/readyz": readiness(True, **{"invoices.kafka": "ok"})},
            9002: {"/readyz": readiness(False, **{"invoices.kafka": "no broker reachable"})},
            9003: {"/readyz": httpx.ConnectError("refused")},
        }
    )
    children = [ChildStatus(0, 9001), ChildStatus(1, 9002), ChildStatus(2, 9003), ChildStatus(3, None)]
    health = TreeHealth(lambda: children, fetch=fetch)
    checks = await health.ready()
    assert checks == {
        "process.0": "ok",
        "process.1": "ok",
        "process.2": "no answer from its health endpoint (ConnectError)",
        "process.3": "starting",
        "invoices.kafka": "no broker reachable (process 1)",
    }
    fetch.answers[9002]["/readyz"] = readiness(True, **{"invoices.kafka": "ok"})
    fetch.answers[9003]["/readyz"] = readiness(True, **{"invoices.kafka": "ok"})
    children[3] = ChildStatus(3, 9001)
    assert set((await health.ready()).values()) == {"ok"}


# --- /healthz -----------------------------------------------------------------------------------------


def test_tree_liveness_fails_when_a_child_is_down_or_unhealthy() -> None:
    fetch = FakeChildren(
        {
            9001: {"/healthz": (200, json.dumps({"alive": True, "reason": "ok"}))},
            9002: {"/healthz": (503, json.dumps({"alive": False, "reason": "event loop silent for 31s"}))},
        }
    )
    children = [ChildStatus(0, 9001), ChildStatus(1, None)]  # 1 starting: alive
    health = TreeHealth(lambda: children, fetch=fetch)
    assert health.alive() == (True, "ok")
    children[1] = ChildStatus(1, 9002)
    assert health.alive() == (False, "process 1: event loop silent for 31s")
    children[1] = ChildStatus(1, None, down="killed by SIGKILL; restarting in 1s")
    assert health.alive() == (False, "process 1 down: killed by SIGKILL; restarting in 1s")
    assert all(timeout < 3 for _, _, timeout in fetch.asked), "under the liveness probe's timeout"


# --- /metrics -----------------------------------------------------------------------------------------


def test_children_metrics_merge_into_one_valid_exposition_labelled_by_process() -> None:
    own = CollectorRegistry()
    Counter("cesce_worker_process_restarts", "Restarts", ["worker", "process"], registry=own).labels(
        "invoices", "1"
    ).inc()
    fetch = FakeChildren(
        {
            9001: {"/metrics": (200, exposition(records=3, in_flight=2, seconds=0.2))},
            9002: {"/metrics": (200, exposition(records=4, in_flight=1, seconds=0.4))},
            9003: {"/metrics": httpx.ReadTimeout("slow")},  # that child is left out of this scrape
        }
    )
    children = [ChildStatus(0, 9001), ChildStatus(1, 9002), ChildStatus(2, 9003), ChildStatus(3, None, down="x")]
    text = generate_latest(registry_of(TreeMetrics(own, lambda: children, fetch=fetch))).decode()

    families = {family.name: family for family in text_string_to_metric_families(text)}
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(declared) == len(set(declared)), f"a family declared twice: {text}"
    for name in ("cesce_worker_records_total", "cesce_worker_in_flight", "cesce_client_duration_seconds"):
        assert f"# HELP {name} " in text, text
        assert name in declared, text
    records = {
        s.labels["process"]: s.value for s in families["cesce_worker_records"].samples if s.name.endswith("_total")
    }
    assert records == {"0": 3.0, "1": 4.0}
    assert families["cesce_worker_records"].type == "counter"
    assert {s.labels["process"] for s in families["cesce_client_duration_seconds"].samples} == {"0", "1"}
    assert families["cesce_client_duration_seconds"].type == "histogram"
    restarts = [s for s in families["cesce_worker_process_restarts"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in restarts] == [({"worker": "invoices", "process": "1"}, 1.0)]
    assert [port for port, _, _ in fetch.asked] == [9001, 9002, 9003], "only running children are asked"


def test_a_family_whose_type_differs_is_left_out_not_served_twice() -> None:
    first = list(text_string_to_metric_families("# HELP x thing\n# TYPE x gauge\nx 1\n"))
    second = list(text_string_to_metric_families("# HELP x_total thing\n# TYPE x_total counter\nx_total 1\n"))
    [merged] = merge_families([("0", first), ("1", second)])
    assert merged.type == "gauge"
    assert [(s.labels, s.value) for s in merged.samples] == [({"process": "0"}, 1.0)]


def test_a_child_is_asked_directly_whatever_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "")
        assert http_fetch(server.server_address[1], "/readyz", 5.0) == (200, "ok")
    finally:
        server.shutdown()
        server.server_close()
