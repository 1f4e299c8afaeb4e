"""Exact JSON and Debezium coercions: JSON without losing a cent, values into what an Avro schema describes.

JSON is parsed with ``parse_float=Decimal`` (a float never exists, so 0.1 + 0.2 stays exact) and
NaN/Infinity are refused. `coerce` turns JSON-ish values into the Python values an Avro schema
describes (ISO dates or Debezium's days since the epoch -> `date`; decimal strings, exact JSON
numbers or Debezium's unscaled bytes -> `Decimal`), exactly or not at all: a value that would lose
a digit raises `FieldError` naming its field. A message quotes the offending value only as far as
`shown` lets it: input can be a megabyte long, and messages become dead-letter headers and log
lines. Pure; `workers.runtime.serde` uses it on both sides of Avro.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, Literal
from uuid import UUID

from workers.runtime.errors import DeserializationError, FieldError

__all__ = ["ErrorCode", "coerce", "dumps_exact", "loads_exact", "shown"]

_EPOCH_DATE: Final = date(1970, 1, 1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL_TEXT: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONNECT_DECIMAL: Final = "org.apache.kafka.connect.data.Decimal"
_INT_RANGE: Final = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_SHOWN_CHARACTERS: Final = 40

_Extra = Literal["ignore", "reject"]
_Connect = Mapping[str, Any] | None  # a Kafka Connect schema node, when the JSON carried one


class ErrorCode(StrEnum):
    """Why bytes could not be decoded (``DeserializationError.code``, the DLQ's error-code header)."""

    EMPTY = "empty"
    """No bytes at all (a tombstone, or an empty value)."""
    TRUNCATED = "truncated"
    """Too short for the wire format: the magic byte and the 4-byte schema id, then a body."""
    BAD_MAGIC = "bad-magic"
    """Avro was required and the first byte is not 0 (not the Confluent wire format)."""
    UNKNOWN_SCHEMA_ID = "unknown-schema-id"
    """The registry has no schema with the record's id (written against another registry)."""
    WRONG_SCHEMA = "wrong-schema"
    """The writer's schema cannot be read as the expected record (another record, incompatible)."""
    BAD_AVRO = "bad-avro"
    """The body does not decode with its writer's schema (corrupt or truncated)."""
    NOT_JSON = "not-json"
    """Neither Avro nor JSON text (or JSON with NaN/Infinity, which has no exact value)."""
    NOT_AN_ENVELOPE = "not-an-envelope"
    """Decodes, but is not a change record (no ``op``, not an object)."""
    BAD_FIELD = "bad-field"
    """A field is missing, of the wrong type, or not exactly representable (the reason names it)."""


def shown(value: Any, limit: int = _SHOWN_CHARACTERS) -> str:
    """`value` as an error message may quote it: its repr (a number as written) when short, else its first
    `limit` characters and its length, so a megabyte of input never becomes a megabyte of error text."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        try:
            text = str(value)
        except ValueError:  # an int beyond sys.get_int_max_str_digits()
            return f"an integer of {int(value).bit_length()} bits"
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} {'characters' if isinstance(value, str) else 'bytes'})"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


# --- JSON, exactly ---------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


_EXACT: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constants)
"""Built once: ``json.loads`` with options builds a decoder per call (half of a small document's 6 us)."""


def loads_exact(text: bytes | str) -> Any:
    """JSON with every non-integer number as `Decimal`; raises DeserializationError(``not-json``)."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        if decoded.startswith("\ufeff"):  # json.loads's own check, which the decoder lacks
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        return _EXACT.decode(decoded)
    except UnicodeDecodeError as exc:
        raise DeserializationError(ErrorCode.NOT_JSON, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise DeserializationError(ErrorCode.NOT_JSON, f"not JSON: {exc}") from None


def dumps_exact(value: Any, *, decimal_as: Literal["number", "string"] = "number") -> str:
    """One-line JSON for plain values plus Decimal (exact), date/datetime/time (ISO), bytes (base64), UUID.

    ``decimal_as="string"`` writes ``"1234.50"`` for readers that would parse numbers as floats.
    """
    parts: list[str] = []
    _dump(value, parts, decimal_as)
    return "".join(parts)


def _dump(value: Any, out: list[str], decimal_as: str) -> None:  # noqa: PLR0912 - one branch per JSON type
    if value is None or isinstance(value, bool | int | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        text = format(value, "f")
        out.append(json.dumps(text) if decimal_as == "string" else text)
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, datetime | date | time):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, bytes | bytearray):
        out.append(json.dumps(base64.b64encode(value).decode("ascii")))
    elif isinstance(value, UUID):
        out.append(json.dumps(str(value)))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _dump(item, out, decimal_as)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _dump(item, out, decimal_as)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} has no JSON form")


# --- coerce: JSON-ish values -> what an Avro schema describes ----------------------------------------


def coerce(
    value: Any,
    schema: Any,
    *,
    path: str = "",
    extra: _Extra = "ignore",
    connect: Mapping[str, Any] | None = None,
) -> Any:
    """`value` as the Python value Avro `schema` (expanded: named types inlined) describes, or FieldError.

    Records: a missing field takes its default, or None when nullable, else it is an error; unknown
    fields are ignored (CDC rows grow columns) or, with ``extra="reject"``, refused (typos in code).
    `connect` is the Kafka Connect schema of the same node, when a JSON record carried one: it is
    what tells a Debezium base64 decimal from a string.

    Without `connect`, `schema` is compiled once (`_compiled`) into one function per node, with the fields' paths
    and the dispatch on the node's type decided then: the same results and errors as walking the schema for every
    value (`_coerce`), at about a third of the cost. A schema is not changed after its first use.
    """
    if connect is None:
        return _compiled(schema, path, extra)(value)
    return _coerce(value, schema, path, extra, connect)


def _coerce(value: Any, schema: Any, path: str, extra: _Extra, connect: _Connect) -> Any:
    """`coerce` walking `schema` for this value (with a Connect schema, whose hints vary per value)."""
    if isinstance(schema, list):
        return _union(value, schema, path, extra, connect)
    if isinstance(schema, str):
        return _primitive(value, schema, path)
    if not isinstance(schema, Mapping):
        raise FieldError(path, f"unsupported schema node {schema!r}")
    kind = schema.get("type")
    convert = _LOGICAL.get((schema.get("logicalType"), kind)) or _COMPLEX.get(kind)  # type: ignore[arg-type]
    if convert is not None:
        return convert(value, schema, path, extra, connect)
    if isinstance(kind, str):  # a primitive written as {"type": "string", ...}, or an unknown logical type
        return _primitive(value, kind, path)
    return _coerce(value, kind, path, extra, connect)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    return type(value).__name__


def _nullable(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, list) and "null" in schema)


def _record(value: Any, schema: Mapping[str, Any], path: str, extra: _Extra, connect: _Connect) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(path, f"expected an object ({schema['name']}), got {_kind(value)}")
    fields = schema["fields"]
    if extra == "reject":
        names = {f["name"] for f in fields}  # once: built inside the test it was rebuilt for every key
        unknown = sorted(str(k) for k in value if k not in names)
        if unknown:
            raise FieldError(_join(path, unknown[0]), f"not a field of {schema['name']}")
    hints = _connect_fields(connect)
    result: dict[str, Any] = {}
    for field in fields:
        name, field_path = field["name"], _join(path, field["name"])
        if name in value:
            result[name] = _coerce(value[name], field["type"], field_path, extra, hints.get(name))
        elif "default" in field:
            result[name] = _coerce(field["default"], field["type"], field_path, extra, None)
        elif _nullable(field["type"]):
            result[name] = None
        else:
            raise FieldError(field_path, "missing (required)")
    return result


def _connect_fields(connect: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    fields = connect.get("fields") if isinstance(connect, Mapping) else None
    if not isinstance(fields, list):
        return {}
    return {f["field"]: f for f in fields if isinstance(f, Mapping) and isinstance(f.get("field"), str)}


def _union(value: Any, branches: list[Any], path: str, extra: _Extra, connect: Mapping[str, Any] | None) -> Any:
    if value is None:
        if "null" in branches:
            return None
        raise FieldError(path, "missing (null where a value is required)")
    candidates = [b for b in branches if b != "null"]
    if len(candidates) == 1:  # the common optional field: its own error is the clearest
        return _coerce(value, candidates[0], path, extra, connect)
    for branch in candidates:
        try:
            return _coerce(value, branch, path, extra, connect)
        except FieldError:
            continue
    raise FieldError(path, f"{_kind(value)} matches none of the union's types")


def _primitive(value: Any, kind: str, path: str) -> Any:
    if kind == "null":
        if value is not None:
            raise FieldError(path, f"expected null, got {_kind(value)}")
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            raise FieldError(path, f"expected true or false, got {_kind(value)}")
        return value
    if kind in _INT_RANGE:
        if not isinstance(value, int) or isinstance(value, bool):
            raise FieldError(path, f"expected an integer, got {_kind(value)}")
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            raise FieldError(path, f"{shown(value)} does not fit an Avro {kind}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise FieldError(path, f"expected a number, got {_kind(value)}")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise FieldError(path, f"expected a string, got {_kind(value)}")
        return value
    if kind == "bytes":
        return _bytes(value, path)
    raise FieldError(path, f"unsupported Avro type {kind!r}")


def _bytes(value: Any, path: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # JSON carries bytes as base64 (Debezium, Kafka Connect)
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise FieldError(path, f"{_kind(value)} is not base64") from None
    raise FieldError(path, f"expected bytes (base64 in JSON), got {_kind(value)}")


def _unscaled(raw: bytes, scale: int) -> Decimal:
    """Avro/Connect decimal bytes: a big-endian two's-complement unscaled integer."""
    return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale)


def _decimal(value: Any, schema: Mapping[str, Any], path: str, connect: Mapping[str, Any] | None) -> Decimal:
    scale, precision = int(schema.get("scale", 0)), int(schema["precision"])
    if isinstance(value, bool | float):
        raise FieldError(path, f"{_kind(value)} is a float, which cannot hold cents exactly; send a string")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str) and isinstance(connect, Mapping) and connect.get("name") == _CONNECT_DECIMAL:
        params = connect.get("parameters")
        connect_scale = params.get("scale") if isinstance(params, Mapping) else None
        if not isinstance(connect_scale, str | int) or not str(connect_scale).isdigit():
            raise FieldError(path, "the Connect schema gives no scale for this decimal")
        number = _unscaled(_bytes(value, path), int(connect_scale))
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise FieldError(path, f"{_kind(value)} is not a decimal number")
        number = Decimal(value)
    elif isinstance(value, bytes | bytearray):  # Avro decimal bytes read without the logical type
        number = _unscaled(bytes(value), scale)
    elif isinstance(value, Mapping) and set(value) == {"scale", "value"}:  # Debezium VariableScaleDecimal
        own_scale = value["scale"]
        if not isinstance(own_scale, int) or isinstance(own_scale, bool):
            raise FieldError(path, "a variable-scale decimal needs an integer scale")
        number = _unscaled(_bytes(value["value"], path), own_scale)
    else:
        raise FieldError(path, f"expected a decimal (string or exact number), got {_kind(value)}")
    return _exact(number, scale, precision, path)


def _exact(number: Decimal, scale: int, precision: int, path: str) -> Decimal:
    """`number` at exactly `scale` places, or FieldError if that would drop a non-zero digit."""
    if not number.is_finite():
        raise FieldError(path, f"{shown(number)} is not a finite decimal")
    sign, digits, exponent = number.as_tuple()
    if exponent == -scale and len(digits) <= precision and (not sign or digits != (0,)):
        return number  # already at `scale` places (a coefficient has no leading zeros): the common case, at once
    if not isinstance(exponent, int):  # pragma: no cover - only NaN/Infinity have a letter here
        raise FieldError(path, f"{shown(number)} is not a finite decimal")
    # string arithmetic: an exponent like 1E-999999999 must not become a 10**999999999 division
    text = "".join(map(str, digits)).lstrip("0")
    shift = exponent + scale
    if not text:
        unscaled = 0
    elif shift >= 0:
        if len(text) + shift > precision:
            raise FieldError(path, f"{shown(number)} has more than {precision} digits")
        unscaled = int(text + "0" * shift)
    else:
        kept, dropped = text[:shift], text[shift:]
        if len(text) < -shift or dropped.strip("0"):
            raise FieldError(path, f"{shown(number)} has more than {scale} decimal places")
        unscaled = int(kept or "0")
    if len(str(unscaled)) > precision:
        raise FieldError(path, f"{shown(number)} has more than {precision} digits")
    try:
        return Decimal((sign if unscaled else 0, tuple(int(d) for d in str(unscaled)), -scale))  # no -0.00
    except InvalidOperation:  # pragma: no cover - the tuple is always well formed
        raise FieldError(path, f"{shown(number)} is not a decimal") from None


def _date(value: Any, path: str) -> date:
    if isinstance(value, datetime):
        raise FieldError(path, "expected a date, got a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # Debezium io.debezium.time.Date, Connect Date
        try:
            return _EPOCH_DATE + timedelta(days=value)
        except OverflowError:
            raise FieldError(path, f"{shown(value)} days since 1970-01-01 is out of range") from None
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FieldError(path, f"{value!r} is not a calendar date") from None
    raise FieldError(path, f"expected a date (YYYY-MM-DD or days since 1970-01-01), got {_kind(value)}")


def _timestamp(value: Any, path: str, per_second: int) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return _EPOCH + timedelta(microseconds=value * (1_000_000 // per_second))
        except OverflowError:
            raise FieldError(path, f"{shown(value)} is out of range for a timestamp") from None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(path, f"{shown(value)} is not an ISO-8601 timestamp") from None
    else:
        raise FieldError(path, f"expected a timestamp (ISO-8601 with offset, or epoch units), got {_kind(value)}")
    if moment.tzinfo is None:
        raise FieldError(path, "a timestamp needs a UTC offset")
    return moment


def _enum(value: Any, schema: Mapping[str, Any], path: str, extra: _Extra, connect: _Connect) -> str:
    if not isinstance(value, str) or value not in schema["symbols"]:
        raise FieldError(path, f"{_kind(value)} is not one of {', '.join(schema['symbols'])}")
    return value


def _array(value: Any, schema: Mapping[str, Any], path: str, extra: _Extra, connect: _Connect) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FieldError(path, f"expected an array, got {_kind(value)}")
    return [_coerce(item, schema["items"], f"{path}[{i}]", extra, None) for i, item in enumerate(value)]


def _map(value: Any, schema: Mapping[str, Any], path: str, extra: _Extra, connect: _Connect) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise FieldError(path, f"expected an object with string keys, got {_kind(value)}")
    return {k: _coerce(v, schema["values"], _join(path, k), extra, None) for k, v in value.items()}


def _fixed(value: Any, schema: Mapping[str, Any], path: str, extra: _Extra, connect: _Connect) -> bytes:
    raw = _bytes(value, path)
    if len(raw) != schema["size"]:
        raise FieldError(path, f"expected {schema['size']} bytes, got {len(raw)}")
    return raw


_Converter = Callable[[Any, Mapping[str, Any], str, _Extra, _Connect], Any]
_COMPLEX: Final[dict[str, _Converter]] = {
    "record": _record,
    "enum": _enum,
    "array": _array,
    "map": _map,
    "fixed": _fixed,
}
_LOGICAL: Final[dict[tuple[str, str], _Converter]] = {
    ("decimal", "bytes"): lambda value, schema, path, _extra, connect: _decimal(value, schema, path, connect),
    ("decimal", "fixed"): lambda value, schema, path, _extra, connect: _decimal(value, schema, path, connect),
    ("date", "int"): lambda value, _schema, path, _extra, _connect: _date(value, path),
    ("timestamp-millis", "long"): lambda value, _schema, path, _extra, _connect: _timestamp(value, path, 1000),
    ("timestamp-micros", "long"): lambda value, _schema, path, _extra, _connect: _timestamp(value, path, 1_000_000),
}


# --- compiled coercions: the same walk, decided once per schema node ------------------------------------------

_Compiled = Callable[[Any], Any]
_COMPILED: Final[dict[tuple[int, str, str], tuple[Any, _Compiled]]] = {}
"""Compiled coercions by (id of the schema, path, extra); each entry holds its schema, so the id stays its own."""


def _compiled(schema: Any, path: str, extra: _Extra) -> _Compiled:
    key = (id(schema), path, extra)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = (schema, _compile(schema, path, extra))
    return found[1]


def _compile(schema: Any, path: str, extra: _Extra) -> _Compiled:
    """`_coerce` of `schema` at `path`, as a function of the value alone (without a Connect schema)."""
    if isinstance(schema, list):
        return _compile_union(schema, path, extra)
    if isinstance(schema, str):
        return _compile_primitive(schema, path)
    if not isinstance(schema, Mapping):
        return lambda value: _coerce(value, schema, path, extra, None)
    kind = schema.get("type")
    logical = _LOGICAL.get((schema.get("logicalType"), kind))  # type: ignore[arg-type]
    if logical is not None:
        return lambda value: logical(value, schema, path, extra, None)
    if kind == "record":
        return _compile_record(schema, path, extra)
    convert = _COMPLEX.get(kind)  # type: ignore[arg-type]
    if convert is not None:  # enum, array, map, fixed: their items' paths vary with the value
        return lambda value: convert(value, schema, path, extra, None)
    if isinstance(kind, str):
        return _compile_primitive(kind, path)
    return _compile(kind, path, extra)


def _compile_primitive(kind: str, path: str) -> _Compiled:
    if kind == "string":

        def string(value: Any) -> Any:
            if not isinstance(value, str):
                raise FieldError(path, f"expected a string, got {_kind(value)}")
            return value

        return string
    return lambda value: _primitive(value, kind, path)


def _compile_union(branches: list[Any], path: str, extra: _Extra) -> _Compiled:
    nullable = "null" in branches
    candidates = [_compile(b, path, extra) for b in branches if b != "null"]

    def union(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise FieldError(path, "missing (null where a value is required)")
        if len(candidates) == 1:  # the common optional field: its own error is the clearest
            return candidates[0](value)
        for candidate in candidates:
            try:
                return candidate(value)
            except FieldError:
                continue
        raise FieldError(path, f"{_kind(value)} matches none of the union's types")

    return union


_REQUIRED, _DEFAULT, _NULLABLE = range(3)


def _compile_record(schema: Mapping[str, Any], path: str, extra: _Extra) -> _Compiled:
    name = schema["name"]
    fields = [
        (
            field["name"],
            _join(path, field["name"]),
            _compile(field["type"], _join(path, field["name"]), extra),
            _DEFAULT if "default" in field else _NULLABLE if _nullable(field["type"]) else _REQUIRED,
            field,
        )
        for field in schema["fields"]
    ]
    names = frozenset(field["name"] for field in schema["fields"])

    def record(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise FieldError(path, f"expected an object ({name}), got {_kind(value)}")
        if extra == "reject":
            unknown = sorted(str(k) for k in value if k not in names)
            if unknown:
                raise FieldError(_join(path, unknown[0]), f"not a field of {name}")
        result: dict[str, Any] = {}
        for field_name, field_path, convert, absent, field in fields:
            if field_name in value:
                result[field_name] = convert(value[field_name])
            elif absent == _DEFAULT:  # coerced afresh each time: a default [] or {} is never shared
                result[field_name] = _coerce(field["default"], field["type"], field_path, extra, None)
            elif absent == _NULLABLE:
                result[field_name] = None
            else:
                raise FieldError(field_path, "missing (required)")
        return result

    return record
