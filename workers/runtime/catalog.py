"""The Avro schemas of the product, read from ``schemas/*.avsc`` (one record per file).

The files are the source of truth for every record the runtime writes and for the shape of every
ERP row it reads: codecs take their schema from here, never from "the latest version in the
registry", so what the code writes is what the code was tested with. Names are full Avro names
(``cesce.<...>``); one catalog may span several directories (the tests add ``tests/schemas``).

Each file must be self-contained: a record that another record embeds (an ERP row inside its CDC
envelope) is written out in full where it is used, as Debezium does, rather than referenced across
files, so that registering a file needs no schema references. A named type defined in several files
must be defined identically everywhere; loading fails otherwise, so the copies cannot drift apart.

The order of `names()` is the registration order of the mock registry (`workers.runtime.registry`):
directories in the order given, files sorted by name within each directory.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import fastavro
from fastavro.schema import SchemaParseException, expand_schema

from workers.runtime.errors import CatalogError

__all__ = ["DEFAULT_SCHEMAS_DIR", "SchemaCatalog"]

DEFAULT_SCHEMAS_DIR: Final = Path(__file__).parents[1] / "schemas"
"""``workers/schemas``: a link to ``schemas/`` at the repository root, copied into the wheel (package data),
so an editable install and an installed wheel (the container image) read the same files."""

_NAMED_TYPES: Final = frozenset({"record", "enum", "fixed"})


@dataclass(frozen=True)
class _Entry:
    name: str
    path: Path
    declared: dict[str, Any]  # the file as written
    expanded: dict[str, Any]  # every named type inlined, full names


class SchemaCatalog:
    """Avro record schemas by full name, in registration order."""

    def __init__(self, entries: Iterable[_Entry]) -> None:
        self._entries: dict[str, _Entry] = {}
        for entry in entries:
            if entry.name in self._entries:
                first = self._entries[entry.name].path
                raise CatalogError(f"{entry.path}: record {entry.name} is already defined by {first}")
            self._entries[entry.name] = entry
        _check_shared_definitions(self._entries.values())

    @classmethod
    def load(cls, directories: Path | Sequence[Path] = DEFAULT_SCHEMAS_DIR) -> SchemaCatalog:
        """Every ``*.avsc`` of `directories` (in that order; files sorted by name within each).

        A directory that does not exist is an error: a typo would otherwise give an empty catalog.
        """
        dirs = [directories] if isinstance(directories, Path) else list(directories)
        entries: list[_Entry] = []
        for directory in dirs:
            if not directory.is_dir():
                raise CatalogError(f"no schema directory at {directory}")
            entries.extend(_read(path) for path in sorted(directory.glob("*.avsc"), key=lambda p: p.name))
        return cls(entries)

    def names(self) -> tuple[str, ...]:
        """Full record names in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def by_name(self, full_name: str) -> dict[str, Any]:
        """The record's schema with every named type inlined and full names (a copy: mutate freely)."""
        return copy.deepcopy(self._entry(full_name).expanded)

    def schema_str(self, full_name: str) -> str:
        """The exact text registered for the record: the file's JSON, compact. Identical in every process."""
        return json.dumps(self._entry(full_name).declared, separators=(",", ":"), ensure_ascii=False)

    def path(self, full_name: str) -> Path:
        return self._entry(full_name).path

    def _entry(self, full_name: str) -> _Entry:
        try:
            return self._entries[full_name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise CatalogError(f"no schema named {full_name!r} in the catalog (known: {known})") from None


def _read(path: Path) -> _Entry:
    try:
        declared = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable JSON file: {exc}") from exc
    if not isinstance(declared, dict) or declared.get("type") != "record":
        raise CatalogError(f"{path}: must hold one Avro record schema (a JSON object with type 'record')")
    try:
        parsed = fastavro.parse_schema(declared, named_schemas={})
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise CatalogError(f"{path}: not a valid Avro schema: {exc}") from exc
    expanded: dict[str, Any] = cast(dict[str, Any], expand_schema(declared))
    return _Entry(name=str(cast(dict[str, Any], parsed)["name"]), path=path, declared=declared, expanded=expanded)


def _named_types(schema: Any) -> Iterator[tuple[str, Any]]:
    """(full name, definition) of every named type defined (not merely referenced) in an expanded schema."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _named_types(branch)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED_TYPES:
            yield schema["name"], schema
        if kind == "record":
            for field in schema.get("fields", []):
                yield from _named_types(field["type"])
        elif kind == "array":
            yield from _named_types(schema["items"])
        elif kind == "map":
            yield from _named_types(schema["values"])
        elif isinstance(kind, dict | list):
            yield from _named_types(kind)


def _check_shared_definitions(entries: Iterable[_Entry]) -> None:
    seen: dict[str, tuple[Path, Any]] = {}
    for entry in entries:
        for name, definition in _named_types(entry.expanded):
            if name not in seen:
                seen[name] = (entry.path, definition)
            elif seen[name][1] != definition:
                raise CatalogError(
                    f"{entry.path}: {name} differs from its definition in {seen[name][0]}; "
                    "a type embedded in several files must be identical in all of them"
                )
