"""librdkafka and Schema Registry settings from ``KAFKA_*`` and ``SCHEMA_REGISTRY_*`` environment variables.

Any librdkafka property can be set without a code change, which is what SASL/SSL deployments
need: drop the prefix, lowercase, ``_`` becomes ``.`` (``KAFKA_SASL_MECHANISM`` ->
``sasl.mechanism``, ``KAFKA_SSL_CA_LOCATION`` -> ``ssl.ca.location``). No librdkafka property has an
underscore, so the mapping is unambiguous. The same rule maps ``SCHEMA_REGISTRY_*`` to the registry
client's settings (``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`` -> ``basic.auth.user.info``), except our own two:
``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY`` and ``SCHEMA_REGISTRY_AUTO_REGISTER`` (`workers.runtime.registry`).

Skipped: empty values (an unset Helm value renders as ""), and the variables Kubernetes injects
for a Service named ``kafka`` or ``schema-registry`` (``KAFKA_PORT``, ``KAFKA_SERVICE_HOST``,
``KAFKA_PORT_9092_TCP_ADDR``...), which are not settings and which librdkafka would refuse.

Pure functions of a mapping: the entry point passes ``os.environ``, tests pass a dict.

`CONSUMER_PREFETCH` is what a worker's consumers start from instead of librdkafka's defaults, which
let each consumer prefetch up to 64 MiB (``queued.max.messages.kbytes``) or 100,000 records per
partition (``queued.min.messages``) ahead of an engine that handles 64 at a time (a process holds
two consumers: the worker's and its re-keying companion's). ``KAFKA_*`` variables override them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

__all__ = [
    "AUTO_REGISTER_VARIABLE",
    "CONSUMER_PREFETCH",
    "MOCK_CLUSTER_FETCH_WAIT",
    "STRATEGY_VARIABLE",
    "librdkafka_config",
    "redacted",
    "schema_registry_config",
    "scrubbed",
]

STRATEGY_VARIABLE: Final = "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY"
AUTO_REGISTER_VARIABLE: Final = "SCHEMA_REGISTRY_AUTO_REGISTER"

CONSUMER_PREFETCH: Final[Mapping[str, int]] = {
    # librdkafka's local queue of one consumer, all its partitions together, in KiB (default 65536): the bound
    # that holds with a backlog waiting; far more than the 64 records (WORKER_MAX_IN_FLIGHT) being handled
    "queued.max.messages.kbytes": 4096,
    # records per partition it tries to keep fetched (default 100000): a thousand keep the engine busy
    "queued.min.messages": 1000,
    # once the queue is at either bound, fetch again this soon (default 1000 ms): the engine pauses and resumes
    # partitions all the time, librdkafka drops a paused partition's queue, and a resumed one must not wait a second
    "fetch.queue.backoff.ms": 20,
}
"""librdkafka's prefetch bounds for a worker's consumers (`workers.runtime.run.consumer_config`); a ``KAFKA_*``
variable of the same name wins (``KAFKA_QUEUED_MAX_MESSAGES_KBYTES``, ``KAFKA_QUEUED_MIN_MESSAGES``,
``KAFKA_FETCH_QUEUE_BACKOFF_MS``)."""

MOCK_CLUSTER_FETCH_WAIT: Final[Mapping[str, int]] = {"fetch.wait.max.ms": 20}
"""What a worker's consumer waits for a fetch on librdkafka's mock cluster (the embedded broker) instead of
librdkafka's 500 ms. A broker holds a fetch that finds nothing until records arrive or the wait is over; the mock
holds it for the whole wait, records or not (rdkafka_mock_handlers.c: "we should cut the wait short ... but that is
too much of a hassle"), so a worker that had caught up saw the next records up to half a second late, and every
benchmark case started with it (the first result 0.6 s after the first invoice, issue 18). On a real cluster the
wait costs nothing while records come and stays librdkafka's. ``KAFKA_FETCH_WAIT_MAX_MS`` wins."""

_KAFKA_PREFIX: Final = "KAFKA_"
_REGISTRY_PREFIX: Final = "SCHEMA_REGISTRY_"
_SERVICE_LINK: Final = re.compile(r"(?:PORT|PORT_\d+_(?:TCP|UDP|SCTP)(?:_[A-Z]+)?|SERVICE_[A-Z0-9_]+)")
_SECRET_WORDS: Final = ("password", "secret", "user.info", "token", ".pem", "key")


def _from_env(env: Mapping[str, str], prefix: str, ignore: Collection[str]) -> dict[str, str]:
    config: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith(prefix) or name in ignore or not env[name]:
            continue
        rest = name.removeprefix(prefix)
        if not rest or _SERVICE_LINK.fullmatch(rest):
            continue
        config[rest.lower().replace("_", ".")] = env[name]
    return config


def librdkafka_config(env: Mapping[str, str], *, ignore: Collection[str] = ()) -> dict[str, str]:
    """Every ``KAFKA_*`` variable as a librdkafka property (``bootstrap.servers`` included).

    `ignore` names variables that share the prefix but are not librdkafka settings.
    """
    return _from_env(env, _KAFKA_PREFIX, ignore)


def schema_registry_config(env: Mapping[str, str], *, ignore: Collection[str] = ()) -> dict[str, str]:
    """Every ``SCHEMA_REGISTRY_*`` variable as a registry client setting (``url`` from ``SCHEMA_REGISTRY_URL``).

    ``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY`` and ``SCHEMA_REGISTRY_AUTO_REGISTER`` are ours, never the client's.
    """
    ours = (STRATEGY_VARIABLE, AUTO_REGISTER_VARIABLE, *ignore)
    return _from_env(env, _REGISTRY_PREFIX, ours)


def redacted(config: Mapping[str, str]) -> dict[str, str]:
    """`config` fit for a log line: passwords, secrets, keys and credentials replaced by ``***``."""
    return {key: "***" if any(word in key for word in _SECRET_WORDS) else value for key, value in config.items()}


def scrubbed(text: str, config: Mapping[str, str]) -> str:
    """`text` without the values of `config`'s secret settings (those `redacted` hides): librdkafka may quote a
    value it refuses."""
    for key, shown in redacted(config).items():
        if shown == "***" and config[key]:
            text = text.replace(config[key], "***")
    return text
