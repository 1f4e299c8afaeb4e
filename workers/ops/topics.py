"""Every topic the workers read and write, and their creation on the embedded broker.

In production the topics exist before a worker starts (the chart's Strimzi ``KafkaTopic`` resources,
`helm/cesce-workers/templates/kafkatopics.yaml`). The embedded broker (librdkafka's mock) creates a topic
when a producer first asks for it, which let a worker subscribe to a topic that did not exist yet and
then see it born while its group was forming: librdkafka saw the topic's metadata change at each
JoinGroup answer and joined again, and each join waits on the mock's rebalance timer (3-5 s). Measured
with one consumer of our settings and a topic created 0.1-3 s after it subscribed, 40 trials: assigned
3.0-4.9 s after the creation in 38, 14.2 and 14.6 s in two (the topic created 0.4 and 0.8 s after the
subscription), and 42 s once in CI (the walk-through's first invoices never reached a worker in time).
So `cesce-worker broker` creates every topic of `product_topics` before it prints its address, as the
chart does before a worker starts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from confluent_kafka import KafkaException, Producer

from workers.ops.run_command import WORKERS
from workers.ops.settings import DlqSettings, ops_settings
from workers.runtime import WorkerSpec
from workers.runtime.embedded import MOCK_PARTITIONS

__all__ = ["create_on_mock", "product_topics", "topology"]

_PLACEHOLDERS: Final = {
    "CESCE_BASE_URL": "https://cesce.invalid",
    "CESCE_CLIENT_ID": "topology",
    "CESCE_CLIENT_SECRET": "topology",
    "RISK_CONTRACTS": "34100000000",
    "SALES_FOLLOWUP_CONTRACTS": "34100000000",
}
"""What building a spec requires but no topic depends on: it stands in for the real values, which are never read."""
_IGNORED_PREFIXES: Final = ("CESCE_",)
_TIMEOUT: Final = 10.0


def topology(env: Mapping[str, str]) -> list[WorkerSpec]:
    """Every spec of every worker, as `cesce-worker run` builds them from `env`; pydantic's ValidationError for a
    topic setting it refuses."""
    built = {name: value for name, value in env.items() if not name.startswith(_IGNORED_PREFIXES)}
    built |= _PLACEHOLDERS
    specs: list[WorkerSpec] = []
    for make in WORKERS.values():
        made = make(built)
        specs.extend([made] if isinstance(made, WorkerSpec) else made)
    return specs


def product_topics(env: Mapping[str, str]) -> list[str]:
    """The names of every topic the workers read or write for the settings in `env`: inputs, their dead-letter
    topics, outputs (results, follow-ups, row state) and the replay ledger; sorted."""
    names: set[str] = {ops_settings(DlqSettings, env).replays_topic}
    for spec in topology(env):
        names.update(spec.input_topics, spec.output_topics, (spec.dlq_topic(name) for name in spec.input_topics))
    return sorted(names)


def create_on_mock(bootstrap_servers: str, topics: Collection[str]) -> None:
    """Create `topics` on librdkafka's mock cluster (it creates a topic, `MOCK_PARTITIONS` partitions, when a
    producer asks for its metadata); RuntimeError naming a topic it did not create or the cluster not answering."""
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    try:
        for topic in topics:
            try:
                described = producer.list_topics(topic=topic, timeout=_TIMEOUT).topics.get(topic)
            except KafkaException as exc:
                raise RuntimeError(f"the embedded broker did not answer for {topic}: {exc.args[0]}") from exc
            if described is None or described.error is not None or len(described.partitions) != MOCK_PARTITIONS:
                why = described.error if described is not None else "no metadata"
                raise RuntimeError(f"the embedded broker did not create {topic}: {why}")
    finally:
        producer.flush(_TIMEOUT)
