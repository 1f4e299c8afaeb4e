"""What goes out for one record: its results encoded, or its dead letter, with the headers that say where
it came from, each under the span of its sending.

Every record we publish names its input (``source.topic/partition/offset``, and ``source.output``:
which of its outputs it is), which is what reconciliation reads back, and carries the context of its
``send`` span. A dead letter keeps the input's key, value and headers and says why
(`workers.runtime.dlq`). An output the worker cannot encode is a defect: its input is dead-lettered
``internal``. `replacement` answers a record the cluster refused: a dead letter instead of a result,
a dead letter without key, value and the input's headers instead of one refused whole, or, when even
that was refused, `OutputUnwritable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from confluent_kafka import KafkaError
from opentelemetry.trace import INVALID_SPAN, Span, StatusCode

from workers.observability import metrics
from workers.observability.tracing import trace_headers
from workers.runtime.contract import DeadLetter, ErrorCategory, InputRecord, Output, Publish, Skip
from workers.runtime.dlq import (
    DLQ_PREFIX,
    ERROR_CODE,
    OMITTED,
    SOURCE_OUTPUT,
    TRACE_HEADERS,
    Failure,
    dead_letter_headers,
    source_headers,
)
from workers.runtime.errors import OutputUnwritable
from workers.runtime.spec import Encoder
from workers.runtime.transactions import Encoded

__all__ = ["Outbox", "failure_code"]

_log = logging.getLogger(__name__)


def failure_code(encoded: Sequence[Encoded]) -> str | None:
    """The ``dlq.error.code`` of the dead letter among a record's outputs, or None when it has none (published)."""
    for output in encoded:
        if output.dead_letter:
            return next((value.decode(errors="replace") for name, value in output.headers if name == ERROR_CODE), None)
    return None


def _ours(header: str) -> bool:
    """A dead letter's header that we wrote: ``dlq.*``, ``source.*`` and its own trace context (the original's
    moved to ``dlq.original.*``)."""
    return header.startswith((DLQ_PREFIX, "source.")) or header in TRACE_HEADERS


def _ours_only(headers: Sequence[tuple[str, bytes]]) -> bool:
    return all(_ours(name) for name, _ in headers)


class Outbox:
    def __init__(self, *, worker: str, encode: Encoder, dlq_topic: Callable[[str], str]) -> None:
        self._worker = worker
        self._encode = encode
        self._dlq_topic = dlq_topic
        self._labels = {"worker": worker}
        self._skips_told: set[tuple[str, int, str]] = set()  # (topic, partition, reason) already logged

    def outputs(
        self,
        record: InputRecord,
        span: Span,
        outcome: Publish | DeadLetter | Skip,
        attempts: int,
        first: datetime | None,
    ) -> list[Encoded]:
        """What `record`'s final outcome publishes: its results, its dead letter, or nothing (a skip)."""
        now = datetime.now(UTC)
        if isinstance(outcome, Skip):
            return self._skipped(record, span, outcome)
        if isinstance(outcome, DeadLetter):
            return [self.dead_letter(record, Failure(outcome, attempts, first or now, now), span)]
        try:
            count = len(outcome.outputs)
            encoded = [self._encoded(record, output, f"{i}/{count}") for i, output in enumerate(outcome.outputs)]
        except Exception as exc:  # an output the schema refuses is a defect in the worker
            _log.exception("%s: cannot encode the outputs of %s@%d", self._worker, record.topic, record.offset)
            failure = DeadLetter(ErrorCategory.INTERNAL, f"encode:{type(exc).__name__}", str(exc))
            return [self.dead_letter(record, Failure(failure, attempts, now, now), span)]
        span.set_attribute("cesce.outcome", "published")
        metrics.RECORDS.add(1, {**self._labels, "outcome": "published"})
        return encoded

    def _skipped(self, record: InputRecord, span: Span, skip: Skip) -> list[Encoded]:
        """Nothing goes out; counted, and logged once per partition and reason (a tombstone follows every delete)."""
        span.set_attributes({"cesce.outcome": "skipped", "cesce.skip_reason": skip.reason})
        metrics.RECORDS.add(1, {**self._labels, "outcome": "skipped"})
        told = (record.topic, record.partition, skip.reason)
        if told not in self._skips_told:
            self._skips_told.add(told)
            _log.info(
                "%s: %s[%d]@%d skipped: %s (nothing to do; further ones on this partition are counted, not logged)",
                self._worker,
                record.topic,
                record.partition,
                record.offset,
                skip.reason,
            )
        return []

    def _encoded(self, record: InputRecord, output: Output, which: str) -> Encoded:
        key = output.key.encode() if isinstance(output.key, str) else output.key
        value = output.value if isinstance(output.value, bytes | None) else self._encode(output)
        headers = [(name, text if isinstance(text, bytes) else text.encode()) for name, text in output.headers.items()]
        if output.traced:
            headers += trace_headers()
        headers = [*headers, *source_headers(record), (SOURCE_OUTPUT, which.encode())]
        return Encoded(output.topic, key, value, headers, source=record, partition=output.partition)

    def dead_letter(self, record: InputRecord, failure: Failure, span: Span, *, counted: bool = True) -> Encoded:
        outcome, topic = failure.outcome, self._dlq_topic(record.topic)
        span.set_attributes({"cesce.outcome": "dead_lettered", "cesce.dlq.category": str(outcome.category)})
        span.set_attributes({"error.type": outcome.code, "cesce.dlq.code": outcome.code})
        span.set_status(StatusCode.ERROR, f"{outcome.category} {outcome.code}")
        if counted:  # not when an output the cluster refused becomes a dead letter: the record was counted
            metrics.RECORDS.add(1, {**self._labels, "outcome": "dead_lettered"})
        labels = {**self._labels, "topic": topic, "category": str(outcome.category), "code": outcome.code}
        metrics.DEAD_LETTERS.add(1, labels)
        trace = trace_headers()
        _log.warning(
            "%s: %s[%d]@%d dead-lettered (%s %s): %s",
            self._worker,
            record.topic,
            record.partition,
            record.offset,
            failure.outcome.category,
            failure.outcome.code,
            failure.outcome.description,
        )
        headers = [*dead_letter_headers(record, failure, self._worker), *trace]
        return Encoded(topic, record.key, record.value, headers, source=record, dead_letter=True)

    def replacement(self, encoded: Encoded, error: KafkaError) -> Encoded:
        """What the cluster will take instead of `encoded`, refused for what it is (too large, invalid): a dead
        letter of its input saying why, or, for a dead letter refused whole, the same without key, value and the
        input's headers (they stay in the input topic at the offset the dead letter names)."""
        record = encoded.source
        if record is None:
            raise ValueError("an output without its input record cannot be rerouted")
        if not encoded.dead_letter:
            description = f"{encoded.topic} refused the output ({encoded.size} bytes): {error.str()}"
            failure = DeadLetter(ErrorCategory.INTERNAL, f"output:{error.name()}", description)
            now = datetime.now(UTC)
            return self.dead_letter(record, Failure(failure, 1, now, now), INVALID_SPAN, counted=False)
        if encoded.key is not None or encoded.value is not None or not _ours_only(encoded.headers):
            omitted = (
                f"key={len(encoded.key or b'')},value={len(encoded.value or b'')},"
                f"headers={sum(1 for name, _ in encoded.headers if not _ours(name))}"
            )
            headers = [(name, value) for name, value in encoded.headers if _ours(name)]
            return replace(encoded, key=None, value=None, headers=[*headers, (OMITTED, omitted.encode())])
        raise OutputUnwritable(
            f"{self._worker}: {encoded.topic} refused even a dead letter of {encoded.size} bytes with no key or "
            f"value ({error.str()}): check the topic's max.message.bytes; the worker stops"
        )
