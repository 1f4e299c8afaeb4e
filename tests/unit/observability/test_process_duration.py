"""`messaging.process.duration` (the OpenTelemetry messaging conventions' processing-time histogram) and the
Prometheus exposition without per-scope labels: read from in-memory readers, no sockets."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.trace import INVALID_SPAN
from prometheus_client import CollectorRegistry, generate_latest

from tests.otel_support import Telemetry
from workers.observability.metrics import record_processing
from workers.observability.setup import prometheus_reader
from workers.runtime.contract import DeadLetter, ErrorCategory, InputRecord, Output, Publish
from workers.runtime.outbox import Outbox, failure_code


def _metric(telemetry: Telemetry, name: str) -> Any:
    data = telemetry.reader.get_metrics_data()
    found = [
        metric
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
    ]
    assert len(found) == 1, [m.name for m in found]
    return found[0]


def _point(telemetry: Telemetry, topic: str, **more: str) -> HistogramDataPoint:
    [point] = [
        p
        for p in _metric(telemetry, "messaging.process.duration").data.data_points
        if dict(p.attributes or {}) == {**_attributes(topic), **more}
    ]
    assert isinstance(point, HistogramDataPoint)
    return point


def _attributes(topic: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": "cesce-invoices",
    }


def test_processing_time_is_the_conventions_histogram_in_seconds_by_topic_group_and_error(
    telemetry: Telemetry,
) -> None:
    """semconv messaging_metrics: "messaging.process.duration" / "Duration of processing operation" /
    "Instrument: histogram" / "Unit: s": attributes messaging.system, messaging.operation.name (``process``),
    messaging.destination.name, messaging.consumer.group.name, and error.type only when it failed."""
    topic = "erp.invoices.process-duration-test"
    record_processing(0.03, topic, "cesce-invoices")
    record_processing(0.2, topic, "cesce-invoices")
    record_processing(1.5, topic, "cesce-invoices", "1522")

    metric = _metric(telemetry, "messaging.process.duration")
    assert metric.unit == "s"
    ok = _point(telemetry, topic)
    assert (ok.count, round(ok.sum, 6)) == (2, 0.23)
    failed = _point(telemetry, topic, **{"error.type": "1522"})
    assert (failed.count, failed.sum) == (1, 1.5)
    # the conventions' advisory boundaries (seconds), then minutes for a record retried through an outage
    assert list(ok.explicit_bounds) == [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300,
    ]  # fmt: skip
    assert sum(ok.bucket_counts) == 2
    assert ok.bucket_counts[list(ok.explicit_bounds).index(0.05)] == 1  # 0.03 s: in (0.025, 0.05]


def _record() -> InputRecord:
    return InputRecord("erp.invoices", 0, 7, None, b"k", b"{}", (), None)


def _outbox() -> Outbox:
    return Outbox(worker="invoices", encode=lambda output: b"encoded", dlq_topic=lambda topic: f"{topic}.dlq")


def test_the_error_type_of_a_record_is_its_dead_letter_s_code_and_none_when_published() -> None:
    outbox = _outbox()
    published = outbox.outputs(_record(), INVALID_SPAN, Publish([Output("cesce.sale-results", "k", b"v")]), 1, None)
    assert failure_code(published) is None
    refused = DeadLetter(ErrorCategory.BUSINESS, "1522", "venta errónea - No existe periodo de seguro")
    dead = outbox.outputs(_record(), INVALID_SPAN, refused, 1, None)
    assert failure_code(dead) == "1522"
    assert failure_code([]) is None  # a deferred look: nothing out, nothing failed


def test_the_prometheus_exposition_has_no_per_scope_labels() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[prometheus_reader(registry)])
    try:
        meter = provider.get_meter("cesce-workers", "0.1.0")
        meter.create_counter("cesce.worker.records", unit="{record}").add(1, {"worker": "invoices"})
        meter.create_histogram("messaging.process.duration", unit="s").record(0.1, {"messaging.system": "kafka"})
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    assert 'cesce_worker_records_total{worker="invoices"} 1.0' in text
    assert 'messaging_process_duration_seconds_bucket{le="+Inf",messaging_system="kafka"} 1.0' in text
    assert "otel_scope" not in text
