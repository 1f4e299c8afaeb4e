"""The Kafka that integration tests run against, chosen by ``CESCE_TEST_KAFKA``.

- ``embedded`` (default): `EmbeddedKafka`, librdkafka's mock cluster, in the pytest process; a
  fresh cluster per test (it starts in milliseconds), so no test sees another's topics or groups.
- ``testcontainers``: a real Apache Kafka (Confluent's cp-kafka image, KRaft) in Docker through
  testcontainers. Skipped, with the reason, when no Docker engine answers. One container serves
  the whole session (it takes ~10 s to start); tests keep apart through `unique_topic` and their
  own group ids. It auto-creates topics with 4 partitions like the mock, and runs transactions on
  one broker.
- ``external``: the cluster at ``KAFKA_BOOTSTRAP_SERVERS`` (a `cesce-worker broker`, a dev
  cluster); skipped when unset. Other ``KAFKA_*`` variables become librdkafka settings as for
  the workers (`workers.runtime.kafka_config`: ``KAFKA_SASL_MECHANISM`` -> ``sasl.mechanism``).

Tests take the `kafka` fixture, build clients from `consumer_config(kafka, {...})` and
`producer_config(kafka, {...})` (which carry `client_config`), and branch on `kafka.is_mock`
only where the mock's documented limits (see `workers.runtime.embedded`) make a real Kafka
behave differently. Register the fixture in a conftest with
``from tests.kafka_backends import kafka  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import pytest
from confluent_kafka import KafkaException

from workers.runtime.embedded import MOCK_CLIENT_CONFIG, EmbeddedKafka, is_mock_cluster
from workers.runtime.kafka_config import librdkafka_config

__all__ = [
    "BACKEND_ENV",
    "KAFKA_IMAGE",
    "KafkaBackend",
    "RunningKafka",
    "consumer_config",
    "docker_unreachable_reason",
    "kafka",
    "producer_config",
    "unique_topic",
]

BACKEND_ENV: Final = "CESCE_TEST_KAFKA"
_BACKENDS: Final = ("embedded", "testcontainers", "external")
KAFKA_IMAGE: Final = "confluentinc/cp-kafka:7.6.0"  # Apache Kafka 3.6; KafkaContainer's start script needs cp-kafka
_DOCKER_TIMEOUT_SECONDS: Final = 3
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,200}")

# The mock needs short sessions (a joining member waits for a departed one's session timeout);
# a real broker accepts the same values (its minimum is 6 s) and moves a dead member's partitions
# as quickly, so every backend gets them and timing-sensitive tests behave alike.
_CLIENT_CONFIG: Final[Mapping[str, str]] = MOCK_CLIENT_CONFIG
_GROUP_MEMBER_SETTINGS: Final = frozenset({"session.timeout.ms", "heartbeat.interval.ms"})


class KafkaBackend(Protocol):
    """What a test needs to reach a Kafka."""

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def is_mock(self) -> bool:
        """True on librdkafka's mock cluster, whose limits are listed in `workers.runtime.embedded`."""
        ...

    @property
    def client_config(self) -> dict[str, str]:
        """Extra librdkafka settings every client of this backend must use."""
        ...


@dataclass(frozen=True)
class RunningKafka:
    """A reachable Kafka; `name` is the backend that provides it."""

    name: str
    bootstrap_servers: str
    is_mock: bool
    client_config: dict[str, str] = field(default_factory=lambda: dict(_CLIENT_CONFIG))


@dataclass(frozen=True)
class _Unavailable:
    """Why a session-wide backend cannot serve: skipped (no Docker) or failed (Kafka did not start)."""

    reason: str
    skip: bool


_SHARED: Final = pytest.StashKey["RunningKafka | _Unavailable"]()


def consumer_config(backend: KafkaBackend, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka settings for a consumer of `backend`: its address, its `client_config`, then `extra`."""
    return {"bootstrap.servers": backend.bootstrap_servers, **backend.client_config, **(extra or {})}


def producer_config(backend: KafkaBackend, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """As `consumer_config`, without the group-member settings librdkafka warns about on a producer."""
    settings = consumer_config(backend, extra)
    for name in _GROUP_MEMBER_SETTINGS - set(extra or {}):
        settings.pop(name, None)
    return settings


def unique_topic(prefix: str) -> str:
    """A topic name no other test uses (``<prefix>-<12 hex>``): backends shared by a session stay apart."""
    if not _TOPIC_PREFIX.fullmatch(prefix):
        raise ValueError(f"a topic prefix takes letters, digits, '.', '_' and '-' only, got {prefix!r}")
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kafka(request: pytest.FixtureRequest) -> Iterator[KafkaBackend]:
    """The Kafka selected by ``CESCE_TEST_KAFKA``; an embedded one lives for this test only."""
    choice = os.environ.get(BACKEND_ENV, "").strip() or "embedded"
    if choice == "embedded":
        with EmbeddedKafka() as embedded:
            yield RunningKafka("embedded", embedded.bootstrap_servers, is_mock=True)
    elif choice == "testcontainers":
        yield _shared(request.config)
    elif choice == "external":
        yield _external()
    else:
        pytest.fail(f"{BACKEND_ENV}={choice!r}: choose one of {', '.join(_BACKENDS)}", pytrace=False)


def docker_unreachable_reason() -> str | None:
    """None when the Docker engine testcontainers would use answers a ping; else why not.

    The same lookup as testcontainers (its properties file, ``DOCKER_HOST``, the docker context)
    with a short timeout: a machine without an engine is told so in well under a second.
    """
    try:
        from testcontainers.core.docker_client import DockerClient, get_docker_host  # noqa: PLC0415 - dev only
    except ImportError as exc:
        return f"testcontainers is not installed: {exc}"
    where = get_docker_host() or "docker-py's default socket"
    reason: str | None = None
    # docker-py drops the socket of a failed connect unclosed; its ResourceWarning (an error in
    # this suite) is silenced here and the socket collected before the filter is restored.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            docker = DockerClient(timeout=_DOCKER_TIMEOUT_SECONDS).client
            try:
                docker.ping()
            finally:
                docker.close()
        except Exception as exc:  # docker-py raises many kinds; each is a reason to skip
            reason = f"{where}: {type(exc).__name__}: {exc}"
        gc.collect()
    return reason


def _shared(config: pytest.Config) -> RunningKafka:
    running = config.stash.get(_SHARED, None)
    if running is None:
        running = _start_container(config)
        config.stash[_SHARED] = running
    if isinstance(running, _Unavailable):
        if running.skip:
            pytest.skip(running.reason)
        pytest.fail(running.reason, pytrace=False)
    return running


def _start_container(config: pytest.Config) -> RunningKafka | _Unavailable:
    """Start the session's Kafka container once; `config.add_cleanup` stops it at session end."""
    reason = docker_unreachable_reason()
    if reason is not None:
        return _Unavailable(f"testcontainers backend: no Docker engine reachable ({reason})", skip=True)
    from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415 - needs Docker, checked above

    container = (
        KafkaContainer(KAFKA_IMAGE)
        .with_kraft()
        .with_env("KAFKA_NUM_PARTITIONS", "4")  # auto-created topics shaped like the mock's
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")  # transactions on one broker
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    try:
        container.start()
    except Exception as exc:  # reported once, then every test that needs it fails with it
        with contextlib.suppress(Exception):
            container.stop()  # a container that runs but never got ready must not outlive the session
        return _Unavailable(f"testcontainers backend: Kafka did not start ({type(exc).__name__}: {exc})", skip=False)
    config.add_cleanup(container.stop)
    return RunningKafka("testcontainers", container.get_bootstrap_server(), is_mock=False)


def _external() -> RunningKafka:
    bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not bootstrap_servers:
        pytest.skip("external backend: KAFKA_BOOTSTRAP_SERVERS is not set")
    settings = librdkafka_config(os.environ, ignore={"KAFKA_BOOTSTRAP_SERVERS"})
    try:
        mock = is_mock_cluster(bootstrap_servers, settings)
    except KafkaException as exc:
        pytest.fail(f"external backend: no Kafka answers at {bootstrap_servers} ({exc})", pytrace=False)
    return RunningKafka("external", bootstrap_servers, is_mock=mock, client_config={**_CLIENT_CONFIG, **settings})
