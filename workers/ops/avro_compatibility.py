"""Avro schema resolution as a compatibility check: can a reader schema read what a writer schema wrote?

The embedded Schema Registry (`workers.ops.registry_server`) decides with this whether a new
version of a subject is BACKWARD (the new schema reads the old), FORWARD (the old reads the new)
or FULL (both) compatible. The rules are the Avro specification's "Schema Resolution", checked the
way Java's ``org.apache.avro.SchemaCompatibility`` (what the real registry runs) checks them:

- records match by name (the reader's short name, or a reader alias naming the writer's full
  name), fields by name or reader field alias; a reader field the writer lacks needs a default;
- int is promoted to long, float and double; long to float and double; float to double; string
  and bytes read each other;
- an enum reader must know every writer symbol, unless it has a default symbol;
- fixed types match by name and size; arrays by items, maps by values;
- a writer union is readable if each of its branches is; a reader union reads a writer that one
  of its branches reads.

Logical types are ignored (``decimal`` is its ``bytes``), as in Java. Each problem found is an
`Incompatibility` with the kind names Java uses (``READER_FIELD_MISSING_DEFAULT_VALUE``, ...), so
the registry's messages read like the real one's.

Why our own module: the one maintained implementation on PyPI is Apache ``avro``'s
``avro.compatibility``; it would bring a second Avro parser into the product beside fastavro
for this one check, whose rules fit on this page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastavro import parse_schema

__all__ = ["AvroSchema", "Incompatibility", "InvalidSchema", "incompatibilities"]

_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS: Final[Mapping[str, frozenset[str]]] = {
    "long": frozenset({"int"}),
    "float": frozenset({"int", "long"}),
    "double": frozenset({"int", "long", "float"}),
    "bytes": frozenset({"string"}),
    "string": frozenset({"bytes"}),
}


class InvalidSchema(ValueError):
    """The text is not an Avro schema (not JSON, an unknown type, a default of the wrong type...)."""


@dataclass(frozen=True)
class AvroSchema:
    """A parsed Avro schema: fastavro's form (named types by full name) and the named types it defines."""

    parsed: Any
    names: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> AvroSchema:
        try:
            declared = json.loads(text)
        except ValueError as exc:
            raise InvalidSchema(f"not JSON: {exc}") from None
        names: dict[str, Any] = {}
        try:
            parsed = parse_schema(declared, named_schemas=names)
        except Exception as exc:  # fastavro raises SchemaParseException, UnknownType, ValueError, TypeError...
            raise InvalidSchema(f"{type(exc).__name__}: {exc}") from None
        return cls(parsed, names)


@dataclass(frozen=True)
class Incompatibility:
    """One reason the reader cannot read the writer's data.

    `kind` is Java's ``SchemaIncompatibilityType``; `path` points into the reader schema
    (``/fields/1/type``); `info` names what is missing or mismatched.
    """

    kind: str
    path: str
    info: str


def incompatibilities(reader: AvroSchema, writer: AvroSchema) -> list[Incompatibility]:
    """Every reason `reader` cannot read data written with `writer`; empty when it can."""
    return _Checker(reader.names, writer.names).check(reader.parsed, writer.parsed, "")


@dataclass
class _Checker:
    reader_names: Mapping[str, Any]
    writer_names: Mapping[str, Any]
    # named pairs being checked: a recursive schema meets them again, and is compatible there if it is at all
    in_progress: set[tuple[str, str]] = field(default_factory=set)

    def check(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        reader = _definition(reader, self.reader_names)
        writer = _definition(writer, self.writer_names)
        reader_type, writer_type = _type_of(reader), _type_of(writer)
        if writer_type == "union":
            if reader_type == "union":
                return [found for branch in writer for found in self._reader_union(reader, branch, path)]
            return [found for branch in writer for found in self.check(reader, branch, path)]
        if reader_type == "union":
            return self._reader_union(reader, writer, path)
        if reader_type != writer_type:
            promoted = writer_type in _PROMOTIONS.get(reader_type, frozenset())
            return [] if promoted else [_mismatch(reader_type, writer_type, path)]
        if reader_type in _PRIMITIVES:
            return []
        if reader_type == "array":
            return self.check(reader["items"], writer["items"], f"{path}/items")
        if reader_type == "map":
            return self.check(reader["values"], writer["values"], f"{path}/values")
        return self._named(reader, writer, reader_type, path)

    def _reader_union(self, reader: list[Any], writer: Any, path: str) -> list[Incompatibility]:
        if any(not self.check(branch, writer, path) for branch in reader):
            return []
        info = f"reader union lacking writer type: {_type_of(_definition(writer, self.writer_names)).upper()}"
        return [Incompatibility("MISSING_UNION_BRANCH", path, info)]

    def _named(self, reader: Any, writer: Any, kind: str, path: str) -> list[Incompatibility]:
        if not _same_name(reader, writer):
            return [Incompatibility("NAME_MISMATCH", f"{path}/name", f"expected: {writer['name']}")]
        pair = (reader["name"], writer["name"])
        if pair in self.in_progress:
            return []
        self.in_progress.add(pair)
        try:
            if kind == "fixed":
                if reader["size"] == writer["size"]:
                    return []
                info = f"expected: {writer['size']}, found: {reader['size']}"
                return [Incompatibility("FIXED_SIZE_MISMATCH", f"{path}/size", info)]
            if kind == "enum":
                missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
                if not missing or "default" in reader:
                    return []
                return [Incompatibility("MISSING_ENUM_SYMBOLS", f"{path}/symbols", f"[{', '.join(missing)}]")]
            return self._fields(reader, writer, path)
        finally:
            self.in_progress.discard(pair)

    def _fields(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        written = {f["name"]: f for f in writer["fields"]}
        found: list[Incompatibility] = []
        for position, reader_field in enumerate(reader["fields"]):
            names = [reader_field["name"], *reader_field.get("aliases", ())]
            writer_field = next((written[name] for name in names if name in written), None)
            if writer_field is not None:
                found += self.check(reader_field["type"], writer_field["type"], f"{path}/fields/{position}/type")
            elif "default" not in reader_field:
                where = f"{path}/fields/{position}"
                found.append(Incompatibility("READER_FIELD_MISSING_DEFAULT_VALUE", where, reader_field["name"]))
        return found


def _definition(schema: Any, names: Mapping[str, Any]) -> Any:
    """A named type's definition for a reference to it; a primitive's name for ``{"type": "int", ...}``."""
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else names[schema]
    if isinstance(schema, dict) and schema["type"] in _PRIMITIVES:
        return schema["type"]  # a logical type reads as its underlying type
    return schema


def _type_of(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def _mismatch(reader_type: str, writer_type: str, path: str) -> Incompatibility:
    return Incompatibility(
        "TYPE_MISMATCH",
        path,
        f"reader type: {reader_type.upper()} not compatible with writer type: {writer_type.upper()}",
    )


def _same_name(reader: Any, writer: Any) -> bool:
    """Java's ``schemaNameEquals``: the same short name, or a reader alias that names the writer."""
    reader_name, writer_name = str(reader["name"]), str(writer["name"])
    if reader_name.rsplit(".", 1)[-1] == writer_name.rsplit(".", 1)[-1]:
        return True
    namespace = reader_name.rpartition(".")[0]
    aliases = reader.get("aliases", ())
    return writer_name in {alias if "." in alias or not namespace else f"{namespace}.{alias}" for alias in aliases}
