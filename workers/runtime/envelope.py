"""ERP change records as Debezium emits them, Avro or JSON, into one `Envelope` (or a `Skip`).

ERP CDC pipelines emit Avro or JSON, and JSON with or without Kafka Connect's
``{"schema": ..., "payload": ...}`` wrapper, so `EnvelopeDecoder` accepts all three: a first byte 0
is the Confluent wire format (read with the writer's schema, whatever the pipeline registered);
anything else must be JSON. Either way the rows are then checked and converted against *our* row
schema from the catalog, the contract the workers are written against: dates become `date`
(ISO ``YYYY-MM-DD`` or Debezium's days since the epoch), amounts become `Decimal` at the schema's
scale (decimal strings, exact JSON numbers, or Debezium's base64 unscaled bytes when the Connect
schema gives the scale), and a field that is missing, mistyped or would lose a cent is an error
that names it. Columns the row schema does not know are ignored: ERP tables grow.

The shapes, all of which reach the worker as an `Envelope` or, when there is nothing to do, a `Skip`:

- **The full envelope** (``before``, ``after``, ``op``, ``ts_ms``, ``source``). ``c``, ``r`` and ``u``
  carry an ``after``. ``t`` (a truncate) and ``m`` (a logical decoding message) are skipped.
- **A tombstone** (no value: Debezium writes one after every delete so that log compaction can drop
  the key) is skipped; the ``d`` record before it carried the delete.
- **A row unwrapped by** ``ExtractNewRecordState``: the row's columns at the top level, with whatever
  ``add.fields`` added (``__op``, ``__table``, ``__lsn``, ``__source_ts_ms``, ...) and ``__deleted``
  (``delete.handling.mode=rewrite``: a delete arrives as the deleted row with ``__deleted: "true"``).
  ``__op`` is the operation; without it a row is read as ``r``, "the row now reads like this".
  ``__source_<name>`` and the source fields Debezium adds under their own name (``__lsn``, ``__table``,
  ...) land in `Envelope.source`, ``__ts_ms`` in `Envelope.ts_ms`.
- **A partial before-image**: PostgreSQL's default REPLICA IDENTITY sends no ``before`` for an update
  and only the primary key for a delete. A before-image that lacks a field the row schema requires
  (absent or null) is left out (``before`` is None): the worker answers from what it last sent to
  Cesce. A before-image that is complete but wrong (a mistyped value, a lost cent) is an error.

What each operation means is the worker's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from confluent_kafka.schema_registry import SchemaRegistryClient

from workers.runtime.catalog import SchemaCatalog
from workers.runtime.coercions import shown
from workers.runtime.contract import Skip
from workers.runtime.serde import (
    MAGIC_BYTE,
    AvroReader,
    DeserializationError,
    ErrorCode,
    FieldError,
    coerce,
    loads_exact,
)

__all__ = ["OPS", "TOMBSTONE_SKIP", "Envelope", "EnvelopeDecoder", "Op", "envelope_from", "unwrap_connect"]

Op = Literal["c", "u", "d", "r"]
OPS: Final[tuple[Op, ...]] = ("c", "u", "d", "r")
"""create, update, delete, read (a snapshot row)."""

_NEEDS_AFTER: Final = frozenset({"c", "r", "u"})
_SKIPPED: Final[dict[str, Skip]] = {"t": Skip("truncate"), "m": Skip("message")}
TOMBSTONE_SKIP: Final = Skip("tombstone")
_ADDED: Final = "__"  # ExtractNewRecordState's prefix for the fields it adds
_DELETED: Final = "__deleted"
# fields of ``source`` that ExtractNewRecordState's add.fields names without the ``source.`` prefix
_SOURCE_FIELDS: Final = frozenset({"lsn", "table", "db", "schema", "txId", "file", "pos", "row", "gtid", "scn"})


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


def _kind(raw: Any) -> str:
    return "null" if raw is None else type(raw).__name__


def _is_required(field: Mapping[str, Any]) -> bool:
    kind = field["type"]
    nullable = kind == "null" or (isinstance(kind, list) and "null" in kind)
    return not nullable and "default" not in field


def _complete(image: Mapping[str, Any], row_schema: Mapping[str, Any]) -> bool:
    """Whether `image` holds every field the row schema requires (PostgreSQL's default before-image does not)."""
    return all(image.get(field["name"]) is not None for field in row_schema["fields"] if _is_required(field))


def _row(
    value: Any, row_schema: Mapping[str, Any], image: str, connect: Mapping[str, Any] | None, *, partial_ok: bool
) -> dict[str, Any] | None:
    if value is None:
        return None
    if partial_ok and isinstance(value, Mapping) and not _complete(value, row_schema):
        return None
    try:
        row: dict[str, Any] = coerce(value, row_schema, path=image, connect=connect)
    except FieldError as exc:
        raise _bad(exc.field, exc.reason) from None
    return row


def _ts_ms(value: Any, field: str = "ts_ms") -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise _bad(field, f"expected milliseconds since the epoch, got {shown(value)}")
    return value


def envelope_from(
    raw: Any, row_schema: Mapping[str, Any], *, connect: Mapping[str, Any] | None = None
) -> Envelope | Skip:
    """The change in `raw` (a decoded JSON or Avro value), rows converted per `row_schema` (expanded).

    `connect` is the Kafka Connect schema of the value, when the JSON carried one.
    """
    if not isinstance(raw, Mapping):
        raise DeserializationError(
            ErrorCode.NOT_AN_ENVELOPE, f"expected an object with op, before, after; got {_kind(raw)}"
        )
    if "before" not in raw and "after" not in raw and "op" not in raw:
        return _unwrapped(raw, row_schema, connect)
    if "op" not in raw:
        raise DeserializationError(ErrorCode.NOT_AN_ENVELOPE, "no 'op' field: not a change record")
    op = raw["op"]
    if isinstance(op, str) and op in _SKIPPED:
        return _SKIPPED[op]
    if op not in OPS:
        raise _bad("op", f"{shown(op)} is not one of {', '.join(OPS)}")
    before = _row(raw.get("before"), row_schema, "before", _connect_field(connect, "before"), partial_ok=op in "ud")
    after = _row(raw.get("after"), row_schema, "after", _connect_field(connect, "after"), partial_ok=False)
    if op in _NEEDS_AFTER and after is None:
        raise _bad("after", f"missing: op {shown(op)} must carry the row's after image")
    source = raw.get("source")
    if source is not None and not isinstance(source, Mapping):
        raise _bad("source", f"expected an object, got {type(source).__name__}")
    return Envelope(
        op=cast(Op, op),
        before=before,
        after=after,
        ts_ms=_ts_ms(raw.get("ts_ms")),
        source=dict(source) if source is not None else {},
    )


def _unwrapped(raw: Mapping[str, Any], row_schema: Mapping[str, Any], connect: Mapping[str, Any] | None) -> Envelope:
    """A row flattened by ExtractNewRecordState, its ``__`` fields read back into an envelope."""
    deleted = raw.get(_DELETED)
    if deleted not in (None, True, False, "true", "false"):
        raise _bad(_DELETED, f"expected true or false, got {shown(deleted)}")
    is_delete = deleted in (True, "true")
    op = raw.get("__op", "d" if is_delete else "r")
    if op not in OPS:
        raise _bad("__op", f"{shown(op)} is not one of {', '.join(OPS)}")
    if is_delete:
        op = "d"
    columns = {name: value for name, value in raw.items() if not name.startswith(_ADDED)}
    image = "before" if op == "d" else "after"
    row = _row(columns, row_schema, image, connect, partial_ok=op == "d")
    source: dict[str, Any] = {}
    for name, value in raw.items():
        if name.startswith("__source_"):
            source[name.removeprefix("__source_")] = value
        elif name.startswith(_ADDED) and name.removeprefix(_ADDED) in _SOURCE_FIELDS:
            source[name.removeprefix(_ADDED)] = value
    if "ts_ms" in source:
        _ts_ms(source["ts_ms"], "__source_ts_ms")
    return Envelope(
        op=cast(Op, op),
        before=row if op == "d" else None,
        after=None if op == "d" else row,
        ts_ms=_ts_ms(raw.get("__ts_ms")),
        source=source,
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

    def decode(self, data: bytes | None, topic: str) -> Envelope | Skip:
        """Raises DeserializationError (permanent) or RegistryUnavailable (transient: retry).

        None or no bytes (a tombstone, which log compaction leaves after a delete) is a `Skip`.
        """
        if not data:
            return TOMBSTONE_SKIP
        if data[0] == MAGIC_BYTE:
            return envelope_from(self._avro.decode(data, topic).value, self._row)
        payload, connect = unwrap_connect(loads_exact(data))
        return envelope_from(payload, self._row, connect=connect)
