"""Logs, exporters' choice and health decisions: pure logic, no sockets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
from opentelemetry.sdk.trace import TracerProvider

from workers.observability.health import Health
from workers.observability.logs import JsonFormatter, Redactor, TextFormatter, configure_logging
from workers.observability.metrics import LagBoard
from workers.observability.setup import TelemetryConfigError, exemplar_filter, exporters
from workers.ops.run_command import secret_values


def test_the_redactor_masks_known_secrets_and_anything_shaped_like_a_credential() -> None:
    redact = Redactor(["cs-7f3a9e", "pw-51c2d8", "abc"])  # too short to mask safely: left alone
    assert redact("login with cs-7f3a9e and pw-51c2d8") == "login with *** and ***"
    assert redact("Authorization: Bearer eyJhbGciOi.x-y_z") == "Authorization: ***"
    assert redact("headers {'authorization': 'Bearer tok123'}") == "headers {'authorization': '***'}"
    assert redact('{"access_token": "t0k3n", "expires_in": 3600}') == '{"access_token": "***", "expires_in": 3600}'
    assert redact("grant_type=password&password=hunter22&scope=x") == "grant_type=password&password=***&scope=x"
    assert redact("refresh_token=r3fr3sh") == "refresh_token=***"
    assert redact("nothing to hide: abc") == "nothing to hide: abc"


def test_json_lines_carry_the_trace_and_span_ids_of_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")  # a real SDK span, without touching the global provider
    formatter = JsonFormatter(Redactor(["s3cr3t-value"]))
    record = logging.LogRecord("workers.x", logging.WARNING, __file__, 1, "token %s refused", ("s3cr3t-value",), None)
    with tracer.start_as_current_span("process t") as span:
        line = json.loads(formatter.format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "workers.x", "token *** refused")
    assert line["time"].endswith("Z")
    assert "trace_id" not in json.loads(formatter.format(record))  # outside a span


def test_configure_logging_routes_every_logger_through_the_redacting_formatter() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", json_lines=True, secrets=["client-secret-1"], stream=stream)
        logging.getLogger("httpx").info("POST with client-secret-1")
        logging.getLogger("librdkafka").debug("not at INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "POST with ***"


def test_secret_values_are_taken_by_the_variables_names() -> None:
    env = {"CESCE_CLIENT_SECRET": "a", "CESCE_PASSWORD": "b", "KAFKA_SASL_PASSWORD": "c", "CESCE_USERNAME": "u"}
    more = {"SOME_TOKEN": "d", "EMPTY_SECRET": "", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "e:f"}
    more["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer g"
    assert sorted(secret_values({**env, **more})) == ["a", "authorization=Bearer g", "b", "c", "d", "e:f"]


def test_exporters_default_to_otlp_only_when_an_endpoint_is_configured() -> None:
    assert exporters({}, "traces") == set()
    assert exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "traces") == {"otlp"}
    assert exporters({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, "metrics") == {"otlp"}
    assert exporters({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, "traces") == set()
    assert exporters({"OTEL_TRACES_EXPORTER": "console, otlp"}, "traces") == {"console", "otlp"}
    assert exporters({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}, "traces") == set()
    with pytest.raises(TelemetryConfigError, match="OTEL_METRICS_EXPORTER: zipkin is not one of"):
        exporters({"OTEL_METRICS_EXPORTER": "zipkin"}, "metrics")


def test_exemplars_only_when_something_would_export_them() -> None:
    """The Prometheus reader never shows exemplars: choosing them cost ~3 us of every measurement in a span."""
    assert isinstance(exemplar_filter({}, set()), AlwaysOffExemplarFilter)
    assert exemplar_filter({}, {"otlp"}) is None  # the SDK's default (trace based) for what is pushed
    assert exemplar_filter({"OTEL_METRICS_EXEMPLAR_FILTER": "always_on"}, set()) is None  # asked for: the SDK's


def test_liveness_fails_once_the_loop_has_been_silent_too_long() -> None:
    now = [100.0]
    health = Health(stall_seconds=30, clock=lambda: now[0])
    assert health.alive() == (True, "ok")
    now[0] += 31
    assert health.alive() == (False, "event loop silent for 31s")
    health.beat()
    assert health.alive()[0]


async def test_readiness_reports_each_check_and_survives_failing_and_hanging_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("workers.observability.health._CHECK_SECONDS", 0.05)
    health = Health()

    async def ok() -> None:
        return None

    async def waiting() -> str:
        return "no partition assignment yet"

    async def broken() -> None:
        raise RuntimeError("boom")

    async def hanging() -> None:
        await asyncio.sleep(10)

    for name, check in [("a.kafka", ok), ("b.kafka", waiting), ("c.cesce", broken), ("d.cesce", hanging)]:
        health.add_check(name, check)
    assert await health.ready() == {
        "a.kafka": "ok",
        "b.kafka": "no partition assignment yet",
        "c.cesce": "check failed: RuntimeError",
        "d.cesce": "no answer within 0s",
    }
    for name in ("b.kafka", "c.cesce", "d.cesce"):
        health.remove_check(name)
    assert await health.ready() == {"a.kafka": "ok"}


def test_the_lag_board_observes_only_what_each_worker_last_published() -> None:
    board = LagBoard()
    board.publish("invoices", {("erp.invoices", 1): 7, ("erp.invoices", 0): 0})
    board.publish("risk-poller", {("cesce.risk-schedule", 0): 2})
    board.publish("invoices", {("erp.invoices", 0): 3})  # partition 1 revoked
    seen = sorted((o.attributes["worker"], o.attributes["partition"], o.value) for o in board.observations())  # type: ignore[index]
    assert seen == [("invoices", 0, 3), ("risk-poller", 0, 2)]
    board.forget("invoices")
    assert [o.attributes["worker"] for o in board.observations()] == ["risk-poller"]  # type: ignore[index]


def test_an_engine_under_a_supervisor_names_itself_on_every_line() -> None:
    """The children of `cesce-worker run` with WORKER_PROCESSES > 1 share one stderr stream with their parent:
    each line says which engine wrote it (JSON field ``engine``, text ``engine=<index>``)."""
    record = logging.LogRecord("workers.x", logging.INFO, __file__, 1, "assigned %s", ([0, 1],), None)
    line = json.loads(JsonFormatter(Redactor(), {"engine": 1}).format(record))
    assert (line["engine"], line["message"]) == (1, "assigned [0, 1]")
    assert "engine" not in json.loads(JsonFormatter(Redactor()).format(record))
    assert TextFormatter(Redactor(), {"engine": 1}).format(record).endswith("workers.x assigned [0, 1] engine=1")


async def test_the_heartbeat_says_how_late_the_loop_woke_for_it() -> None:
    """The event-loop lag (cesce.worker.event_loop.lag): a callback that holds the loop 0.3 s makes the next beat
    that many seconds late; an idle loop wakes about on time."""
    health = Health()
    lags: list[float] = []
    beating = asyncio.create_task(health.heartbeat(0.02, lag=lags.append))
    await asyncio.sleep(0.1)
    on_time = list(lags)
    time.sleep(0.3)  # noqa: ASYNC251 - the point: a callback that blocks the loop
    await asyncio.sleep(0.05)
    beating.cancel()
    assert on_time
    assert max(on_time) < 0.2
    assert max(lags) >= 0.25
