"""Values in and out of bytes: Avro in the Confluent wire format, and JSON without losing a cent.

Avro goes through confluent-kafka's Schema Registry serializers (fastavro underneath): magic byte
0, the 4-byte big-endian schema id, then the Avro body. A value's subject follows the registry
client's strategy (``<topic>-value`` by default; `workers.runtime.registry`). `AvroCodec` reads and
writes one record schema of the catalog; `AvroReader` reads any framed record with its writer's schema
(for tools and for CDC envelopes whose writer we do not control).

Exact JSON and `coerce` (JSON-ish values into what an Avro schema describes, without losing a
digit) live in `workers.runtime.coercions`; they are re-exported here.

Errors::

    DeserializationError    the bytes are bad: dead-letter the record (``code`` says how, ``reason`` says
                            which field); never a bare KeyError/ValueError
    RegistryUnavailable     the registry could not answer: transient, the same bytes may decode later
    SetupError              a subject the registry does not hold or refuses (`AvroCodec.prepare`): a person acts
    EncodeError             a value the schema refuses (a defect in the code that built it)
    FieldError              raised by `coerce`; callers turn it into one of the above
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry import record_subject_name_strategy as _record_subjects
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from fastavro.read import SchemaResolutionError

from workers.runtime.catalog import SchemaCatalog
from workers.runtime.coercions import ErrorCode, coerce, dumps_exact, loads_exact
from workers.runtime.errors import (
    DeserializationError,
    EncodeError,
    FieldError,
    RegistryMismatch,
    RegistryUnavailable,
    RuntimeFailure,
    SetupError,
)
from workers.runtime.registry import registry_url, settings_of, subject_for

__all__ = [
    "MAGIC_BYTE",
    "TOMBSTONE",
    "AvroCodec",
    "AvroReader",
    "Decoded",
    "DeserializationError",
    "ErrorCode",
    "FieldError",
    "Tombstone",
    "coerce",
    "dumps_exact",
    "loads_exact",
    "state_decoder",
    "wire_schema_id",
]

MAGIC_BYTE: Final = 0
_HEADER: Final = struct.Struct(">bI")  # magic byte, schema id
_NOT_FOUND: Final = frozenset({40400, 40403})  # "not found", "schema not found"


# --- Avro in the Confluent wire format ---------------------------------------------------------------


def wire_schema_id(data: bytes) -> int:
    """The schema id of Confluent-framed bytes, or DeserializationError (``empty``, ``truncated``, ``bad-magic``)."""
    if not data:
        raise DeserializationError(ErrorCode.EMPTY, "no bytes to decode")
    if len(data) < _HEADER.size:
        raise DeserializationError(
            ErrorCode.TRUNCATED, f"{len(data)} bytes cannot hold the magic byte and the 4-byte schema id"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DeserializationError(ErrorCode.BAD_MAGIC, f"first byte is {data[0]}, not the wire format's magic byte 0")
    return int(schema_id)


def _writer_schema(registry: SchemaRegistryClient, schema_id: int) -> Schema:
    try:
        schema: Schema = registry.get_schema(schema_id)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404 or exc.error_code in _NOT_FOUND:
            raise DeserializationError(
                ErrorCode.UNKNOWN_SCHEMA_ID, f"the registry has no schema with id {schema_id}"
            ) from None
        raise RegistryUnavailable(f"schema id {schema_id}: {exc}") from exc
    except Exception as exc:  # connection, timeout, TLS: from httpx or httpx2, whichever confluent-kafka uses
        raise RegistryUnavailable(f"schema id {schema_id}: {type(exc).__name__}: {exc}") from exc
    return schema


def _deserialize(deserializer: AvroDeserializer, data: bytes, topic: str, schema_id: int, expected: str | None) -> Any:
    try:
        return deserializer(data, SerializationContext(topic, MessageField.VALUE))
    except SchemaResolutionError as exc:
        raise DeserializationError(
            ErrorCode.WRONG_SCHEMA, f"schema id {schema_id} cannot be read as {expected}: {_short(exc)}"
        ) from None
    except SchemaRegistryError as exc:
        raise RegistryUnavailable(f"schema id {schema_id}: {exc}") from exc
    except Exception as exc:  # fastavro fails on corrupt bodies with EOFError, IndexError, UnicodeDecodeError...
        raise DeserializationError(
            ErrorCode.BAD_AVRO, f"body does not decode with schema id {schema_id}: {type(exc).__name__}: {_short(exc)}"
        ) from None


def _short(exc: Exception, limit: int = 200) -> str:
    """An exception's text, cut: fastavro puts whole schemas in its messages."""
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Decoded:
    """A framed Avro value read with its writer's schema."""

    schema_id: int
    schema_name: str | None
    value: Any


class AvroReader:
    """Reads Confluent-framed Avro with whatever schema wrote it (tools, CDC envelopes)."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self._registry = registry
        self._deserializer = AvroDeserializer(registry, conf={"subject.name.strategy": _record_subjects})

    def decode(self, data: bytes, topic: str) -> Decoded:
        schema_id = wire_schema_id(data)
        writer = _writer_schema(self._registry, schema_id)
        value = _deserialize(self._deserializer, data, topic, schema_id, None)
        return Decoded(schema_id, _record_name(writer), value)


def _record_name(schema: Schema) -> str | None:
    try:
        declared = json.loads(schema.schema_str or "")
    except ValueError:
        return None
    if not isinstance(declared, dict) or not isinstance(declared.get("name"), str):
        return None
    name: str = declared["name"]
    namespace = declared.get("namespace")
    return f"{namespace}.{name}" if "." not in name and isinstance(namespace, str) and namespace else name


class AvroCodec:
    """One record schema of the catalog, written and read in the Confluent wire format.

    The schema text comes from the catalog (what the code was tested with), its id from the registry,
    per topic written: `prepare` registers the schema under the topic's subject, or with auto-registration
    off only looks it up (the client's `RegistrySettings`: ``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY``,
    ``SCHEMA_REGISTRY_AUTO_REGISTER``; `auto_register` overrides the latter). The runtime prepares every
    topic a worker writes before it starts (`workers.runtime.run`), so a schema the registry lacks stops
    the start naming its subject instead of failing record after record; `encode` prepares a topic it has
    not seen. Reading needs no subject: the writer's id travels in the bytes.
    """

    def __init__(
        self,
        registry: SchemaRegistryClient,
        schema_name: str,
        *,
        catalog: SchemaCatalog | None = None,
        auto_register: bool | None = None,
    ) -> None:
        catalog = catalog if catalog is not None else SchemaCatalog.load()
        self.schema_name = schema_name
        self._schema = catalog.by_name(schema_name)
        self._text = catalog.schema_str(schema_name)
        self._path = catalog.path(schema_name)
        settings = settings_of(registry)
        self._strategy = settings.subject_name_strategy
        self._register = settings.auto_register if auto_register is None else auto_register
        self._ids: dict[str, int] = {}  # topic -> the schema's id under its subject
        self._serializer = AvroSerializer(
            registry,
            self._text,
            conf={
                "auto.register.schemas": False,  # `prepare` registers, the serializer only looks up
                "use.latest.version": False,
                "subject.name.strategy": self._strategy.function,
            },
        )
        self._deserializer = AvroDeserializer(registry, self._text, conf={"subject.name.strategy": _record_subjects})
        self._registry = registry

    def subject(self, topic: str) -> str:
        """The subject of this schema's values on `topic`."""
        return self._strategy.subject(topic, self.schema_name)

    def prepare(self, topic: str) -> int:
        """The schema's id under `topic`'s subject, registered first if auto-registration is on.

        SetupError (`RegistryMismatch` for a schema not registered) naming the subject and what to run;
        RegistryUnavailable when the registry does not answer.
        """
        known = self._ids.get(topic)
        if known is None:
            known = self._ids[topic] = self._resolve(self.subject(topic), register=self._register)
        return known

    @property
    def schema_id(self) -> int:
        """The schema's id. A registry gives one schema one id under every subject (our mock too), so it is the
        id under any topic prepared, or before one is, under the record-name subject (a mock holds them all)."""
        if self._ids:
            return next(iter(self._ids.values()))
        return self._resolve(subject_for(self.schema_name), register=False)

    def _resolve(self, subject: str, *, register: bool) -> int:
        schema = Schema(self._text, schema_type="AVRO")
        try:
            if register:
                return int(self._registry.register_schema(subject, schema))
            return int(self._registry.lookup_schema(subject, schema).schema_id or 0)
        except SchemaRegistryError as exc:
            raise self._refused(subject, exc) from exc
        except Exception as exc:  # connection, timeout, TLS
            raise RegistryUnavailable(f"{self.schema_name} under {subject}: {type(exc).__name__}: {exc}") from exc

    def _refused(self, subject: str, exc: SchemaRegistryError) -> RuntimeFailure:
        """The registry's answer to registering or looking up `subject`, as the error a person acts on."""
        where = f"{self.schema_name} (as in {self._path}) under subject {subject} at {registry_url(self._registry)}"
        status, message = exc.http_status_code, exc.error_message
        if status == 404:
            return RegistryMismatch(f"{where} is not registered: run `cesce-worker schemas register` first")
        if status == 409:
            return SetupError(
                f"{where} is refused as incompatible with the subject's versions ({message}):"
                " `cesce-worker schemas check` names the incompatibility"
            )
        if status in (401, 403):
            return SetupError(
                f"{where} may not be registered (HTTP {status}: {message}): set SCHEMA_REGISTRY_AUTO_REGISTER=false"
                " and register with `cesce-worker schemas register`"
            )
        if 400 <= status < 500:
            return RegistryMismatch(f"{where} is refused (HTTP {status}: {message})")
        return RegistryUnavailable(f"{where}: {exc}")

    def encode(self, value: Mapping[str, Any], topic: str) -> bytes:
        """Magic byte 0, the schema id (4 bytes, big-endian), the Avro body; EncodeError if the schema refuses it."""
        try:
            record = coerce(value, self._schema, extra="reject")
        except FieldError as exc:
            raise EncodeError(f"{self.schema_name}.{exc.field}: {exc.reason}", field=exc.field) from None
        self.prepare(topic)
        try:
            data = self._serializer(record, SerializationContext(topic, MessageField.VALUE))
        except SchemaRegistryError as exc:
            raise RegistryUnavailable(f"{self.schema_name}: {exc}") from exc
        except (SerializationError, ValueError, TypeError) as exc:
            raise EncodeError(f"{self.schema_name}: {exc}") from exc
        if data is None:  # only for a None value, which the signature excludes
            raise EncodeError(f"{self.schema_name}: nothing to encode")
        return bytes(data)

    def decode(self, data: bytes | None, topic: str) -> dict[str, Any]:
        """The record, read as this codec's schema (Avro schema resolution from the writer's).

        None (a tombstone) is DeserializationError(``empty``), so the method fits the engine's decoder slot.
        """
        if data is None:
            raise DeserializationError(ErrorCode.EMPTY, "no value (a tombstone)")
        schema_id = wire_schema_id(data)
        _writer_schema(self._registry, schema_id)  # tells an unknown id and an unreachable registry apart
        value = _deserialize(self._deserializer, data, topic, schema_id, self.schema_name)
        if not isinstance(value, dict):
            raise DeserializationError(ErrorCode.WRONG_SCHEMA, f"schema id {schema_id} is not a record")
        return value


class Tombstone:
    """A record without a value: its key was deleted (a compacted topic's deletion, Debezium's record after a
    delete). A type of its own, so that no decoded value can be mistaken for one; `TOMBSTONE` is the one instance."""

    _instance: Tombstone | None = None

    def __new__(cls) -> Tombstone:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TOMBSTONE"


TOMBSTONE: Final = Tombstone()
"""What `state_decoder` makes of a tombstone: the key was deleted from its compacted topic."""


def state_decoder(registry: SchemaRegistryClient, schema_name: str) -> Callable[[bytes | None, str], Any]:
    """A decoder for a compacted state topic: each record read as `schema_name`, a tombstone as `TOMBSTONE`."""
    codec = AvroCodec(registry, schema_name)
    return lambda value, topic: TOMBSTONE if value is None else codec.decode(value, topic)
