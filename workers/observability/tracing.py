"""Traces: a span per record, child spans per Cesce call, the record's context in the headers of what it publishes.

The span tree of one input record (names and attributes from the OpenTelemetry semantic
conventions for messaging and HTTP clients)::

    process erp.invoices            CONSUMER, parent: the producer's context in the record's headers
      POST /sales/{contractNo}/sale CLIENT, one per HTTP attempt (oauth token requests too)

Each record published for it (a result, a dead letter) carries the ``process`` span's context in its
headers (`trace_headers`), so whoever consumes it continues the same trace. A ``send <topic>`` PRODUCER span
per published record did that until issue 18: it measured nothing (the record leaves in the engine's next
transaction, not when the span ended) and cost, with its export, about 90 us of a record's CPU (a third of its
spans). Attributes never carry keys, tax codes, invoice numbers, URLs with their query, tokens or credentials:
only topics, partitions, offsets, sizes, operations, statuses and error codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import Attributes

__all__ = ["TRACER", "consumer_span", "current_trace_id", "headers_context", "trace_headers"]

TRACER: Final = trace.get_tracer("cesce-workers")
_KAFKA: Final = messaging.MessagingSystemValues.KAFKA.value

Headers = Sequence[tuple[str, bytes | None]]


class _HeaderGetter(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        found = [value.decode("ascii", errors="replace") for name, value in carrier if name == key and value]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [name for name, _ in carrier]


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode("ascii")))


_GETTER: Final = _HeaderGetter()
_SETTER: Final = _HeaderSetter()


def headers_context(headers: Headers) -> Context:
    """The trace context a record's headers carry (W3C ``traceparent``/``tracestate``, or OTEL_PROPAGATORS)."""
    return propagate.extract(headers, getter=_GETTER)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside a sampled or unsampled valid span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def consumer_span(
    topic: str, partition: int, offset: int, *, group: str, size: int, headers: Headers
) -> Iterator[Span]:
    """``process <topic>``: the span of one record's handling, continuing the trace in its headers."""
    attributes: Attributes = {
        messaging.MESSAGING_SYSTEM: _KAFKA,
        messaging.MESSAGING_OPERATION_NAME: "process",
        messaging.MESSAGING_OPERATION_TYPE: messaging.MessagingOperationTypeValues.PROCESS.value,
        messaging.MESSAGING_DESTINATION_NAME: topic,
        messaging.MESSAGING_DESTINATION_PARTITION_ID: str(partition),
        messaging.MESSAGING_KAFKA_OFFSET: offset,
        messaging.MESSAGING_CONSUMER_GROUP_NAME: group,
        messaging.MESSAGING_MESSAGE_BODY_SIZE: size,
    }
    with TRACER.start_as_current_span(
        f"process {topic}", context=headers_context(headers), kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def trace_headers() -> list[tuple[str, bytes]]:
    """The headers that carry the current span's context (the record's ``process`` span) into a record about to be
    published (W3C ``traceparent``/``tracestate``, or OTEL_PROPAGATORS); none outside a valid span."""
    headers: list[tuple[str, bytes]] = []
    propagate.inject(headers, setter=_SETTER)
    return headers
