"""ERP change records: Debezium-style envelopes (``before``, ``after``, ``op``, ``ts_ms``, ``source``).

ERP CDC pipelines emit them as Avro or as JSON, and JSON with or without Kafka Connect's
``{"schema": ..., "payload": ...}`` wrapper, so `EnvelopeDecoder` accepts all three: a first byte 0
is the Confluent wire format (read with the writer's schema, whatever the pipeline registered);
anything else must be JSON. Either way the rows are then checked and converted against *our* row
schema from the catalog, the contract the workers are written against: dates become `date`
(ISO ``YYYY-MM-DD`` or Debezium's days since the epoch), amounts become `Decimal` at the schema's
scale (decimal strings, exact JSON numbers, or Debezium's base64 unscaled bytes when the Connect
schema gives the scale), and a field that is missing, mistyped or would lose a cent is an error
that names it. Columns the row schema does not know are ignored: ERP tables grow.

Which image an operation must carry: ``c``, ``r`` and ``u`` an ``after``; ``d`` a ``before``. A
pipeline that emits partial before-images (PostgreSQL without REPLICA IDENTITY FULL) needs a row
schema whose non-key fields are optional. What each operation means is the worker's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from confluent_kafka.schema_registry import SchemaRegistryClient

from workers.runtime.catalog import SchemaCatalog
from workers.runtime.coercions import shown
from workers.runtime.serde import (
    MAGIC_BYTE,
    AvroReader,
    DeserializationError,
    ErrorCode,
    FieldError,
    coerce,
    loads_exact,
)

__all__ = ["OPS", "Envelope", "EnvelopeDecoder", "Op", "envelope_from", "unwrap_connect"]

Op = Literal["c", "u", "d", "r"]
OPS: Final[tuple[Op, ...]] = ("c", "u", "d", "r")
"""create, update, delete, read (a snapshot row)."""

_NEEDS: Final[dict[str, str]] = {"c": "after", "r": "after", "u": "after", "d": "before"}


@dataclass(frozen=True)
class Envelope:
    """One change of one ERP row; the rows hold the row schema's Python values (Decimal, date...)."""

    op: Op
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ts_ms: int | None
    source: dict[str, Any]


def unwrap_connect(document: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """(payload, Connect schema) of ``{"schema": ..., "payload": ...}``; (document, None) otherwise."""
    if isinstance(document, Mapping) and set(document) == {"schema", "payload"}:
        schema = document["schema"]
        return document["payload"], schema if isinstance(schema, Mapping) else None
    return document, None


def _connect_field(connect: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    fields = connect.get("fields") if connect is not None else None
    if isinstance(fields, list):
        for field in fields:
            if isinstance(field, Mapping) and field.get("field") == name:
                return field
    return None


def _bad(field: str, reason: str) -> DeserializationError:
    return DeserializationError(ErrorCode.BAD_FIELD, f"{field}: {reason}", field=field)


def envelope_from(raw: Any, row_schema: Mapping[str, Any], *, connect: Mapping[str, Any] | None = None) -> Envelope:
    """The envelope in `raw` (a decoded JSON or Avro value), rows converted per `row_schema` (expanded).

    `connect` is the Kafka Connect schema of the envelope, when the JSON carried one.
    """
    if not isinstance(raw, Mapping):
        kind = "null" if raw is None else type(raw).__name__
        raise DeserializationError(ErrorCode.NOT_AN_ENVELOPE, f"expected an object with op, before, after; got {kind}")
    if "op" not in raw:
        raise DeserializationError(ErrorCode.NOT_AN_ENVELOPE, "no 'op' field: not a change record")
    op = raw["op"]
    if op not in OPS:
        raise _bad("op", f"{shown(op)} is not one of {', '.join(OPS)}")
    rows: dict[str, dict[str, Any] | None] = {}
    for image in ("before", "after"):
        value = raw.get(image)
        if value is None:
            rows[image] = None
            continue
        try:
            rows[image] = coerce(value, row_schema, path=image, connect=_connect_field(connect, image))
        except FieldError as exc:
            raise _bad(exc.field, exc.reason) from None
    needed = _NEEDS[op]
    if rows[needed] is None:
        raise _bad(needed, f"missing: op {shown(op)} must carry the row's {needed} image")
    ts_ms = raw.get("ts_ms")
    if ts_ms is not None and (not isinstance(ts_ms, int) or isinstance(ts_ms, bool)):
        raise _bad("ts_ms", f"expected milliseconds since the epoch, got {shown(ts_ms)}")
    source = raw.get("source")
    if source is not None and not isinstance(source, Mapping):
        raise _bad("source", f"expected an object, got {type(source).__name__}")
    return Envelope(
        op=cast(Op, op),
        before=rows["before"],
        after=rows["after"],
        ts_ms=ts_ms,
        source=dict(source) if source is not None else {},
    )


class EnvelopeDecoder:
    """Bytes of a CDC record (Avro or JSON) -> `Envelope`, rows checked against `row_schema_name`."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        row_schema_name: str,
        *,
        catalog: SchemaCatalog | None = None,
    ) -> None:
        catalog = catalog if catalog is not None else SchemaCatalog.load()
        self.row_schema_name = row_schema_name
        self._row = catalog.by_name(row_schema_name)
        self._avro = AvroReader(registry)

    def decode(self, data: bytes | None, topic: str) -> Envelope:
        """Raises DeserializationError (permanent) or RegistryUnavailable (transient: retry).

        None or no bytes (a tombstone, which log compaction leaves after a delete) is ``empty``.
        """
        if not data:
            raise DeserializationError(ErrorCode.EMPTY, "no value to decode (a tombstone)")
        if data[0] == MAGIC_BYTE:
            return envelope_from(self._avro.decode(data, topic).value, self._row)
        payload, connect = unwrap_connect(loads_exact(data))
        return envelope_from(payload, self._row, connect=connect)
