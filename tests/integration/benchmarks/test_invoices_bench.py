"""The invoices benchmark in short: ``cesce-worker run invoices`` as a child with its telemetry, checked, figured.

Tiny sizes (the figures mean nothing here, only that the harness runs and the checks hold): the 20 ms
regime (the worker and the naive loop, told one process) and the processes regime with one process, which is the
20 ms worker again and so runs once. And the discard OTLP sink the worker exports its traces to.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from benchmarks.bench_invoices import main
from benchmarks.bench_measure import otlp_sink

pytestmark = pytest.mark.integration


def test_the_otlp_sink_answers_every_export_and_counts_it() -> None:
    server = otlp_sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client() as client:
            for path in ("/v1/traces", "/v1/traces", "/v1/metrics"):
                answer = client.post(
                    f"{url}{path}", content=b"\x0a\x00", headers={"content-type": "application/x-protobuf"}
                )
                assert (answer.status_code, answer.content) == (200, b"")
            stats = client.get(f"{url}/stats").json()
    finally:
        server.shutdown()
        server.server_close()
    assert stats == {"requests": {"/v1/traces": 2, "/v1/metrics": 1}, "bytes": {"/v1/traces": 4, "/v1/metrics": 2}}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_small_run_of_the_production_worker_is_measured_and_checked(tmp_path: Path) -> None:
    output = tmp_path / "invoices.json"
    argv = [
        "--regimes",
        "20ms,processes",
        "--processes",
        "1",
        "--fast-processes",
        "1",
        "--invoices",
        "40",
        "--debtors",
        "8",
    ]
    assert main([*argv, "--naive-invoices", "10", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["checks_passed"]
    assert result["errors"] == []
    worker, naive = result["cases"]
    assert worker["regimes"] == ["20ms", "processes"]
    assert (worker["system"], naive["system"]) == ("worker", "naive")
    assert (worker["invoices"], worker["jitter_ms"], worker["processes_seen"]) == (40, 10.0, 1)
    assert worker["exit_code"] == 0
    assert worker["otlp_requests"] > 0  # the SDK exported its traces
    assert worker["cpu_seconds"] > 0
    assert worker["rss_peak_kib"] > 0
    assert worker["cesce_requests"]["POST /sales/v1/contracts/{contractNo}/sales"] == 48
    assert [t["figure"] for t in result["targets"]] == ["worker / naive loop", "worker rate / ceiling", "1 process"]
    assert result["machine"]["nproc"] >= 1
