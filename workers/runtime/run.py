"""Running one worker as a process: settings, librdkafka configuration, signals, exit status.

`WorkerSpec` is what a worker module declares (its name, topics, how to decode its input and how
to open its handler); `run_worker` reads the environment once, builds the consumer and the
transactional producer, runs the `Engine` until SIGTERM or Ctrl-C, and returns the exit status:
0 after a clean drain, 1 when the worker had to stop (a fenced producer, a failed consumer).

A process may run several specs side by side (a worker and its follow-up loop): each is its own
engine, consumer group member and transactional producer. The companions carry a `role`, which
suffixes their group (``cesce-credit-requests.followups``), and so their transactional.id.

`run_worker` also installs the OpenTelemetry SDK (`workers.observability.setup`) and serves
``/healthz``, ``/readyz`` and ``/metrics`` on ``WORKER_HTTP_PORT``; each engine and each handler
(through its `WorkerContext`) adds its readiness checks.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import ValidationError

from workers.observability import metrics
from workers.observability.health import Health, HealthServer
from workers.observability.setup import Telemetry, TelemetryConfigError, configure_telemetry
from workers.runtime.contract import Output
from workers.runtime.embedded import is_mock_cluster
from workers.runtime.engine import Engine
from workers.runtime.errors import RegistryUnavailable, SetupError, WorkerStopped
from workers.runtime.kafka_config import CONSUMER_PREFETCH, MOCK_CLUSTER_FETCH_WAIT, librdkafka_config, redacted
from workers.runtime.kafka_logs import LIBRDKAFKA_LOG
from workers.runtime.kafka_reach import unreachable_cause, wait_for_kafka
from workers.runtime.parent_link import parent_link
from workers.runtime.process_tuning import settle_collector
from workers.runtime.registry import (
    NO_REGISTRY,
    registry_from_env,
    registry_settings,
    registry_url,
    settings_problems,
)
from workers.runtime.serde import AvroCodec
from workers.runtime.settings import Reconcile, RuntimeSettings
from workers.runtime.spec import WorkerContext, WorkerSpec, with_dlq_suffix
from workers.settings import from_env

__all__ = [
    "client_config",
    "consumer_config",
    "producer_config",
    "run_worker",
    "serve",
    "serve_all",
]

_log = logging.getLogger(__name__)

# Variables that start with KAFKA_ but are ours, not librdkafka's.
_NOT_LIBRDKAFKA = ("KAFKA_TOPIC_PREFIX",)
_CONSUMER_ONLY = ("session.", "heartbeat.", "group.", "auto.", "isolation.")
# librdkafka's own log lines go through Python logging (levels, format, trace ids) instead of stderr, each repeat
# shown once a minute (workers.runtime.kafka_logs)
_LIBRDKAFKA_LOG = LIBRDKAFKA_LOG


def _client_settings(env: Mapping[str, str], *, consumer: bool) -> dict[str, Any]:
    settings = librdkafka_config(env, ignore=_NOT_LIBRDKAFKA)
    if not consumer:
        settings = {k: v for k, v in settings.items() if not k.startswith(_CONSUMER_ONLY)}
    return {**settings, "logger": _LIBRDKAFKA_LOG}


def client_config(settings: RuntimeSettings, env: Mapping[str, str], *, consumer: bool) -> dict[str, Any]:
    """The broker and the ``KAFKA_*`` settings: what every client of a worker starts from (the engine's consumer
    and producer, a state reader, a seeding producer)."""
    return {**_client_settings(env, consumer=consumer), "bootstrap.servers": settings.bootstrap_servers}


def consumer_config(
    settings: RuntimeSettings, env: Mapping[str, str], group_id: str, *, mock_cluster: bool = False
) -> dict[str, Any]:
    """The engine's consumer; `mock_cluster`: the cluster is librdkafka's mock (`MOCK_CLUSTER_FETCH_WAIT`)."""
    return {
        # a subscribed topic that does not exist yet (a state topic before its first record, on a broker that
        # creates topics on first write) is picked up within seconds rather than librdkafka's default 5 minutes
        "topic.metadata.refresh.interval.ms": 5000,
        # a bounded prefetch: with a backlog waiting, librdkafka's defaults hold up to 64 MiB per consumer
        **CONSUMER_PREFETCH,
        **(MOCK_CLUSTER_FETCH_WAIT if mock_cluster else {}),
        **client_config(settings, env, consumer=True),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        # eager rebalancing: a revocation takes every partition, so a drain commits one whole batch
        "partition.assignment.strategy": "range,roundrobin",
    }


def producer_config(settings: RuntimeSettings, env: Mapping[str, str], group_id: str) -> dict[str, Any]:
    return {
        **client_config(settings, env, consumer=False),
        "transactional.id": f"{group_id}.{settings.instance_id}",
        "linger.ms": 5,
        # Java's partitioner, as Debezium and Kafka Streams use: a debtor's key lands where theirs would
        "partitioner": "murmur2_random",
    }


class _Encoder:
    """Outputs' values as Avro: one codec per schema, each prepared (its subject registered or looked up) for
    the topics the spec declares before the worker starts, and for any other topic at its first output."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self._registry = registry
        self._codecs: dict[str, AvroCodec] = {}

    def _codec(self, schema: str) -> AvroCodec:
        codec = self._codecs.get(schema)
        if codec is None:
            codec = self._codecs[schema] = AvroCodec(self._registry, schema)
        return codec

    def prepare(self, schemas: Mapping[str, str]) -> list[str]:
        """Every (topic, record) of `schemas` checked against the registry; their subjects. SetupError names the
        first one the registry does not hold or refuses."""
        subjects = []
        for topic, schema in schemas.items():
            codec = self._codec(schema)
            codec.prepare(topic)
            subjects.append(codec.subject(topic))
        return subjects

    def __call__(self, output: Output) -> bytes | None:
        if output.schema is None:
            raise ValueError(f"an output to {output.topic} with a mapping value needs an Avro schema name")
        return self._codec(output.schema).encode(output.value, output.topic)  # type: ignore[arg-type]


async def serve(
    spec: WorkerSpec,
    env: Mapping[str, str],
    stop: asyncio.Event,
    health: Health | None = None,
    settings: RuntimeSettings | None = None,
) -> None:
    """Run `spec` in this event loop until `stop` is set (the demo and tests run workers this way); its
    readiness checks go to `health` (the process's, when `run_worker` serves the probes). `settings` are
    `env`'s, validated by the caller (read from `env` when it has not)."""
    health = health or Health()
    # not ready until this loop's engine answers for itself: a process whose other loops started first is not
    health.add_check(f"{spec.label}.kafka", _starting)
    try:
        await _serve(spec, env, stop, health, settings or from_env(RuntimeSettings, env))
    finally:
        health.remove_check(f"{spec.label}.kafka")


async def _starting() -> str | None:
    return "starting"


async def _serve(
    spec: WorkerSpec, env: Mapping[str, str], stop: asyncio.Event, health: Health, settings: RuntimeSettings
) -> None:
    (spec,) = with_dlq_suffix([spec], settings.dlq_suffix)  # WORKER_DLQ_SUFFIX, however the spec was made
    group_id = spec.group_id(settings)
    with registry_from_env(env) as registry:  # its HTTP connections closed when the engine stops
        encoder = _Encoder(registry)
        # before the handler opens (the risk poller writes its first schedules there): a subject missing stops here
        subjects = await asyncio.to_thread(encoder.prepare, spec.schemas)
        _log.info(
            "%s: Avro subjects ready at %s: %s", spec.label, registry_url(registry), ", ".join(subjects) or "none"
        )
        # the cluster asked once it is needed, the registry's answer first: the mock's reconciliation and fetch wait
        mock = await asyncio.to_thread(
            is_mock_cluster, settings.bootstrap_servers, _client_settings(env, consumer=False)
        )
        consumer = consumer_config(settings, env, group_id, mock_cluster=mock)
        if spec.order_by is not None:  # an ordered intake must know when a partition has nothing more to give
            consumer["enable.partition.eof"] = True
        reconcile = settings.reconcile is Reconcile.ON or (settings.reconcile is Reconcile.AUTO and mock)
        _log.info(
            "%s: group %s, instance %s, consumer %s, reconcile %s",
            spec.label,
            group_id,
            settings.instance_id,
            redacted({k: str(v) for k, v in consumer.items() if k != "logger"}),
            reconcile,
        )
        context = WorkerContext(
            spec.label, registry, kafka=lambda consumer: client_config(settings, env, consumer=consumer), health=health
        )
        async with spec.handler(context) as handler:
            engine = Engine(
                worker=spec.label,
                settings=settings,
                handler=handler,
                decode=spec.decoder(registry),
                encode=encoder,
                input_topics=spec.input_topics,
                dlq_topic=spec.dlq_topic,
                output_topics=spec.output_topics,
                consumer_config=consumer,
                producer_config=producer_config(settings, env, group_id),
                reconcile=reconcile,
                order_by=spec.order_by,
            )

            async def kafka_ready() -> str | None:
                return engine.readiness()

            health.add_check(f"{spec.label}.kafka", kafka_ready)
            try:
                await engine.run(stop)
            finally:
                health.remove_check(f"{spec.label}.kafka")


async def serve_all(
    specs: Sequence[WorkerSpec],
    env: Mapping[str, str],
    stop: asyncio.Event,
    health: Health | None = None,
    settings: RuntimeSettings | None = None,
) -> None:
    """Run every spec until `stop` is set; when one fails, the others are stopped too."""
    failed = asyncio.Event()

    async def one(spec: WorkerSpec) -> None:
        try:
            await serve(spec, env, stop, health, settings)
        except BaseException:
            failed.set()
            raise

    async def stop_on_failure() -> None:
        await failed.wait()
        stop.set()

    watcher = asyncio.create_task(stop_on_failure())
    try:
        results = await asyncio.gather(*(one(spec) for spec in specs), return_exceptions=True)
    finally:
        watcher.cancel()
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        raise errors[0]


async def _until_signalled(
    specs: Sequence[WorkerSpec], env: Mapping[str, str], settings: RuntimeSettings, health: Health, server: HealthServer
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server.start(loop)
    lag_labels = {"worker": specs[0].name}
    heartbeat = loop.create_task(health.heartbeat(lag=lambda late: metrics.EVENT_LOOP_LAG.record(late, lag_labels)))
    try:
        # Kafka answers before any engine starts; until then one line says why not, and /readyz too
        kafka = client_config(settings, env, consumer=False)
        await wait_for_kafka(specs[0].name, kafka, stop=stop, health=health, bound=settings.kafka_reach_seconds)
        await serve_all(specs, env, stop, health, settings)
    finally:
        heartbeat.cancel()


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it is a dependency but for Windows), else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on Windows
    except ImportError:
        return None
    return uvloop.new_event_loop


def _stopping_reason(exc: BaseException) -> BaseException | None:
    """The error that stopped the worker on purpose (a fenced or failed producer, an output it cannot write, a
    subject the Schema Registry lacks or cannot be reached for at start), found along `exc`'s causes; its message
    is the whole story, no traceback needed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, WorkerStopped | SetupError | RegistryUnavailable):
            return seen
        seen = seen.__cause__
    return None


def checked_telemetry(name: str, env: Mapping[str, str], instance: str) -> Telemetry | None:
    """The process's telemetry, once the settings a process refuses before it starts are right (the Schema
    Registry's, read again by each engine's client: refused here, once; the ``OTEL_*`` ones); None, the
    reason logged, when they are not (exit status 2)."""
    try:
        registry = registry_settings(env)
    except ValidationError as exc:
        _log.error("%s: configuration error: %s", name, settings_problems(exc))
        return None
    if registry.url is None:
        _log.error("%s: configuration error: %s", name, NO_REGISTRY)
        return None
    try:
        return configure_telemetry(env, worker=name, instance=instance)
    except TelemetryConfigError as exc:
        _log.error("%s: configuration error: %s", name, exc)
        return None


def run_worker(
    specs: WorkerSpec | Sequence[WorkerSpec], env: Mapping[str, str], settings: RuntimeSettings | None = None
) -> int:
    """Run `specs` (a worker and its companions) until SIGTERM or Ctrl-C; the exit status (2: a setting
    prevents the start: an ``OTEL_*`` or ``SCHEMA_REGISTRY_*`` value we cannot honour, the health port taken).
    `settings`, validated once by the entry point, are passed down to every engine."""
    specs = [specs] if isinstance(specs, WorkerSpec) else list(specs)
    name = specs[0].name
    link = parent_link(env)  # a child of a multi-process worker (workers.runtime.supervisor) dies with its parent
    if link is not None and not link.bind():
        _log.error("%s: process %d: its parent process is gone; not starting", name, link.index)
        return 1
    settings = settings or from_env(RuntimeSettings, env)
    health = Health(stall_seconds=settings.liveness_stall_seconds)
    telemetry = checked_telemetry(name, env, settings.instance_id)
    if telemetry is None:
        return 2
    try:
        server = HealthServer(health, telemetry.registry, settings.http_host, settings.http_port)
    except OSError as exc:
        _log.error("%s: cannot serve WORKER_HTTP_PORT %d: %s", name, settings.http_port, exc)
        return 2
    if link is None:
        _log.info("health and metrics on http://%s:%d (/healthz /readyz /metrics)", settings.http_host, server.port)
    else:  # the parent serves the pod's endpoints over its children's
        link.report_port(server.port)
        _log.info(
            "%s: process %d, instance %s, in flight %d", name, link.index, settings.instance_id, settings.max_in_flight
        )
    settle_collector()
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(_until_signalled(specs, env, settings, health, server))
    except Exception as exc:
        # a cluster that cannot be reached (at start, or after the runtime's retries) is one line too
        reason = _stopping_reason(exc) or unreachable_cause(exc, settings.bootstrap_servers)
        if reason is None:
            _log.exception("%s stopped on an error", name)
        else:
            _log.error("%s stopped: %s", name, reason)
        return 1
    finally:
        server.close()
        telemetry.shutdown()
    _log.info("%s stopped cleanly", name)
    return 0
