"""The Schema Registry client, and how processes that share no registry still agree on schema ids.

A real registry (``http(s)://...``) assigns ids once, for every process. confluent-kafka's
``mock://`` registry lives inside one process and numbers schemas 1, 2, 3... in the order they are
registered, so two processes that register in different orders would disagree and a record written
by one would be unreadable, or worse misread, by the other. So a mock client is created with every
schema of the catalog already registered, in catalog order (directories as given, files sorted by
name), under its record-name subject; it never registers anything else (`AvroCodec` does not
auto-register on a mock). Every process built from the same ``schemas/`` derives the same ids:
the n-th schema in catalog order has id n. Extra directories (the tests' ``tests/schemas``) come
after the product's, so they never shift the product's ids.

confluent-kafka 2.x gives every mock client its own store (Java's mock shares one per URL scope).
Either way `schema_registry_client` checks the ids it got back against the catalog order and refuses
a mock store that already held something else, rather than hand out ids no other process shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, record_subject_name_strategy

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import RegistryMismatch
from workers.runtime.kafka_config import schema_registry_config

__all__ = [
    "MOCK_SCHEME",
    "expected_mock_ids",
    "is_mock_registry",
    "register_catalog",
    "registry_from_env",
    "registry_url",
    "schema_registry_client",
    "subject_for",
]

MOCK_SCHEME: Final = "mock://"


def subject_for(record_name: str) -> str:
    """The subject of a record: its full name (``record_subject_name_strategy``), whatever the topic."""
    subject = record_subject_name_strategy(None, record_name)
    if subject is None:  # only for a None record name, which the catalog never has
        raise ValueError("a record subject needs a record name")
    return str(subject)


def registry_url(client: SchemaRegistryClient) -> str:
    url = client.config().get("url", "")  # type: ignore[no-untyped-call]
    return url if isinstance(url, str) else ""


def is_mock_registry(client: SchemaRegistryClient) -> bool:
    return registry_url(client).startswith(MOCK_SCHEME)


def expected_mock_ids(catalog: SchemaCatalog) -> dict[str, int]:
    """The id each schema gets in a mock registry created from `catalog`: its 1-based catalog position."""
    return {name: position for position, name in enumerate(catalog.names(), start=1)}


def register_catalog(client: SchemaRegistryClient, catalog: SchemaCatalog) -> dict[str, int]:
    """Register every schema of `catalog` under its record-name subject, in catalog order; name -> id.

    Idempotent on a real registry (an identical schema keeps its id), so a deploy step may call it.
    """
    return {
        name: int(client.register_schema(subject_for(name), Schema(catalog.schema_str(name), schema_type="AVRO")))
        for name in catalog.names()
    }


def registry_from_env(
    env: Mapping[str, str], directories: Sequence[Path] = (DEFAULT_SCHEMAS_DIR,)
) -> SchemaRegistryClient:
    """The client ``SCHEMA_REGISTRY_*`` describe: ``SCHEMA_REGISTRY_URL`` (default ``mock://cesce``) and every other
    setting (``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO``, ``SCHEMA_REGISTRY_SSL_CA_LOCATION``, ...)."""
    config = schema_registry_config(env)
    url = config.pop("url")
    return schema_registry_client(url, directories, config=config)


def schema_registry_client(
    url: str,
    directories: Sequence[Path] = (DEFAULT_SCHEMAS_DIR,),
    *,
    config: Mapping[str, Any] | None = None,
) -> SchemaRegistryClient:
    """A client for `url`: a real registry, or for ``mock://<anything>`` a mock with the catalog registered.

    `directories` only matter for a mock (a real registry already knows its schemas). `config` adds
    client settings for a real registry (``basic.auth.user.info``, ``ssl.ca.location``, ...).
    """
    if not url.startswith(MOCK_SCHEME):
        return SchemaRegistryClient({**(config or {}), "url": url})
    client = SchemaRegistryClient.new_client({"url": url})
    catalog = SchemaCatalog.load(directories)
    got = register_catalog(client, catalog)
    expected = expected_mock_ids(catalog)
    if got != expected:
        wrong = ", ".join(
            f"{name}={got[name]} (expected {expected[name]})" for name in expected if got[name] != expected[name]
        )
        raise RegistryMismatch(
            f"the mock registry at {url} already held other schemas, so its ids differ from other processes': {wrong}"
        )
    return client
