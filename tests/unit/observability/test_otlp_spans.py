"""The OTLP span encoding written directly (workers.observability.otlp_spans) is the exporter's own, byte for byte,
for every kind of span and attribute; what it leaves to the exporter's encoder comes out as the exporter writes it;
a worker's OTLP exporter sends it (a subprocess: the SDK's providers are the process's)."""

from __future__ import annotations

import enum
import json
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common import trace_encoder
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from workers.observability import otlp_spans
from workers.observability.tracing import consumer_span


class _Colour(enum.StrEnum):
    RED = "red"


def _provider(resource: Resource, *, max_attributes: int = 128) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, span_limits=SpanLimits(max_span_attributes=max_attributes))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def spans() -> list[ReadableSpan]:
    """Spans of every shape a worker or a library could hand the exporter, from two resources and three scopes."""
    main, main_spans = _provider(Resource.create({"service.name": "cesce-worker-invoices", "service.instance.id": "a"}))
    other, other_spans = _provider(
        Resource({"host.name": "ñandú"}, schema_url="https://opentelemetry.io/schemas/1"), max_attributes=2
    )
    ours = main.get_tracer("cesce-workers")
    versioned = main.get_tracer("a-library", "1.2.3", schema_url="https://example.test/schema", attributes={"k": "v"})
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "opaque"), ("other", "x")]),
    )
    with (
        consumer_span("erp.invoices", 3, 2**40, group="cesce-invoices", size=918, headers=[]),
        ours.start_as_current_span("POST /sales/{contractNo}/sale", kind=SpanKind.CLIENT) as call,
    ):
        call.set_attributes({"http.request.method": "POST", "server.port": 443, "http.response.status_code": 201})
    with ours.start_as_current_span(
        "process erp.invoices", context=trace.set_span_in_context(NonRecordingSpan(remote))
    ):
        pass
    for kind in SpanKind:
        with ours.start_as_current_span(f"kind {kind.name}", kind=kind) as span:
            span.set_status(Status(StatusCode.ERROR, "HTTP 503 € refusé") if kind is SpanKind.SERVER else StatusCode.OK)
    values: dict[str, object] = {
        "empty": "",
        "false": False,
        "true": True,
        "zero": 0,
        "negative": -5,
        "smallest": -(2**63),
        "largest": 2**63 - 1,
        "float": 0.1,
        "non-ascii": "€ñ\u2028",
    }
    with ours.start_as_current_span("every value", attributes=values):  # type: ignore[arg-type]
        pass
    for odd in (("a", "b"), (1, 2), 2**63, _Colour.RED, [0.5, 1.5]):  # left to the exporter's own encoder
        with ours.start_as_current_span(f"odd {odd!r}", attributes={"odd": odd, "kept": "yes"}):  # type: ignore[dict-item]
            pass
    with ours.start_as_current_span("with an event") as span:
        span.add_event("retry", {"attempt": 2})
    with ours.start_as_current_span("with a link", links=[Link(remote, {"why": "follows"})]):
        pass
    with versioned.start_as_current_span("a library's span"):
        pass
    with other.get_tracer("cesce-workers").start_as_current_span("over the limit", attributes={"a": 1, "b": 2, "c": 3}):
        pass
    main.shutdown()
    other.shutdown()
    finished = list(main_spans.get_finished_spans())
    return [*finished[:3], *other_spans.get_finished_spans(), *finished[3:]]  # the resources interleaved


def test_a_batch_is_the_exporters_bytes(spans: list[ReadableSpan]) -> None:
    assert otlp_spans.encode_spans(spans).SerializePartialToString() == _exporters(spans)


def test_each_span_alone_is_the_exporters_bytes(spans: list[ReadableSpan]) -> None:
    for span in spans:
        assert otlp_spans.encode_spans([span]).SerializePartialToString() == _exporters([span]), span.name


def test_nothing_is_lost_or_added(spans: list[ReadableSpan]) -> None:
    request = ExportTraceServiceRequest.FromString(otlp_spans.encode_spans(spans).SerializePartialToString())
    encoded = [s for r in request.resource_spans for scope in r.scope_spans for s in scope.spans]
    assert sorted(s.name for s in encoded) == sorted(s.name for s in spans)
    by_name = {s.name: s for s in encoded}
    assert by_name["over the limit"].dropped_attributes_count == 1
    # the exporter drops (and logs) an int beyond int64, as before
    assert [a.key for a in by_name["odd 9223372036854775808"].attributes] == ["kept"]


def test_an_empty_batch_is_an_empty_request() -> None:
    assert otlp_spans.encode_spans([]).SerializePartialToString() == _exporters([]) == b""


def _exporters(spans: list[ReadableSpan]) -> bytes:
    encoded: bytes = trace_encoder.encode_spans(spans).SerializePartialToString()
    return encoded


_WORKER = """
import json, os, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from workers.observability import otlp_spans
from workers.observability.setup import configure_telemetry
from workers.observability.tracing import consumer_span

written = []  # the spans this module wrote: the exporter called it, not only holds it
write = otlp_spans._span
otlp_spans._span = lambda span: written.append(span.name) or write(span)

bodies = []

class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        bodies.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"  # the exporter reads it there
telemetry = configure_telemetry(os.environ, worker="invoices", instance="i-1")
for offset in range(3):
    with consumer_span("erp.invoices", 1, offset, group="cesce-invoices", size=10, headers=[]):
        pass
telemetry.shutdown()
server.shutdown()
print(json.dumps({
    "encoder": trace_exporter.encode_spans.__module__,
    "written": written,
    "bodies": [[path, body.hex()] for path, body in bodies],
}))
"""


def test_a_worker_exports_its_spans_with_it() -> None:
    done = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True, timeout=60, check=True)
    sent = json.loads(done.stdout.strip().splitlines()[-1])
    assert sent["encoder"] == "workers.observability.otlp_spans"
    assert sent["written"] == ["process erp.invoices"] * 3
    [(path, body)] = sent["bodies"]
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(bytes.fromhex(body))
    [resource_spans] = request.resource_spans
    assert {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"] == (
        "cesce-worker-invoices"
    )
    [scope_spans] = resource_spans.scope_spans
    assert scope_spans.scope.name == "cesce-workers"
    offsets = [
        next(a.value.int_value for a in s.attributes if a.key == "messaging.kafka.offset") for s in scope_spans.spans
    ]
    assert [s.name for s in scope_spans.spans] == ["process erp.invoices"] * 3
    assert offsets == [0, 1, 2]
