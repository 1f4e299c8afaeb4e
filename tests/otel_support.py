"""The OpenTelemetry SDK with in-memory exporters, installed once for the test process.

The global providers can be set only once per process, so the first test that asks for
`telemetry` installs them; the span processor records only while a test holds the fixture, so
the rest of the suite does not pile spans up in memory. Metrics are cumulative for the process:
tests read them by labels of their own (a worker label, a unique topic).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class _Switched(SimpleSpanProcessor):
    recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            super().on_end(span)


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    processor: _Switched

    def finished(self) -> list[ReadableSpan]:
        """Our spans (the sandbox serving in this process has spans of its own, from FastAPI)."""
        return [s for s in self.spans.get_finished_spans() if s.instrumentation_scope.name == "cesce-workers"]

    def points(self, name: str, **labels: Any) -> list[Any]:
        """The data points of metric `name` whose attributes include `labels`."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [p for p in metric.data.data_points if _has(p.attributes, labels)]
        return found


def _has(attributes: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    return all((attributes or {}).get(k) == v for k, v in labels.items())


_installed: Telemetry | None = None


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    global _installed  # noqa: PLW0603 - the SDK's providers are process-global, installed once
    if _installed is None:
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        processor = _Switched(exporter)
        provider = TracerProvider()
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _installed = Telemetry(exporter, reader, processor)
    _installed.spans.clear()
    _installed.processor.recording = True
    try:
        yield _installed
    finally:
        _installed.processor.recording = False
        _installed.spans.clear()
