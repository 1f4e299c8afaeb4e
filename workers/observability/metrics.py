"""The product's metrics: one instrument per question an operator asks (docs/operations.md, "Traces and metrics").

Instruments come from the global meter provider, so they cost nothing until `configure_telemetry`
(or a test) installs one; the OpenTelemetry API rebinds them when it does. Names follow the
OpenTelemetry conventions (dots, unit in ``unit``); the Prometheus endpoint shows them with
underscores and the unit as a suffix (``cesce.client.duration`` -> ``cesce_client_duration_seconds``).

Attributes stay low-cardinality and carry no personal data: worker, outcome, category, error code,
operation, HTTP status, topic and partition; never a key, a tax code or an invoice number.

The counters every record moves (`RECORDS`, `IN_FLIGHT`) are a `Tally`: counted in a dict and reported
when the metrics are read, through an observable instrument of the same name and kind. The SDK's
synchronous instruments cost 9-10 us a measurement (the attributes hashed, a lock, the aggregation), three
of them per record; a `Tally` costs well under one (issue 18).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Final

from opentelemetry import metrics
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.semconv._incubating.metrics.messaging_metrics import MESSAGING_PROCESS_DURATION
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

__all__ = [
    "CESCE_DURATION",
    "CESCE_RETRIES",
    "DEAD_LETTERS",
    "EVENT_LOOP_LAG",
    "IN_FLIGHT",
    "PAUSED",
    "PROCESS_DURATION",
    "PROCESS_RESTARTS",
    "RECORDS",
    "RETRIES",
    "THROTTLE_PAUSES",
    "THROTTLE_RATE",
    "THROTTLE_WAIT",
    "TOKEN_RENEWALS",
    "TRANSACTIONS_ABORTED",
    "LagBoard",
    "Tally",
    "lag_board",
    "process_attributes",
    "record_processing",
]

_meter = metrics.get_meter("cesce-workers")

Attributes = Mapping[str, str]


class Tally:
    """A sum by attributes, kept here and reported when the metrics are read (by `observations`, the callback of
    an observable counter or up-down counter): `add` is a dict update under a lock, for the counters every record
    moves. Cumulative for the process, like the SDK's own counters."""

    __slots__ = ("_lock", "_sums")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[frozenset[tuple[str, str]], float] = {}

    def add(self, amount: float, attributes: Attributes | None = None) -> None:
        key = frozenset(attributes.items()) if attributes else frozenset()
        with self._lock:
            self._sums[key] = self._sums.get(key, 0) + amount

    def observations(self, _options: metrics.CallbackOptions | None = None) -> Iterable[metrics.Observation]:
        with self._lock:
            sums = list(self._sums.items())
        return [metrics.Observation(value, dict(sorted(key))) for key, value in sums]


def _tally(name: str, *, unit: str, description: str, up_down: bool = False) -> Tally:
    tally = Tally()
    create = _meter.create_observable_up_down_counter if up_down else _meter.create_observable_counter
    create(name, callbacks=[tally.observations], unit=unit, description=description)
    return tally


RECORDS: Final = _tally("cesce.worker.records", unit="{record}", description="Records handled, by worker and outcome")
"""``worker``, ``outcome``: ``published`` (results or nothing to publish), ``dead_lettered``, ``skipped``
(already published, found by reconciliation)."""
RETRIES: Final = _meter.create_counter(
    "cesce.worker.retries", unit="{retry}", description="Records handled again after a transient failure"
)
"""``worker``, ``code`` (Cesce's errorCode or the failure's type)."""
DEAD_LETTERS: Final = _meter.create_counter(
    "cesce.worker.dead_letters", unit="{record}", description="Records sent to a dead-letter topic"
)
"""``worker``, ``topic`` (the dead-letter topic), ``category``, ``code``."""
TRANSACTIONS_ABORTED: Final = _meter.create_counter(
    "cesce.worker.transactions_aborted",
    unit="{transaction}",
    description="Transactions aborted (the batch goes again), by worker and reason",
)
"""``worker``, ``reason``: ``refused`` (the cluster refused a record; it is rerouted) or ``error`` (anything else)."""
IN_FLIGHT: Final = _tally(
    "cesce.worker.in_flight",
    unit="{record}",
    description="Records being handled (consumed, not yet finished)",
    up_down=True,
)
PAUSED: Final = _meter.create_gauge(
    "cesce.worker.paused", unit="1", description="1 while consumption is paused, by reason"
)
"""``worker``, ``reason``: ``outage`` (the breaker is open: Cesce failing) or ``backpressure`` (in-flight full)."""
CESCE_DURATION: Final = _meter.create_histogram(
    "cesce.client.duration",
    unit="s",
    description="Cesce HTTP calls, by operation and status",
    explicit_bucket_boundaries_advisory=[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
)
"""``operation`` (``sales.declare``, ``oauth.token(password)``...), ``status`` (HTTP status, or the
transport error's type when no answer came)."""
CESCE_RETRIES: Final = _meter.create_counter(
    "cesce.client.retries", unit="{retry}", description="Cesce calls sent again by the client's retry policy"
)
"""``operation``, ``code`` (errorCode, HTTP status or error type of the failed attempt)."""
TOKEN_RENEWALS: Final = _meter.create_counter(
    "cesce.client.token_renewals", unit="{token}", description="OAuth2 token requests, by grant and outcome"
)
"""``grant``: ``password`` or ``refresh_token``; ``outcome``: ``ok`` or ``failed``."""
EVENT_LOOP_LAG: Final = _meter.create_histogram(
    "cesce.worker.event_loop.lag",
    unit="s",
    description="How late the event loop ran a timer that was due: the wait of every ready callback for its turn",
    explicit_bucket_boundaries_advisory=[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
)
"""``worker``: the process's worker. A busy loop makes every step of every record wait (a Cesce call's answer
waits for a turn to be read): measured ten times a second by the health heartbeat (`workers.runtime.run`)."""
PROCESS_DURATION: Final = _meter.create_histogram(
    MESSAGING_PROCESS_DURATION,
    unit="s",
    description="Duration of processing operation: one look at one record, its span `process <topic>`",
    # the messaging conventions' advisory boundaries, then minutes: a record retried through a Cesce outage
    explicit_bucket_boundaries_advisory=[
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300,
    ],
)  # fmt: skip
"""The OpenTelemetry messaging conventions' ``messaging.process.duration``: ``messaging.system`` (``kafka``),
``messaging.operation.name`` (``process``), ``messaging.destination.name`` (the input topic),
``messaging.consumer.group.name``, and ``error.type`` when the record was dead-lettered (its ``dlq.error.code``)
or its handling raised (the exception's type). Recorded by `record_processing` (`workers.runtime.engine`)."""
PROCESS_RESTARTS: Final = _meter.create_counter(
    "cesce.worker.process_restarts",
    unit="{restart}",
    description="Engine processes restarted by their parent after they stopped unasked",
)
"""``worker``, ``process`` (the child's index): counted by the supervising parent (`workers.runtime.supervisor`)."""
THROTTLE_PAUSES: Final = _meter.create_counter(
    "cesce.client.throttle.pauses",
    unit="{pause}",
    description="429s that paused every Cesce call of the process (of the pod, with a shared throttle)",
)
"""``reason``: ``retry_after`` (the 429's Retry-After) or ``default`` (none, or unreadable: 1 s). Counts episodes,
not 429s: the refusals of calls already in flight join the pause."""
THROTTLE_RATE: Final = _meter.create_gauge(
    "cesce.client.throttle.rate",
    unit="{request}/s",
    description="The pace Cesce calls leave at, learned from 429s or configured (absent while unknown)",
)
THROTTLE_WAIT: Final = _meter.create_histogram(
    "cesce.client.throttle.wait",
    unit="s",
    description="Time Cesce calls waited for their turn (pause and pace) before leaving",
    explicit_bucket_boundaries_advisory=[0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
)


@cache
def process_attributes(topic: str, group: str, error_type: str | None = None) -> Mapping[str, str]:
    """The attributes of one `PROCESS_DURATION` measurement (built once per topic, group and error)."""
    attributes = {
        messaging.MESSAGING_SYSTEM: messaging.MessagingSystemValues.KAFKA.value,
        messaging.MESSAGING_OPERATION_NAME: "process",
        messaging.MESSAGING_DESTINATION_NAME: topic,
        messaging.MESSAGING_CONSUMER_GROUP_NAME: group,
    }
    if error_type is not None:
        attributes[ERROR_TYPE] = error_type
    return attributes


def record_processing(seconds: float, topic: str, group: str, error_type: str | None = None) -> None:
    """One look at a record of `topic` took `seconds`; `error_type` when it failed (see `PROCESS_DURATION`)."""
    PROCESS_DURATION.record(seconds, process_attributes(topic, group, error_type))


class LagBoard:
    """Consumer lag per worker and partition, as each engine last computed it (written by the engines' loops,
    read by the metric reader's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_worker: dict[str, Mapping[tuple[str, int], int]] = {}

    def publish(self, worker: str, lags: Mapping[tuple[str, int], int]) -> None:
        with self._lock:
            self._by_worker[worker] = dict(lags)

    def forget(self, worker: str) -> None:
        with self._lock:
            self._by_worker.pop(worker, None)

    def observations(self, _options: metrics.CallbackOptions | None = None) -> Iterable[metrics.Observation]:
        with self._lock:
            board = dict(self._by_worker)
        return [
            metrics.Observation(lag, {"worker": worker, "topic": topic, "partition": partition})
            for worker, lags in board.items()
            for (topic, partition), lag in sorted(lags.items())
        ]


lag_board: Final = LagBoard()
_meter.create_observable_gauge(
    "cesce.worker.consumer_lag",
    callbacks=[lag_board.observations],
    unit="{record}",
    description="Records behind the partition's end (last stable offset) not yet committed, by partition",
)
