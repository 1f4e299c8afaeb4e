"""The embedded Kafka: librdkafka's mock cluster, owned by this process, reachable over TCP.

confluent-kafka ships librdkafka, and librdkafka ships a Kafka-protocol broker for its own tests:
any client created with ``test.mock.num.brokers`` starts an in-memory cluster whose brokers
listen on ephemeral ports of 127.0.0.1. `EmbeddedKafka` holds such a client (the *owner*) and
nothing else; the cluster lives exactly as long as the owner, so stopping is closing it, and
other clients, in this process or in others, connect through `bootstrap_servers` like to any
Kafka. That makes the whole product run with nothing installed beside Python packages.

What the mock does not do, measured on librdkafka 2.16 (tests/integration/runtime/test_embedded.py
demonstrates each one, so a librdkafka that fixes them makes those tests fail and this list is
updated):

- **TxnOffsetCommit is not applied to the group.** Offsets a transactional producer sends with
  ``send_offsets_to_transaction`` are acknowledged but never stored: after the commit the group
  has no committed offset. Exactly-once tests cannot read the consumed position back from the
  group on the mock; plain ``Consumer.commit`` offsets are stored.
- **Aborted transactional data is not hidden from ``read_committed`` consumers.** Fetch reports
  the last stable offset as the end offset and lists no aborted transactions, so such a consumer
  receives the records of aborted transactions (control records are still skipped). Tests that
  prove "an aborted result is never seen downstream" need a real Kafka.
- **No CreateTopics.** Topics are auto-created on first use with 4 partitions; librdkafka has no
  setting for another count (its only ``test.mock.*`` properties are ``num.brokers`` and
  ``broker.rtt``), hence ``EmbeddedKafka(partitions=...)`` accepts only 4.
- **Groups are slow to form.** A group's first join waits about 3 s (the mock's initial
  rebalance delay, which no client setting changes), and a consumer joining a group after a
  member left waits for that member's session timeout: clients of the mock should use
  ``session.timeout.ms=6000`` and ``heartbeat.interval.ms=500`` (`MOCK_CLIENT_CONFIG`), and
  tests that need no group use ``assign``.
- Everything is in memory and the fetch path slows down on very long partitions.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType, TracebackType
from typing import Final

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

__all__ = [
    "MOCK_CLIENT_CONFIG",
    "MOCK_PARTITIONS",
    "EmbeddedKafka",
    "is_mock_cluster",
    "run_broker",
]

MOCK_PARTITIONS: Final = 4
"""Partitions of every topic the mock auto-creates; librdkafka has no setting to change it."""

MOCK_CLIENT_CONFIG: Final[Mapping[str, str]] = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
"""librdkafka settings for consumers of the mock: its group coordinator makes a joining member
wait for a departed one's session timeout, so a short session keeps rebalances to seconds."""

_MOCK_CLUSTER_ID_PREFIX: Final = "mockCluster"
_METADATA_TIMEOUT: Final = 10.0
_TICK_SECONDS: Final = 0.1
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class EmbeddedKafka:
    """A librdkafka mock cluster with `brokers` brokers, owned by this object.

        with EmbeddedKafka(brokers=3) as kafka:
            Producer({"bootstrap.servers": kafka.bootstrap_servers}).produce("t", b"v")

    Two instances are two independent clusters (own ports, topics, groups). `stop` closes every
    listening socket; clients still connected then see the broker go away, so close them first.
    """

    def __init__(self, brokers: int = 1, partitions: int = MOCK_PARTITIONS) -> None:
        if brokers < 1:
            raise ValueError(f"a cluster needs at least one broker, got {brokers}")
        if partitions != MOCK_PARTITIONS:
            raise ValueError(
                f"the mock cluster auto-creates every topic with {MOCK_PARTITIONS} partitions and librdkafka "
                f"has no setting to change that; got partitions={partitions}"
            )
        self.brokers = brokers
        self.partitions = partitions
        self._owner: Producer | None = None
        self._bootstrap_servers: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:p1,127.0.0.1:p2"``, brokers in id order; only while started."""
        if self._bootstrap_servers is None:
            raise RuntimeError("the embedded Kafka is not running: call start() or use it as a context manager")
        return self._bootstrap_servers

    @property
    def running(self) -> bool:
        return self._owner is not None

    def start(self) -> EmbeddedKafka:
        """Create the cluster and return once its brokers listen."""
        if self._owner is not None:
            raise RuntimeError("the embedded Kafka is already running")
        # bootstrap.servers is replaced by the mock's own brokers; log_level 4 drops librdkafka's
        # notice that it did so (our callers print the addresses themselves) but keeps warnings.
        owner = Producer({"test.mock.num.brokers": self.brokers, "bootstrap.servers": "", "log_level": 4})
        try:
            metadata = owner.list_topics(timeout=_METADATA_TIMEOUT)
            brokers = sorted(metadata.brokers.values(), key=lambda broker: broker.id)
            if len(brokers) != self.brokers:
                raise RuntimeError(f"the mock cluster reported {len(brokers)} brokers, expected {self.brokers}")
            self._bootstrap_servers = ",".join(f"{broker.host}:{broker.port}" for broker in brokers)
        except BaseException:
            _destroy(owner)
            raise
        self._owner = owner
        return self

    def stop(self) -> None:
        """Destroy the cluster: its data goes, its ports close. Idempotent."""
        owner, self._owner, self._bootstrap_servers = self._owner, None, None
        if owner is not None:
            _destroy(owner)

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._bootstrap_servers or "stopped"
        return f"EmbeddedKafka(brokers={self.brokers}, {where})"


def _destroy(owner: Producer) -> None:
    """Destroy the owner's librdkafka handle, and with it the mock cluster, now.

    ``Producer.close`` is recent (our floor, confluent-kafka 2.6, may lack it); without it the
    handle goes with the last reference, which the caller drops.
    """
    close = getattr(owner, "close", None)
    if close is not None:
        close()


def is_mock_cluster(
    bootstrap_servers: str,
    config: Mapping[str, str] | None = None,
    *,
    timeout: float = _METADATA_TIMEOUT,
) -> bool:
    """Whether the cluster at `bootstrap_servers` is a librdkafka mock (its cluster id says so).

    `config` carries whatever else reaching the cluster needs (SASL, TLS). Callers use the answer
    to know which guarantees to expect (see the module docstring). An unreachable cluster raises
    `confluent_kafka.KafkaException`: "not a mock" would be a guess.
    """
    admin = AdminClient({**(config or {}), "bootstrap.servers": bootstrap_servers})
    return is_mock_cluster_id(admin.list_topics(timeout=timeout).cluster_id)


def is_mock_cluster_id(cluster_id: object) -> bool:
    """Whether a cluster id, as metadata gives it, is a librdkafka mock cluster's."""
    return isinstance(cluster_id, str) and cluster_id.startswith(_MOCK_CLUSTER_ID_PREFIX)


def run_broker(brokers: int, on_ready: Callable[[str], None], stop: threading.Event | None = None) -> None:
    """Run a mock cluster until SIGINT or SIGTERM, or until `stop` is set; for `cesce-worker broker`.

    `on_ready(bootstrap_servers)` is called once the brokers listen. The signal handlers are in
    place before the cluster starts, so a signal sent as soon as the address is known still ends
    the run cleanly (this returns; it does not raise KeyboardInterrupt), and the previous handlers
    are restored on return. Signals reach only the main thread: elsewhere `stop` is required.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if stop is None and not in_main_thread:
        raise ValueError("off the main thread no signal can end the broker: pass `stop`")
    # A flag, not an Event: Event.set from a signal handler can deadlock on the Event's own lock.
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS} if in_main_thread else {}
    try:
        with EmbeddedKafka(brokers) as kafka:
            on_ready(kafka.bootstrap_servers)
            while not received and not (stop is not None and stop.is_set()):
                if stop is not None:
                    stop.wait(_TICK_SECONDS)
                else:
                    time.sleep(_TICK_SECONDS)
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: the previous handler was not set from Python; nothing to restore
                signal.signal(sig, handler)
