"""The embedded Schema Registry's state and decisions, without HTTP (`workers.ops.registry_server` serves them).

Subjects hold numbered versions; a version points at a schema by its global id, and the same
schema text has the same id under every subject. Deleting is two steps as in the real registry:
a soft delete hides a version (its id still resolves, consumers keep reading old records), a
permanent delete then forgets it. A new version must be compatible with the subject's earlier
ones at the subject's level (or the global one, BACKWARD by default), decided by
`workers.ops.avro_compatibility`; a refusal carries the real registry's message.

Errors are `RegistryError`: the HTTP status, Confluent's ``error_code`` and its message.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from workers.ops.avro_compatibility import AvroSchema, Incompatibility, InvalidSchema, incompatibilities

__all__ = ["DEFAULT_COMPATIBILITY", "Compatibility", "RegistryError", "SchemaStore", "level_of", "schema_text"]

_MAX_VERSION: Final = 2**31 - 1


class Compatibility(StrEnum):
    """A subject's compatibility level: which earlier versions a new one is checked against, and how."""

    NONE = "NONE"
    """No check."""
    BACKWARD = "BACKWARD"
    """The new schema reads data written with the latest version (the default: consumers upgrade first)."""
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    """The new schema reads data written with every earlier version."""
    FORWARD = "FORWARD"
    """The latest version reads data written with the new schema (producers upgrade first)."""
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    """Every earlier version reads data written with the new schema."""
    FULL = "FULL"
    """Both BACKWARD and FORWARD with the latest version."""
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    """Both ways with every earlier version."""

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        """The new schema must read the old ones."""
        return self.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """The old schemas must read the new one."""
        return self.startswith(("FORWARD", "FULL"))


DEFAULT_COMPATIBILITY: Final = Compatibility.BACKWARD


class RegistryError(Exception):
    """An answer other than success: the HTTP status, the registry's ``error_code`` and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def _version_not_found(version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def _schema_not_found(schema_id: int | None = None) -> RegistryError:
    return RegistryError(404, 40403, "Schema not found" if schema_id is None else f"Schema {schema_id} not found")


def _invalid_schema(reason: str) -> RegistryError:
    return RegistryError(422, 42201, f"Invalid schema: {reason}")


# How the real registry describes each kind of incompatibility (Confluent's ``AvroSchema``), with the
# reader and the writer named "new" or "old" by the direction of the check.
_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": "The field '{info}' at path '{path}' in the {reader} schema has no default "
    "value and is missing in the {writer} schema",
    "TYPE_MISMATCH": "The type (path '{path}') of a field in the {reader} schema does not match with the {writer} "
    "schema",
    "NAME_MISMATCH": "The name of the schema has changed (path '{path}')",
    "FIXED_SIZE_MISMATCH": "The size of FIXED type field at path '{path}' in the {reader} schema does not match with "
    "the {writer} schema",
    "MISSING_ENUM_SYMBOLS": "The {reader} schema is missing enum symbols '{info}' at path '{path}' in the {writer} "
    "schema",
    "MISSING_UNION_BRANCH": "The {reader} schema is missing a type inside a union field at path '{path}' in the "
    "{writer} schema",
}


def _describe(found: Incompatibility, *, reader: str, writer: str) -> str:
    description = _DESCRIPTIONS[found.kind].format(
        info=found.info, path=found.path or "/", reader=reader, writer=writer
    )
    return f"{{errorType:'{found.kind}', description:'{description}', additionalInfo:'{found.info}'}}"


@dataclass
class _Version:
    schema_id: int
    deleted: bool = False


@dataclass(frozen=True)
class _Schema:
    text: str  # the compact JSON the registry compares and answers with
    parsed: AvroSchema


class SchemaStore:
    """The registry's state and decisions, without HTTP: subjects, versions, ids and compatibility levels.

    Every method takes the one lock, so the store is safe to share between request threads. Methods
    raise `RegistryError` with the status, code and message the real registry answers with.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: dict[int, _Schema] = {}  # ids stay reserved for their schema, even once unreferenced
        self._ids: dict[str, int] = {}
        self._subjects: dict[str, dict[int, _Version]] = {}
        self._global = DEFAULT_COMPATIBILITY
        self._levels: dict[str, Compatibility] = {}

    # --- schemas by id ---------------------------------------------------------------------------

    def schema(self, schema_id: int) -> str:
        with self._lock:
            return self._referenced(schema_id).text

    def subject_versions_of(self, schema_id: int, *, deleted: bool) -> list[tuple[str, int]]:
        """(subject, version) of every version with this id; soft-deleted ones only with `deleted`."""
        with self._lock:
            self._referenced(schema_id)
            return [
                (subject, number)
                for subject, versions in sorted(self._subjects.items())
                for number, version in sorted(versions.items())
                if version.schema_id == schema_id and (deleted or not version.deleted)
            ]

    def _referenced(self, schema_id: int) -> _Schema:
        in_use = any(v.schema_id == schema_id for versions in self._subjects.values() for v in versions.values())
        if not in_use:
            raise _schema_not_found(schema_id)
        return self._schemas[schema_id]

    # --- subjects and versions -------------------------------------------------------------------

    def subjects(self, prefix: str = "", *, deleted: bool = False, deleted_only: bool = False) -> list[str]:
        with self._lock:
            found = []
            for subject, versions in sorted(self._subjects.items()):
                live = any(not v.deleted for v in versions.values())
                if subject.startswith(prefix) and (not live if deleted_only else live or deleted):
                    found.append(subject)
            return found

    def versions(self, subject: str, *, deleted: bool = False, deleted_only: bool = False) -> list[int]:
        with self._lock:
            versions = self._versions(subject, deleted=True)
            chosen = [
                n for n, v in sorted(versions.items()) if (v.deleted if deleted_only else deleted or not v.deleted)
            ]
            if not chosen and not deleted_only:
                raise _subject_not_found(subject)
            return chosen

    def version(self, subject: str, version: str, *, deleted: bool = False) -> dict[str, Any]:
        """The answer of GET /subjects/{subject}/versions/{version}: subject, version, id, schema."""
        number = _version_number(version)
        with self._lock:
            versions = self._versions(subject, deleted=deleted)
            if number is None:
                number = max(versions)
            found = versions.get(number)
            if found is None:
                raise _version_not_found(number)
            return self._answer(subject, number, found)

    def lookup(self, subject: str, text: Any, *, deleted: bool = False) -> dict[str, Any]:
        """The version of `subject` that holds this schema (POST /subjects/{subject})."""
        schema = _parse(text)
        with self._lock:
            versions = self._versions(subject, deleted=deleted)
            for number, version in sorted(versions.items(), reverse=True):
                if self._schemas[version.schema_id].text == schema.text:
                    return self._answer(subject, number, version)
            raise _schema_not_found()

    def register(self, subject: str, text: Any) -> int:
        """The id of this schema under `subject`: its version's if registered, else a new version's.

        A new version must be compatible with the subject's earlier ones at its level (409 if not).
        """
        schema = _parse(text)
        with self._lock:
            versions = self._subjects.get(subject, {})
            live = [(n, v) for n, v in sorted(versions.items()) if not v.deleted]
            for _, version in live:
                if self._schemas[version.schema_id].text == schema.text:
                    return version.schema_id
            level = self._level(subject)
            problems = self._problems(schema, live, level, transitive=level.transitive)
            if problems:
                details = ", ".join(problems)
                raise RegistryError(
                    409,
                    409,
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                    f"details: [{details}]",
                )
            schema_id = self._ids.get(schema.text)
            if schema_id is None:
                schema_id = len(self._schemas) + 1
                self._ids[schema.text] = schema_id
                self._schemas[schema_id] = schema
            self._subjects.setdefault(subject, {})[max(versions, default=0) + 1] = _Version(schema_id)
            return schema_id

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete every version (the real registry's first step), or drop the soft-deleted ones."""
        with self._lock:
            versions = self._versions(subject, deleted=True)
            live = [n for n, v in sorted(versions.items()) if not v.deleted]
            if permanent:
                if live:
                    raise RegistryError(
                        404, 40405, f"Subject '{subject}' was not deleted first before being permanently deleted"
                    )
                del self._subjects[subject]
                self._levels.pop(subject, None)
                return sorted(versions)
            if not live:
                raise RegistryError(
                    404, 40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                )
            for number in live:
                versions[number].deleted = True
            return live

    def delete_version(self, subject: str, version: str, *, permanent: bool = False) -> int:
        number = _version_number(version)
        with self._lock:
            versions = self._versions(subject, deleted=True)
            if number is None:
                live = [n for n, v in versions.items() if not v.deleted]
                if not live:
                    raise _subject_not_found(subject)
                number = max(live)
            found = versions.get(number)
            if found is None:
                raise _version_not_found(number)
            if permanent:
                if not found.deleted:
                    raise RegistryError(
                        404,
                        40407,
                        f"Subject '{subject}' Version {number} was not deleted first before being permanently deleted",
                    )
                del versions[number]
                if not versions:
                    del self._subjects[subject]
                return number
            if found.deleted:
                raise RegistryError(
                    404,
                    40406,
                    f"Subject '{subject}' Version {number} was soft deleted.Set permanent=true to delete permanently",
                )
            found.deleted = True
            return number

    def _versions(self, subject: str, *, deleted: bool) -> dict[int, _Version]:
        """The subject's versions, soft-deleted ones only with `deleted`; 40401 if that leaves none."""
        versions = self._subjects.get(subject, {})
        if deleted and versions:
            return versions
        live = {n: v for n, v in versions.items() if not v.deleted}
        if not live:
            raise _subject_not_found(subject)
        return live

    def _answer(self, subject: str, number: int, version: _Version) -> dict[str, Any]:
        return {
            "subject": subject,
            "version": number,
            "id": version.schema_id,
            "schema": self._schemas[version.schema_id].text,
        }

    # --- compatibility ---------------------------------------------------------------------------

    def test_compatibility(self, subject: str, text: Any, version: str | None) -> list[str]:
        """Why `text` may not become the next version of `subject` (empty: it may), at the subject's level.

        With `version` it is checked against that version only (``latest`` or ``-1``: the newest);
        without, against those the level names (all earlier ones if transitive). A subject
        with no versions accepts anything.
        """
        schema = _parse(text)
        number = None if version is None else _version_number(version)
        with self._lock:
            live = [(n, v) for n, v in sorted(self._subjects.get(subject, {}).items()) if not v.deleted]
            if version is not None and live:
                wanted = max(n for n, _ in live) if number is None else number
                live = [(n, v) for n, v in live if n == wanted]
                if not live:
                    raise _version_not_found(wanted)
            elif version is not None and number is not None:
                raise _subject_not_found(subject)
            level = self._level(subject)
            return self._problems(schema, live, level, transitive=version is not None or level.transitive)

    def _problems(
        self, schema: _Schema, earlier: list[tuple[int, _Version]], level: Compatibility, *, transitive: bool
    ) -> list[str]:
        """The real registry's messages for the newest earlier version `schema` is incompatible with."""
        if level is Compatibility.NONE:
            return []
        for number, version in reversed(earlier if transitive else earlier[-1:]):
            old = self._schemas[version.schema_id]
            messages = []
            if level.backward:
                found = incompatibilities(schema.parsed, old.parsed)
                messages += [_describe(f, reader="new", writer="old") for f in found]
            if level.forward:
                found = incompatibilities(old.parsed, schema.parsed)
                messages += [_describe(f, reader="old", writer="new") for f in found]
            if messages:
                return [
                    *messages,
                    f"{{oldSchemaVersion: {number}}}",
                    f"{{oldSchema: '{old.text}'}}",
                    f"{{validateFields: 'false', compatibility: '{level}'}}",
                ]
        return []

    # --- compatibility levels --------------------------------------------------------------------

    def global_level(self) -> Compatibility:
        with self._lock:
            return self._global

    def set_global_level(self, level: Compatibility) -> None:
        with self._lock:
            self._global = level

    def reset_global_level(self) -> Compatibility:
        with self._lock:
            old, self._global = self._global, DEFAULT_COMPATIBILITY
            return old

    def subject_level(self, subject: str, *, default_to_global: bool = False) -> Compatibility:
        with self._lock:
            level = self._levels.get(subject)
            if level is not None:
                return level
            if default_to_global:
                return self._global
            raise _no_subject_level(subject)

    def set_subject_level(self, subject: str, level: Compatibility) -> None:
        with self._lock:
            self._levels[subject] = level

    def delete_subject_level(self, subject: str) -> Compatibility:
        with self._lock:
            level = self._levels.pop(subject, None)
            if level is None:
                raise _no_subject_level(subject)
            return level

    def _level(self, subject: str) -> Compatibility:
        return self._levels.get(subject, self._global)


def _no_subject_level(subject: str) -> RegistryError:
    return RegistryError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")


def _parse(text: Any) -> _Schema:
    if not isinstance(text, str):
        raise _invalid_schema("the request has no schema string")
    try:
        parsed = AvroSchema.parse(text)
    except InvalidSchema as exc:
        raise _invalid_schema(str(exc)) from None
    return _Schema(json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False), parsed)


def _version_number(text: str) -> int | None:
    """A version of the path: its number, or None for the newest (``latest``, ``-1``); 42202 otherwise."""
    if text in ("latest", "-1"):
        return None
    if re.fullmatch(r"[0-9]+", text) and 1 <= int(text) <= _MAX_VERSION:
        return int(text)
    raise RegistryError(
        422,
        42202,
        f"The specified version '{text}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def level_of(body: Any) -> Compatibility:
    """The level a PUT /config body asks for; 42203 if it names none."""
    value = body.get("compatibility") if isinstance(body, dict) else None
    try:
        return Compatibility(str(value).upper())
    except ValueError:
        raise RegistryError(
            422,
            42203,
            "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, "
            "forward_transitive, and full_transitive",
        ) from None


def schema_text(body: Any) -> Any:
    """The schema text of a register, look-up or compatibility body, once its type and references are
    ones this registry serves (42201 otherwise)."""
    fields = body if isinstance(body, dict) else {}
    schema_type = fields.get("schemaType") or "AVRO"
    if schema_type != "AVRO":
        raise _invalid_schema(f"schema type {schema_type} is not served by the embedded registry (AVRO only)")
    if fields.get("references"):
        raise _invalid_schema("schema references are not served by the embedded registry")
    return fields.get("schema")
