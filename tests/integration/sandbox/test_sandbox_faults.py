"""Injected faults over HTTP: latency, error rate, rate limit, hang, drop, maintenance."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from workers.cesce import catalogue as cat
from workers.sandbox import Faults, RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

SUBSIDIARIES = "/sales/v1/contracts/34109150331/subsidiaries"


def sales_recorded(sandbox: RunningSandbox) -> int:
    return len(sandbox.admin().ledger()["sales"])


def test_latency_delays_api_calls_only(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(latency_ms=250)
    started = time.perf_counter()
    assert api.get(SUBSIDIARIES).status_code == 200
    assert time.perf_counter() - started >= 0.25
    started = time.perf_counter()
    sandbox.admin().ledger()
    api.login()
    assert time.perf_counter() - started < 0.25


def test_jitter_adds_at_most_its_value(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(latency_ms=50, jitter_ms=100)
    durations = []
    for _ in range(5):
        started = time.perf_counter()
        api.get(SUBSIDIARIES)
        durations.append(time.perf_counter() - started)
    assert all(0.05 <= d < 0.5 for d in durations)
    assert max(durations) - min(durations) > 0.001


def test_error_rate_answers_500_without_processing(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(error_rate=1.0)
    response = api.sale()
    assert api.error_of(response) == (500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
    assert sales_recorded(sandbox) == 0
    sandbox.admin().set_faults(error_rate=0)
    assert api.sale().status_code == 201


def _statuses(seed: int, connect: Any) -> list[int]:
    with serve_in_thread(SandboxConfig(seed=seed, faults=Faults(error_rate=0.5))) as running:
        api = connect(running)
        return [api.get(SUBSIDIARIES).status_code for _ in range(24)]


def test_the_error_rate_is_deterministic_for_a_seed(connect: Any) -> None:
    first, again, other = _statuses(42, connect), _statuses(42, connect), _statuses(43, connect)
    assert first == again
    assert set(first) == {200, 500}
    assert first != other


def test_the_rate_limit_answers_429_with_retry_after_without_processing(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(rate_limit=2)
    answers = [api.sale(invoiceNo=f"F-{n}") for n in range(4)]
    assert [a.status_code for a in answers[:2]] == [201, 201]
    limited = answers[2]
    assert api.error_of(limited) == (429, cat.ERROR_CODE_RATE_LIMITED, cat.MSG_RATE_LIMITED)
    retry_after = limited.headers["Retry-After"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert sales_recorded(sandbox) == 2
    assert sandbox.admin().stats()["faults"]["rateLimited"] >= 1


def test_the_rate_limit_refills(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(rate_limit=20)
    statuses = [api.get(SUBSIDIARIES).status_code for _ in range(40)]
    assert 429 in statuses
    time.sleep(0.1)  # 20 per second: two tokens back
    assert api.get(SUBSIDIARIES).status_code == 200
    sandbox.admin().set_faults(rate_limit=None)
    assert all(api.get(SUBSIDIARIES).status_code == 200 for _ in range(30))


def test_a_hang_processes_then_holds_the_answer(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(hang_rate=1.0, hang_seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            "/sales/v1/contracts/34109150331/sales",
            json={
                "client": {"languageCode": "ES"},
                "generalData": {
                    "customerReference": "CLI-0001",
                    "invoiceNo": "H-1",
                    "invoiceDate": "20300101",
                    "maturityDate": "20300301",
                    "currencyAmount": "10,00",
                },
            },
            timeout=0.3,
        )
    assert sales_recorded(sandbox) == 1
    assert sandbox.admin().stats()["faults"]["hung"] == 1


def test_a_short_hang_delivers_the_answer_late(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(hang_rate=1.0, hang_seconds=0.3)
    started = time.perf_counter()
    assert api.sale().status_code == 201
    assert time.perf_counter() - started >= 0.3


def test_a_drop_processes_then_cuts_the_connection(
    api: Any, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.admin().set_faults(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.sale()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sales_recorded(sandbox) == 1
    assert sandbox.admin().stats()["faults"]["dropped"] == 1
    sandbox.admin().set_faults(drop_rate=0)
    assert api.error_of(api.sale())[2].endswith("duplicada")


def test_maintenance_answers_18_without_processing(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(maintenance=True)
    response = api.sale()
    assert api.error_of(response) == (400, cat.ERROR_CODE_MAINTENANCE, "Servicio en mantenimiento")
    assert sales_recorded(sandbox) == 0


def test_faults_set_in_the_configuration_apply_from_the_start() -> None:
    with serve_in_thread(SandboxConfig(faults=Faults(maintenance=True))) as running:
        faults = running.admin().faults()
        response = httpx.get(running.base_url + SUBSIDIARIES)
    assert faults["maintenance"] is True
    assert response.json()["error"]["errorCode"] == "18"


def test_faults_merge_the_given_keys_and_reject_bad_ones(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_faults(latency_ms=5)
    faults = admin.set_faults(error_rate=0.25)
    assert faults == {
        "latencyMs": 5,
        "jitterMs": 0,
        "errorRate": 0.25,
        "rateLimit": None,
        "hangRate": 0,
        "hangSeconds": 30,
        "dropRate": 0,
        "maintenance": False,
    }
    for bad in ({"errorRate": 2}, {"latencyMs": "fast"}, {"surprise": 1}, {"rateLimit": 0}, {"maintenance": 1}):
        response = httpx.put(f"{sandbox.base_url}/sandbox-admin/faults", json=bad)
        assert response.status_code == 422, bad
        assert "detail" in response.json()
    assert admin.faults() == faults


def test_admin_and_unknown_paths_are_never_faulted(sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(maintenance=True, error_rate=1.0)
    assert sandbox.admin().ledger()["sales"] == []
    assert httpx.get(f"{sandbox.base_url}/nowhere").json()["error"]["errorCode"] == "4"
    assert httpx.get(f"{sandbox.base_url}/openapi.json").status_code == 200


def test_stats_count_requests_by_route_template_and_status(api: Any, sandbox: RunningSandbox) -> None:
    api.sale()
    api.sale()
    sandbox.admin().set_faults(maintenance=True)
    api.get(SUBSIDIARIES)
    stats = sandbox.admin().stats()
    assert stats["byRoute"]["POST /sales/v1/contracts/{contractNo}/sales"] == 2
    assert stats["byRoute"]["GET /sales/v1/contracts/{contractNo}/subsidiaries"] == 1
    assert stats["byRoute"]["POST /oauth2/v1/token"] == 1
    assert stats["byStatus"] == {"200": 1, "201": 1, "400": 2}
    assert stats["faults"]["maintenance"] == 1
    assert not any(route.split()[1].startswith("/sandbox-admin") for route in stats["byRoute"])
