"""Installing the OpenTelemetry SDK for a worker process, from the standard ``OTEL_*`` variables.

- ``OTEL_SDK_DISABLED=true``: nothing is installed (spans and metrics cost nothing; ``/metrics`` is
  empty).
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp``, ``console`` or ``none``
  (comma-separated for several). When unset: ``otlp`` if an OTLP endpoint is configured
  (``OTEL_EXPORTER_OTLP_ENDPOINT`` or the signal's own ``..._TRACES_ENDPOINT`` /
  ``..._METRICS_ENDPOINT``), else ``none``: a worker with no collector configured does not spend
  its time failing to reach ``localhost:4318``. The OTLP exporters (HTTP/protobuf) read the rest
  of ``OTEL_EXPORTER_OTLP_*`` (headers, timeout, compression) themselves.
- The Prometheus reader is always installed: ``/metrics`` on the health port is the product's, its series
  without the exporter's ``otel_scope_*`` labels (every instrument is the one scope ``cesce-workers``).
- Exemplars (a measurement's trace, kept beside a histogram's buckets) only when metrics are pushed
  (``OTEL_METRICS_EXPORTER``) or ``OTEL_METRICS_EXEMPLAR_FILTER`` asks for them: the Prometheus reader never
  shows them, and choosing them cost about 3 us of every measurement made inside a span (issue 18).
- ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` name the service (default
  ``cesce-worker-<worker>``, with ``service.instance.id`` = ``WORKER_INSTANCE_ID``);
  ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` choose the sampler (the SDK reads them);
  ``OTEL_PROPAGATORS`` the header format (default W3C ``traceparent`` + baggage).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, ExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CollectorRegistry

from workers.observability import otlp_spans

__all__ = ["Telemetry", "TelemetryConfigError", "configure_telemetry", "exporters", "prometheus_reader"]

_CHOICES = frozenset({"otlp", "console", "none"})


class TelemetryConfigError(ValueError):
    """An ``OTEL_*`` variable this product cannot honour."""


@dataclass(frozen=True)
class Telemetry:
    registry: CollectorRegistry
    """What ``/metrics`` serves."""
    shutdown: Callable[[], None]
    """Flush what is buffered and stop the exporters."""


def exporters(env: Mapping[str, str], signal: str) -> set[str]:
    """The exporters chosen for `signal` (``traces`` or ``metrics``), with the default described above."""
    name = f"OTEL_{signal.upper()}_EXPORTER"
    given = env.get(name, "").strip().lower()
    if not given:
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        return {"otlp"} if any(env.get(e) for e in endpoints) else set()
    chosen = {part.strip() for part in given.split(",") if part.strip()}
    unknown = chosen - _CHOICES
    if unknown:
        raise TelemetryConfigError(f"{name}: {', '.join(sorted(unknown))} is not one of {', '.join(sorted(_CHOICES))}")
    return chosen - {"none"}


def _resource(env: Mapping[str, str], worker: str, instance: str) -> Resource:
    attributes = {"service.instance.id": instance}
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = f"cesce-worker-{worker}"
    return Resource.create(attributes)


def prometheus_reader(registry: CollectorRegistry) -> PrometheusMetricReader:
    """What ``/metrics`` serves: every metric in `registry`, without the exporter's ``otel_scope_name``,
    ``otel_scope_version`` and ``otel_scope_schema_url`` labels on each series (noise: one scope, no version)."""
    return PrometheusMetricReader(registry=registry, scope_info_enabled=False)


def exemplar_filter(env: Mapping[str, str], pushed: set[str]) -> ExemplarFilter | None:
    """No exemplars when nothing would export them (the Prometheus reader alone) and no filter is asked for;
    None lets the SDK read ``OTEL_METRICS_EXEMPLAR_FILTER`` (default: measurements made inside a sampled span)."""
    return None if pushed or env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()


def configure_telemetry(env: Mapping[str, str], *, worker: str, instance: str) -> Telemetry:
    """Install the global tracer and meter providers for this process (once, at the entry point)."""
    registry = CollectorRegistry()
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Telemetry(registry, lambda: None)
    traces, pushed = exporters(env, "traces"), exporters(env, "metrics")
    resource = _resource(env, worker, instance)

    tracer_provider = TracerProvider(resource=resource)
    if "otlp" in traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        otlp_spans.install()  # the exporter's wire format, written in a third of its encoder's time
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in traces:
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))

    readers: list[MetricReader] = [prometheus_reader(registry)]
    if "otlp" in pushed:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if "console" in pushed:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, exemplar_filter=exemplar_filter(env, pushed)
    )

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return Telemetry(registry, shutdown)
