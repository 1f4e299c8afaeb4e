"""Whether Kafka answers, asked once before a command or a worker starts, and said in one line when it does not.

A broker that cannot be reached never makes librdkafka fail: it retries for ever, and says so in its log many
times a second. So before anything else talks to Kafka, a probe asks the cluster for its metadata
(`reach`) and waits at most ``WORKER_KAFKA_REACH_SECONDS`` (default 10) for an answer. Without one, `KafkaUnreachable`
names the address and why, in librdkafka's words without its noise: "cannot reach Kafka at 127.0.0.1:1 (Connect
to ipv4#127.0.0.1:1 failed: Connection refused)". The probe's own log lines are kept at DEBUG (`Demoted`): the
one line says it all.

- The operator commands (``consume``, ``produce``, ``dlq``, ``reconcile``) print that line and exit non-zero
  (`workers.ops.kafka_options`).
- ``cesce-worker run`` (`wait_for_kafka`) logs it, answers ``/readyz`` with it (503; ``/healthz`` stays live:
  restarting would not help), keeps asking, and starts the engines once Kafka answers, saying after how long.
  A worker whose broker goes away while it runs is the runtime's business (its retries and its breaker).

`is_unreachable` is the classification of librdkafka's errors that mean "the cluster cannot be reached" (as
opposed to a refusal from a reachable cluster); `reason_of` picks the telling one among those the probe saw.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from confluent_kafka import KafkaError, KafkaException

from workers.observability.health import Health
from workers.runtime.errors import RuntimeFailure
from workers.runtime.kafka_logs import Demoted

__all__ = [
    "UNREACHABLE_CODES",
    "KafkaUnreachable",
    "Probe",
    "is_unreachable",
    "reach",
    "reason_of",
    "unreachable_cause",
    "wait_for_kafka",
]

_log = logging.getLogger(__name__)

UNREACHABLE_CODES: Final = frozenset(
    {
        KafkaError._ALL_BROKERS_DOWN,  # every bootstrap broker is down (as librdkafka last saw them)
        KafkaError._TRANSPORT,  # connection refused, reset, or closed
        KafkaError._RESOLVE,  # the host name does not resolve
        KafkaError._TIMED_OUT,  # no answer in time (a black-holed address)
        KafkaError._SSL,  # the TLS handshake failed
        KafkaError._AUTHENTICATION,  # SASL refused us: reached, but not usable
    }
)
"""librdkafka's error codes that mean the cluster cannot be reached or used at all."""

# "127.0.0.1:1/bootstrap: " or "kafka-0.kafka:9092/0: " in front, "(after 0ms in state CONNECT)" behind
_BROKER_PREFIX: Final = re.compile(r"^\S+/(?:bootstrap|\d+): ")
_STATE_SUFFIX: Final = re.compile(r"\s*\(after \d+ms in state [A-Z_]+(?:, .*)?\)$")
_PROBE_SLICE_SECONDS: Final = 1.0  # how long one metadata request of `wait_for_kafka` waits: a stop is seen this soon


class _KafkaErrorLike(Protocol):
    def code(self) -> int: ...

    def str(self) -> str: ...


class KafkaUnreachable(RuntimeFailure):
    """The cluster at `address` did not answer a metadata request; `reason` is librdkafka's, briefly."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot reach Kafka at {address} ({reason})")
        self.address = address
        self.reason = reason


def is_unreachable(error: _KafkaErrorLike) -> bool:
    """Whether `error` says the cluster cannot be reached (`UNREACHABLE_CODES`), rather than refusing a request."""
    return error.code() in UNREACHABLE_CODES


def _brief(text: str) -> str:
    return _STATE_SUFFIX.sub("", _BROKER_PREFIX.sub("", text.strip()))


def reason_of(errors: Sequence[_KafkaErrorLike], fallback: str) -> str:
    """Why the cluster could not be reached, from the errors librdkafka reported meanwhile: the last one that
    names a cause (a refused or failed connection, a name that does not resolve) rather than the count of brokers
    down, without the broker prefix and the state suffix librdkafka adds; `fallback` when none did."""
    telling = [e for e in errors if is_unreachable(e) and e.code() != KafkaError._ALL_BROKERS_DOWN]
    if telling:
        return _brief(telling[-1].str())
    down = [e for e in errors if e.code() == KafkaError._ALL_BROKERS_DOWN]
    return _brief(down[-1].str()) if down else fallback


def unreachable_cause(exc: BaseException | None, address: str) -> KafkaUnreachable | None:
    """`exc`, or the first of its causes, as `KafkaUnreachable` when it is one or a `KafkaException` whose error
    `is_unreachable`; None otherwise."""
    while exc is not None:
        if isinstance(exc, KafkaUnreachable):
            return exc
        if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
            error = exc.args[0]
            if is_unreachable(error):
                return KafkaUnreachable(address, _brief(error.str()))
        exc = exc.__cause__
    return None


class Probe:
    """An admin client that asks for the cluster's metadata, as often as asked, until `close`.

    Constructing it raises `KafkaException` for settings librdkafka refuses (an unknown ``KAFKA_*`` property):
    a configuration error, not an unreachable cluster.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - keeps `--help` light

        self.address = str(config.get("bootstrap.servers", ""))
        self._errors: list[KafkaError] = []
        settings: dict[str, Any] = {
            **{k: v for k, v in config.items() if k not in {"logger", "error_cb", "stats_cb", "on_delivery"}},
            "logger": Demoted(),  # the one line says it all: the probe's own lines stay at DEBUG
            "error_cb": self._errors.append,
        }
        self._admin: AdminClient | None = AdminClient(settings)

    def ask(self, timeout: float) -> str | None:
        """The cluster id once the cluster answers within `timeout` seconds; else `KafkaUnreachable`."""
        if self._admin is None:
            raise ValueError("the probe is closed")
        try:
            metadata = self._admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            self._admin.poll(0)  # error_cb runs here: what librdkafka saw while we waited
            error = exc.args[0] if exc.args else None
            fallback = error.str() if isinstance(error, KafkaError) else str(exc)
            if isinstance(error, KafkaError) and error.code() == KafkaError._TIMED_OUT:
                fallback = f"no answer within {timeout:g} s"
            reason = reason_of(self._errors, fallback)
            self._errors.clear()
            raise KafkaUnreachable(self.address, reason) from None
        self._errors.clear()
        cluster_id = metadata.cluster_id
        return cluster_id if isinstance(cluster_id, str) else None

    def close(self) -> None:
        """Let librdkafka's threads go (the handle is destroyed with its last reference)."""
        self._admin = None


def reach(config: Mapping[str, Any], timeout: float) -> str | None:
    """The cluster id of the cluster `config` names, once it answers within `timeout` seconds; `KafkaUnreachable`
    when it does not, `KafkaException` when librdkafka refuses `config`."""
    probe = Probe(config)
    try:
        return probe.ask(timeout)
    finally:
        probe.close()


async def wait_for_kafka(
    name: str,
    config: Mapping[str, Any],
    *,
    stop: asyncio.Event,
    health: Health,
    bound: float,
    probe_factory: Callable[[Mapping[str, Any]], Probe] = Probe,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the cluster `config` names answers; meanwhile ``/readyz`` says why it is not ready (check
    ``kafka``). After `bound` seconds without an answer, one ERROR line: `name`: cannot reach Kafka at ... (and
    one more each time the reason changes); one INFO line when it answers after that. `stop` set first: raises
    the last `KafkaUnreachable`."""
    address = str(config.get("bootstrap.servers", ""))
    state = f"connecting to Kafka at {address}"

    async def check() -> str | None:
        return state

    health.add_check("kafka", check)
    probe = await asyncio.to_thread(probe_factory, config)
    started = clock()
    said: str | None = None
    try:
        while True:
            try:
                await asyncio.to_thread(probe.ask, min(_PROBE_SLICE_SECONDS, bound))
            except KafkaUnreachable as exc:
                state = str(exc)
                if clock() - started >= bound and exc.reason != said:
                    _log.error("%s: %s; not ready, trying again", name, exc)
                    said = exc.reason
                if stop.is_set():
                    raise
                continue
            if said is not None:
                _log.info("%s: reached Kafka at %s after %.0f s", name, address, clock() - started)
            return
    finally:
        probe.close()
        health.remove_check("kafka")
