"""The embedded Schema Registry without sockets: Avro resolution rules, the store's decisions, the REST routing.

confluent-kafka's own client against the server over HTTP is tests/integration/ops/test_embedded_registry.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from workers.ops.avro_compatibility import AvroSchema, InvalidSchema, incompatibilities
from workers.ops.registry_server import handle
from workers.ops.registry_store import Compatibility, RegistryError, SchemaStore


def record(*fields: dict[str, Any], name: str = "Row", namespace: str = "t", **extra: Any) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": list(fields), **extra})


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def kinds(reader: str, writer: str) -> list[str]:
    return [found.kind for found in incompatibilities(AvroSchema.parse(reader), AvroSchema.parse(writer))]


ENUM_AB = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
ENUM_A = {"type": "enum", "name": "E", "symbols": ["A"]}


# --- Avro schema resolution -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [
        pytest.param(record(field("a", "int")), record(field("a", "int")), [], id="same"),
        pytest.param(
            record(field("a", "int"), field("b", "string", default="")),
            record(field("a", "int")),
            [],
            id="added field with default",
        ),
        pytest.param(
            record(field("a", "int"), field("b", "string")),
            record(field("a", "int")),
            ["READER_FIELD_MISSING_DEFAULT_VALUE"],
            id="added field without default",
        ),
        pytest.param(record(field("a", "int")), record(field("a", "int"), field("b", "string")), [], id="dropped"),
        pytest.param(record(field("a", "long")), record(field("a", "int")), [], id="int to long"),
        pytest.param(record(field("a", "double")), record(field("a", "float")), [], id="float to double"),
        pytest.param(record(field("a", "float")), record(field("a", "long")), [], id="long to float"),
        pytest.param(record(field("a", "int")), record(field("a", "long")), ["TYPE_MISMATCH"], id="long to int"),
        pytest.param(record(field("a", "bytes")), record(field("a", "string")), [], id="string to bytes"),
        pytest.param(record(field("a", "string")), record(field("a", "bytes")), [], id="bytes to string"),
        pytest.param(record(field("a", "string")), record(field("a", "int")), ["TYPE_MISMATCH"], id="int to string"),
        pytest.param(record(field("a", ENUM_AB)), record(field("a", ENUM_A)), [], id="enum gains a symbol"),
        pytest.param(
            record(field("a", ENUM_A)), record(field("a", ENUM_AB)), ["MISSING_ENUM_SYMBOLS"], id="enum loses one"
        ),
        pytest.param(
            record(field("a", {**ENUM_A, "default": "A"})), record(field("a", ENUM_AB)), [], id="enum with default"
        ),
        pytest.param(record(field("a", ["null", "int"])), record(field("a", "int")), [], id="reader union"),
        pytest.param(
            record(field("a", ["null", "string"])),
            record(field("a", "int")),
            ["MISSING_UNION_BRANCH"],
            id="reader union lacks the type",
        ),
        pytest.param(
            record(field("a", "long")),
            record(field("a", ["int", "long"])),
            [],
            id="every writer branch readable",
        ),
        pytest.param(
            record(field("a", "long")),
            record(field("a", ["null", "long"])),
            ["TYPE_MISMATCH"],
            id="a writer branch unreadable",
        ),
        pytest.param(
            record(field("a", {"type": "array", "items": "long"})),
            record(field("a", {"type": "array", "items": "int"})),
            [],
            id="array items promoted",
        ),
        pytest.param(
            record(field("a", {"type": "map", "values": "int"})),
            record(field("a", {"type": "map", "values": "string"})),
            ["TYPE_MISMATCH"],
            id="map values mismatch",
        ),
        pytest.param(
            record(field("a", {"type": "fixed", "name": "F", "size": 4})),
            record(field("a", {"type": "fixed", "name": "F", "size": 8})),
            ["FIXED_SIZE_MISMATCH"],
            id="fixed size",
        ),
        pytest.param(record(field("a", "int"), name="Other"), record(field("a", "int")), ["NAME_MISMATCH"], id="name"),
        pytest.param(
            record(field("a", "int"), name="Other", aliases=["Row"]), record(field("a", "int")), [], id="alias"
        ),
        pytest.param(record(field("renamed", "int", aliases=["a"])), record(field("a", "int")), [], id="field alias"),
        pytest.param(
            record(field("a", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2})),
            record(field("a", "bytes")),
            [],
            id="logical types read as their type",
        ),
        pytest.param(
            record(field("next", ["null", "Row"], default=None), field("n", "long")),
            record(field("next", ["null", "Row"], default=None), field("n", "int")),
            [],
            id="recursive",
        ),
    ],
)
def test_resolution_rules(reader: str, writer: str, expected: list[str]) -> None:
    assert kinds(reader, writer) == expected


def test_an_incompatibility_says_where_and_what() -> None:
    reader = AvroSchema.parse(record(field("a", "int"), field("b", "string")))
    [found] = incompatibilities(reader, AvroSchema.parse(record(field("a", "int"))))
    assert (found.kind, found.path, found.info) == ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1", "b")


@pytest.mark.parametrize(
    "text",
    ["{", '"nope"', record(field("a", "unknown.Type")), record(field("a", "int", default="x"))],
)
def test_invalid_schemas_are_refused(text: str) -> None:
    with pytest.raises(InvalidSchema):
        AvroSchema.parse(text)


# --- the store -------------------------------------------------------------------------------------

V1 = record(field("a", "int"))
V2 = record(field("a", "long"), field("b", "string", default=""))
BREAKS_V2 = record(field("a", "long"), field("c", "string"))


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[int, int, str]:
    with pytest.raises(RegistryError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code, caught.value.message


def test_one_schema_one_id_in_every_subject_and_whitespace_is_not_a_new_schema() -> None:
    store = SchemaStore()
    assert store.register("s", V1) == 1
    assert store.register("s", json.dumps(json.loads(V1), indent=4)) == 1
    assert store.register("other", V1) == 1
    assert store.register("s", V2) == 2
    assert store.versions("s") == [1, 2]
    assert store.version("s", "latest") == {"subject": "s", "version": 2, "id": 2, "schema": V2.replace(" ", "")}
    assert store.version("s", "-1")["version"] == 2
    assert store.subject_versions_of(1, deleted=False) == [("other", 1), ("s", 1)]


def test_an_incompatible_schema_is_refused_with_the_real_registrys_message() -> None:
    store = SchemaStore()
    store.register("s", V1)
    store.register("s", V2)
    status, code, message = error_of(store.register, "s", BREAKS_V2)
    assert (status, code) == (409, 409)
    assert message.startswith(
        'Schema being registered is incompatible with an earlier schema for subject "s", details: '
        "[{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'c' at path '/fields/1' in the new "
        "schema has no default value and is missing in the old schema', additionalInfo:'c'}, {oldSchemaVersion: 2}, "
    )
    assert message.endswith("{validateFields: 'false', compatibility: 'BACKWARD'}]")
    assert store.versions("s") == [1, 2]


@pytest.mark.parametrize(
    ("level", "change", "compatible"),
    [
        (Compatibility.BACKWARD, record(field("a", "int"), field("b", "int", default=0)), True),
        (Compatibility.BACKWARD, record(field("a", "int"), field("b", "int")), False),
        (Compatibility.FORWARD, record(field("a", "int"), field("b", "int")), True),
        (Compatibility.FORWARD, record(field("b", "int", default=0)), False),
        (Compatibility.FULL, record(field("a", "int"), field("b", "int", default=0)), True),
        (Compatibility.FULL, record(field("a", "int"), field("b", "int")), False),
        (Compatibility.NONE, record(field("a", "string")), True),
    ],
)
def test_each_level_checks_its_direction(level: Compatibility, change: str, compatible: bool) -> None:
    store = SchemaStore()
    store.register("s", V1)
    store.set_subject_level("s", level)
    assert (store.test_compatibility("s", change, "latest") == []) is compatible
    assert (store.test_compatibility("s", change, None) == []) is compatible


def test_transitive_levels_check_every_earlier_version() -> None:
    store = SchemaStore()
    store.set_global_level(Compatibility.NONE)
    store.register("s", record(field("a", "int")))
    store.register("s", record(field("a", "int"), field("b", "int", default=0)))
    drops_the_default = record(field("a", "int"), field("b", "int"))  # reads version 2's data, not version 1's
    store.set_subject_level("s", Compatibility.BACKWARD)
    assert store.test_compatibility("s", drops_the_default, None) == []
    store.set_subject_level("s", Compatibility.BACKWARD_TRANSITIVE)
    assert store.test_compatibility("s", drops_the_default, None)[-3] == "{oldSchemaVersion: 1}"
    assert store.test_compatibility("s", drops_the_default, "2") == []
    assert error_of(store.register, "s", drops_the_default)[:2] == (409, 409)


def test_deleting_is_soft_first_then_permanent() -> None:
    store = SchemaStore()
    store.register("s", V1)
    store.register("s", V2)
    assert store.delete_version("s", "1") == 1
    assert error_of(store.delete_version, "s", "1")[1] == 40406
    assert store.versions("s") == [2]
    assert store.versions("s", deleted=True) == [1, 2]
    assert store.versions("s", deleted_only=True) == [1]
    assert store.schema(1) == V1.replace(" ", "")  # a soft-deleted version's id still resolves
    assert error_of(store.delete_subject, "s", permanent=True)[1] == 40405
    assert store.delete_subject("s") == [2]
    assert error_of(store.delete_subject, "s")[1] == 40404
    assert store.subjects() == []
    assert store.subjects(deleted=True) == ["s"]
    assert error_of(store.version, "s", "2")[1] == 40401
    assert store.version("s", "2", deleted=True)["id"] == 2
    assert store.delete_subject("s", permanent=True) == [1, 2]
    assert error_of(store.schema, 1) == (404, 40403, "Schema 1 not found")
    assert store.register("s", V2) == 2  # an id stays its schema's
    assert store.versions("s") == [1]


def test_a_version_deleted_permanently_must_be_soft_deleted_first() -> None:
    store = SchemaStore()
    store.register("s", V1)
    assert error_of(store.delete_version, "s", "1", permanent=True)[1] == 40407
    store.delete_version("s", "latest")
    assert store.delete_version("s", "1", permanent=True) == 1
    assert error_of(store.versions, "s")[1] == 40401


def test_lookup() -> None:
    store = SchemaStore()
    assert error_of(store.lookup, "s", V1) == (404, 40401, "Subject 's' not found.")
    store.register("s", V1)
    assert store.lookup("s", json.dumps(json.loads(V1), indent=2))["version"] == 1
    assert error_of(store.lookup, "s", V2) == (404, 40403, "Schema not found")
    store.delete_version("s", "1")
    assert error_of(store.lookup, "s", V1)[1] == 40401
    assert store.lookup("s", V1, deleted=True)["id"] == 1


@pytest.mark.parametrize("version", ["0", "x", "2147483648", "1.5"])
def test_an_invalid_version_is_42202(version: str) -> None:
    store = SchemaStore()
    store.register("s", V1)
    status, code, message = error_of(store.version, "s", version)
    assert (status, code) == (422, 42202)
    assert message.startswith(f"The specified version '{version}' is not a valid version id.")


def test_levels_global_and_per_subject() -> None:
    store = SchemaStore()
    assert store.global_level() is Compatibility.BACKWARD
    assert error_of(store.subject_level, "s")[1] == 40408
    assert store.subject_level("s", default_to_global=True) is Compatibility.BACKWARD
    store.set_subject_level("s", Compatibility.FULL_TRANSITIVE)
    store.set_global_level(Compatibility.NONE)
    assert store.subject_level("s") is Compatibility.FULL_TRANSITIVE
    assert store.delete_subject_level("s") is Compatibility.FULL_TRANSITIVE
    assert store.reset_global_level() is Compatibility.NONE
    assert store.global_level() is Compatibility.BACKWARD


# --- the REST API, without sockets -----------------------------------------------------------------


def call(store: SchemaStore, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    return handle(store, method, target, b"" if body is None else json.dumps(body).encode())


def test_routes_answer_like_the_real_registry() -> None:
    store = SchemaStore()
    assert call(store, "POST", "/subjects/a%2Fb/versions?normalize=False", {"schema": V1}) == (200, {"id": 1})
    assert call(store, "GET", "/subjects") == (200, ["a/b"])  # a subject is one percent-encoded segment
    assert call(store, "GET", "/schemas/ids/1") == (200, {"schema": V1.replace(" ", "")})
    assert call(store, "GET", "/schemas/ids/1/schema") == (200, json.loads(V1))
    assert call(store, "GET", "/schemas/ids/1/versions") == (200, [{"subject": "a/b", "version": 1}])
    assert call(store, "GET", "/schemas/types") == (200, ["AVRO"])
    assert call(store, "GET", "/subjects/a%2Fb/versions/1/schema") == (200, json.loads(V1))
    assert call(store, "PUT", "/config", {"compatibility": "full"}) == (200, {"compatibility": "FULL"})
    assert call(store, "GET", "/config") == (200, {"compatibilityLevel": "FULL"})
    verbose = call(store, "POST", "/compatibility/subjects/a%2Fb/versions/latest?verbose=true", {"schema": V2})
    assert verbose[1]["is_compatible"] is False  # FULL: version 1 cannot read the new long
    assert verbose[1]["messages"][0].startswith("{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0")
    assert call(store, "POST", "/compatibility/subjects/a%2Fb/versions", {"schema": V2}) == (
        200,
        {"is_compatible": False},
    )
    assert call(store, "GET", "/subjects?offset=1&limit=1") == (200, [])


@pytest.mark.parametrize(
    ("method", "target", "body", "status", "code"),
    [
        ("GET", "/nothing/here", None, 404, 404),
        ("GET", "/schemas/ids/abc", None, 404, 404),
        ("PATCH", "/subjects", None, 405, 405),
        ("POST", "/subjects/s/versions", {"schema": V1, "schemaType": "PROTOBUF"}, 422, 42201),
        ("POST", "/subjects/s/versions", {"schema": V1, "references": [{"name": "x"}]}, 422, 42201),
        ("POST", "/subjects/s/versions", {}, 422, 42201),
        ("POST", "/subjects/s/versions", {"schema": "{"}, 422, 42201),
        ("PUT", "/config/s", {"compatibility": "SIDEWAYS"}, 422, 42203),
    ],
)
def test_errors_are_json_with_the_real_codes(method: str, target: str, body: Any, status: int, code: int) -> None:
    got_status, answer = call(SchemaStore(), method, target, body)
    assert (got_status, answer["error_code"]) == (status, code)
    assert isinstance(answer["message"], str)


def test_a_body_that_is_not_json_is_400() -> None:
    status, answer = handle(SchemaStore(), "POST", "/subjects/s/versions", b"{not json")
    assert (status, answer["error_code"]) == (400, 400)


def test_concurrent_registrations_agree_on_ids_and_versions() -> None:
    store = SchemaStore()
    store.set_global_level(Compatibility.NONE)
    schemas = [record(field("a", "int"), field(f"f{n}", "int", default=0)) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda text: store.register("s", text), schemas * 4))
    assert sorted(set(ids)) == list(range(1, 9))
    assert ids[:8] == ids[8:16] == ids[16:24] == ids[24:]
    assert store.versions("s") == list(range(1, 9))
