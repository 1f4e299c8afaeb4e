"""The Schema Registry client, how our values' subjects are named, and how processes that share no registry
still agree on schema ids.

Subjects. Our keys are plain strings; only values are Avro, so a value's subject follows
``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY`` (`SubjectStrategy`, confluent-kafka's strategies):
``topic`` (``<topic>-value``, the default, as in Confluent's serializers and what ksqlDB, Flink SQL and
broker-side schema validation expect), ``record`` (the full record name) or ``topic_record``
(``<topic>-<record>``). ``SCHEMA_REGISTRY_AUTO_REGISTER`` (on by default) lets a codec register its schema
under its subject at start; off, it only looks it up, and ``cesce-worker schemas register`` registers. Both
are `RegistrySettings`, which travel with the client `registry_from_env` makes (`settings_of`), so every
codec built on that client names subjects alike.

Ids. A real registry (``http(s)://...``) assigns ids once, for every process, and gives one schema one id
under every subject. confluent-kafka's ``mock://`` registry lives inside one process and numbers schemas
1, 2, 3... in the order they are registered, anew under each subject, so two processes would disagree and a
record written by one would be unreadable, or worse misread, by the other. So a mock client is created with
every schema of the catalog already registered, in catalog order (directories as given, files sorted by
name), under its record-name subject, and then behaves like a real registry where ids are concerned: a
catalog schema registered under another subject (``<topic>-value``) keeps its id, and a schema the catalog
lacks is refused. Every process built from the same ``schemas/`` derives the same ids: the n-th schema in
catalog order has id n. Extra directories (the tests' ``tests/schemas``) come after the product's, so they
never shift the product's ids.

confluent-kafka 2.x gives every mock client its own store (Java's mock shares one per URL scope).
Either way `schema_registry_client` checks the ids it got back against the catalog order and refuses
a mock store that already held something else, rather than hand out ids no other process shares.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from weakref import WeakKeyDictionary

from confluent_kafka.schema_registry import (
    RegisteredSchema,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import Field, ValidationError, field_validator

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import RegistryMismatch, RegistryUnset
from workers.runtime.kafka_config import AUTO_REGISTER_VARIABLE, STRATEGY_VARIABLE, schema_registry_config
from workers.settings import Settings, from_env

__all__ = [
    "MOCK_SCHEME",
    "RegistrySettings",
    "SubjectStrategy",
    "expected_mock_ids",
    "is_mock_registry",
    "register_catalog",
    "registry_from_env",
    "registry_settings",
    "registry_url",
    "schema_registry_client",
    "settings_of",
    "settings_problems",
    "subject_for",
]

MOCK_SCHEME: Final = "mock://"
_USER_INFO: Final = re.compile(r"//[^/,]*@")  # up to the authority's last '@': a password may hold one


class SubjectStrategy(StrEnum):
    """How the subject of a value is named (confluent-kafka's subject name strategies)."""

    TOPIC = "topic"
    """``<topic>-value``: Confluent's default; what ksqlDB, Flink SQL and broker-side validation expect."""
    RECORD = "record"
    """The full record name, whatever the topic: one subject serves every topic."""
    TOPIC_RECORD = "topic_record"
    """``<topic>-<full record name>``: several record types on one topic, each with its own history."""

    def subject(self, topic: str, record_name: str) -> str:
        """The subject of a `record_name` value written to `topic`."""
        subject = _STRATEGIES[self](SerializationContext(topic, MessageField.VALUE), record_name)
        if subject is None:  # only for a None record name, which the catalog never has
            raise ValueError("a subject needs a record name")
        return str(subject)

    @property
    def function(self) -> Any:
        """confluent-kafka's strategy function, for a serializer's ``subject.name.strategy``."""
        return _STRATEGIES[self]


_STRATEGIES: Final = {
    SubjectStrategy.TOPIC: topic_subject_name_strategy,
    SubjectStrategy.RECORD: record_subject_name_strategy,
    SubjectStrategy.TOPIC_RECORD: topic_record_subject_name_strategy,
}


class RegistrySettings(Settings):
    """Where the registry is, and ours, not the registry client's (`schema_registry_config` leaves them out): how
    subjects are named and whether a codec may register its schema."""

    url: str | None = Field(default=None, alias="SCHEMA_REGISTRY_URL")
    """The Schema Registry's URL. No default (`registry_from_env` refuses to go without one): production names its
    registry; the embedded stack's is printed by ``cesce-worker broker`` on its second line; ``mock://<name>`` (one
    process's own, see above) is for unit tests."""

    subject_name_strategy: SubjectStrategy = Field(default=SubjectStrategy.TOPIC, alias=STRATEGY_VARIABLE)
    """The subject of each Avro value written: ``topic`` (``<topic>-value``), ``record`` or ``topic_record``."""
    auto_register: bool = Field(default=True, alias=AUTO_REGISTER_VARIABLE)
    """On: a codec registers its schema under its subject at start. Off: it only looks it up, and a schema
    not registered stops the start (``cesce-worker schemas register`` registers them)."""

    @field_validator("subject_name_strategy", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def registry_settings(env: Mapping[str, str]) -> RegistrySettings:
    """``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY`` and ``SCHEMA_REGISTRY_AUTO_REGISTER`` from `env` (empty counts as
    unset, as an unset Helm value renders); pydantic's ValidationError for a value we cannot use."""
    return from_env(RegistrySettings, {name: value for name, value in env.items() if value.strip()})


def settings_problems(error: ValidationError) -> str:
    """One line naming each refused variable and why, without its value."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors())


_SETTINGS: WeakKeyDictionary[SchemaRegistryClient, RegistrySettings] = WeakKeyDictionary()


def settings_of(client: SchemaRegistryClient) -> RegistrySettings:
    """The settings `client` was made with (`schema_registry_client`); the defaults for a client made elsewhere."""
    settings = _SETTINGS.get(client)
    return settings if settings is not None else RegistrySettings()


def subject_for(record_name: str) -> str:
    """The record-name subject of a record (``record_subject_name_strategy``): where a mock pre-registers it."""
    return SubjectStrategy.RECORD.subject("", record_name)


def registry_url(client: SchemaRegistryClient) -> str:
    """The client's URL(s), fit for a message: any ``user:password@`` taken out."""
    url = client.config().get("url", "")  # type: ignore[no-untyped-call]
    return _USER_INFO.sub("//", url) if isinstance(url, str) else ""


def is_mock_registry(client: SchemaRegistryClient) -> bool:
    return registry_url(client).startswith(MOCK_SCHEME)


def expected_mock_ids(catalog: SchemaCatalog) -> dict[str, int]:
    """The id each schema gets in a mock registry created from `catalog`: its 1-based catalog position."""
    return {name: position for position, name in enumerate(catalog.names(), start=1)}


def register_catalog(client: SchemaRegistryClient, catalog: SchemaCatalog) -> dict[str, int]:
    """Register every schema of `catalog` under its record-name subject, in catalog order; name -> id."""
    return {
        name: int(client.register_schema(subject_for(name), Schema(catalog.schema_str(name), schema_type="AVRO")))
        for name in catalog.names()
    }


class _CatalogMock(MockSchemaRegistryClient):
    """A mock registry that gives a schema one id under every subject, as a real registry does, and refuses a
    schema its catalog lacks once the catalog is registered (see the module docstring)."""

    def __init__(self, url: str) -> None:
        super().__init__({"url": url})
        self._ids: dict[str, int] = {}  # schema text -> id
        self._sealed = False

    def seal(self, catalog: SchemaCatalog) -> dict[str, int]:
        """Register `catalog` (name -> id); from now on only its schemas, keeping their ids."""
        ids = register_catalog(self, catalog)
        self._ids = {catalog.schema_str(name): schema_id for name, schema_id in ids.items()}
        self._sealed = True
        return ids

    def register_schema_full_response(
        self, subject_name: str, schema: Schema, normalize_schemas: bool = False
    ) -> RegisteredSchema:
        schema_id = self._ids.get(schema.schema_str or "")
        if schema_id is None:
            if self._sealed:
                raise SchemaRegistryError(
                    422, 42201, f"the mock registry holds only its catalog's schemas, not this one ({subject_name})"
                )
            return super().register_schema_full_response(subject_name, schema, normalize_schemas)
        store = self._store
        found: RegisteredSchema | None = store.get_registered_schema_by_schema(subject_name, schema)
        if found is not None:
            return found
        latest: RegisteredSchema | None = store.get_latest_version(subject_name)
        version = 1 if latest is None or latest.version is None else latest.version + 1
        registered = RegisteredSchema(
            schema_id=schema_id, guid=str(uuid.uuid4()), schema=schema, subject=subject_name, version=version
        )
        with store.lock:
            store.subject_schemas[subject_name].add(registered)
        return registered


NO_REGISTRY: Final = (
    "SCHEMA_REGISTRY_URL is not set: name the Schema Registry (on the embedded stack, the URL `cesce-worker broker` "
    "prints on its second line)"
)


def registry_from_env(
    env: Mapping[str, str], directories: Sequence[Path] = (DEFAULT_SCHEMAS_DIR,)
) -> SchemaRegistryClient:
    """The client ``SCHEMA_REGISTRY_*`` describe: ``SCHEMA_REGISTRY_URL`` (`RegistryUnset` without it), our
    `RegistrySettings`, and every other setting for the client itself (``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO``,
    ``SCHEMA_REGISTRY_SSL_CA_LOCATION``, ...). ValidationError for a `RegistrySettings` value we cannot use."""
    settings = registry_settings(env)
    if settings.url is None:
        raise RegistryUnset(NO_REGISTRY)
    config = schema_registry_config(env)
    config.pop("url", None)
    return schema_registry_client(settings.url, directories, config=config, settings=settings)


def schema_registry_client(
    url: str,
    directories: Sequence[Path] = (DEFAULT_SCHEMAS_DIR,),
    *,
    config: Mapping[str, Any] | None = None,
    settings: RegistrySettings | None = None,
) -> SchemaRegistryClient:
    """A client for `url`: a real registry, or for ``mock://<anything>`` a mock with the catalog registered.

    `directories` only matter for a mock (a real registry already knows its schemas). `config` adds
    client settings for a real registry (``basic.auth.user.info``, ``ssl.ca.location``, ...); `settings`
    (default: `RegistrySettings`' defaults) go with the client for the codecs built on it.
    """
    client: SchemaRegistryClient
    if url.startswith(MOCK_SCHEME):
        client = _CatalogMock(url)
        catalog = SchemaCatalog.load(directories)
        got = client.seal(catalog)
        expected = expected_mock_ids(catalog)
        if got != expected:
            wrong = ", ".join(
                f"{name}={got[name]} (expected {expected[name]})" for name in expected if got[name] != expected[name]
            )
            raise RegistryMismatch(
                f"the mock registry at {url} already held other schemas, so its ids differ from other processes':"
                f" {wrong}"
            )
    else:
        client = SchemaRegistryClient({**(config or {}), "url": url})
    _SETTINGS[client] = settings or RegistrySettings()
    return client
