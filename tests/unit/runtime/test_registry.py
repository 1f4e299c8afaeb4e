"""The schema catalog and the registry: every process derives the same schema ids from schemas/."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import CatalogError, RegistryMismatch
from workers.runtime.registry import (
    expected_mock_ids,
    is_mock_registry,
    register_catalog,
    schema_registry_client,
    subject_for,
)
from workers.runtime.serde import AvroCodec

REPO = Path(__file__).resolve().parents[3]
TEST_SCHEMAS = REPO / "tests" / "schemas"
DIRS = (DEFAULT_SCHEMAS_DIR, TEST_SCHEMAS)


def record(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields) or [{"name": "id", "type": "string"}]}


def write(directory: Path, file: str, schema: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file
    path.write_text(json.dumps(schema) if not isinstance(schema, str) else schema, encoding="utf-8")
    return path


# --- catalog -------------------------------------------------------------------------------------


def test_the_catalog_reads_directories_in_order_and_files_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path / "one", "b.avsc", record("cesce.x.First"))
    write(tmp_path / "one", "a.avsc", record("cesce.x.Second"))
    write(tmp_path / "one", "notes.txt", "not a schema")
    write(tmp_path / "two", "0.avsc", record("cesce.y.Third"))

    catalog = SchemaCatalog.load([tmp_path / "one", tmp_path / "two"])

    assert catalog.names() == ("cesce.x.Second", "cesce.x.First", "cesce.y.Third")
    assert list(catalog) == list(catalog.names())
    assert len(catalog) == 3
    assert "cesce.y.Third" in catalog
    assert catalog.path("cesce.x.First") == tmp_path / "one" / "b.avsc"


def test_by_name_gives_a_private_expanded_copy_with_full_names() -> None:
    catalog = SchemaCatalog.load(TEST_SCHEMAS)
    envelope = catalog.by_name("cesce.test.RowEnvelope")
    after = envelope["fields"][1]
    assert after["type"][1]["name"] == "cesce.test.Row"  # the by-name reference is inlined
    envelope["fields"].clear()
    assert catalog.by_name("cesce.test.RowEnvelope")["fields"]


def test_schema_str_is_the_file_as_compact_json() -> None:
    catalog = SchemaCatalog.load(TEST_SCHEMAS)
    text = catalog.schema_str("cesce.test.Row")
    assert json.loads(text) == json.loads((TEST_SCHEMAS / "cesce.test.Row.avsc").read_text(encoding="utf-8"))
    assert "\n" not in text
    assert ", " not in text.replace("an id, money, a date", "")


def test_the_product_schema_directory_loads() -> None:
    SchemaCatalog.load()  # every file in schemas/ is a valid, self-contained record


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON file"),
        (json.dumps(["null", "string"]), "one Avro record schema"),
        (json.dumps({"type": "enum", "name": "E", "symbols": ["A"]}), "one Avro record schema"),
        (json.dumps({"type": "record", "name": "R", "fields": [{"name": "x", "type": "nosuch.Type"}]}), "not a valid"),
    ],
)
def test_a_bad_file_is_refused_with_its_path(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.avsc", content)
    with pytest.raises(CatalogError, match=message) as caught:
        SchemaCatalog.load(tmp_path)
    assert str(path) in str(caught.value)


def test_a_missing_directory_is_an_error_not_an_empty_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no schema directory"):
        SchemaCatalog.load(tmp_path / "nope")


def test_two_files_may_not_define_the_same_record(tmp_path: Path) -> None:
    write(tmp_path / "a", "x.avsc", record("cesce.x.Same"))
    write(tmp_path / "b", "y.avsc", record("cesce.x.Same"))
    with pytest.raises(CatalogError, match="already defined"):
        SchemaCatalog.load([tmp_path / "a", tmp_path / "b"])


def test_an_embedded_record_must_match_its_own_file(tmp_path: Path) -> None:
    row = record("cesce.x.Row", {"name": "id", "type": "string"})
    drifted = record("cesce.x.Row", {"name": "id", "type": "long"})
    write(tmp_path, "row.avsc", row)
    write(tmp_path, "wrapper.avsc", record("cesce.x.Wrapper", {"name": "after", "type": ["null", drifted]}))
    with pytest.raises(CatalogError, match=r"cesce\.x\.Row differs"):
        SchemaCatalog.load(tmp_path)


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"cesce\.test\.Row"):
        SchemaCatalog.load(TEST_SCHEMAS).by_name("cesce.test.Nope")


# --- registry ------------------------------------------------------------------------------------


def registered_ids(client: SchemaRegistryClient, catalog: SchemaCatalog) -> dict[str, int]:
    return {
        name: int(client.lookup_schema(subject_for(name), Schema(catalog.schema_str(name), "AVRO")).schema_id or 0)
        for name in catalog.names()
    }


def test_two_mock_clients_give_every_schema_the_same_id() -> None:
    catalog = SchemaCatalog.load(DIRS)
    first = schema_registry_client("mock://one", DIRS)
    second = schema_registry_client("mock://two", DIRS)
    assert registered_ids(first, catalog) == registered_ids(second, catalog) == expected_mock_ids(catalog)
    for name, schema_id in expected_mock_ids(catalog).items():
        assert first.get_schema(schema_id).schema_str == second.get_schema(schema_id).schema_str
        assert json.loads(second.get_schema(schema_id).schema_str or "")["name"] == name.rsplit(".", 1)[1]


def test_the_same_url_twice_in_one_process_still_agrees() -> None:
    catalog = SchemaCatalog.load(DIRS)
    first = schema_registry_client("mock://cesce", DIRS)
    second = schema_registry_client("mock://cesce", DIRS)
    assert registered_ids(first, catalog) == registered_ids(second, catalog)


def test_confluent_gives_every_mock_client_its_own_store() -> None:
    # If a future confluent-kafka shared one store per URL (as Java's mock does), the guard below
    # (RegistryMismatch) is what keeps ids honest; this test says which behaviour we have today.
    first = SchemaRegistryClient.new_client({"url": "mock://shared"})
    second = SchemaRegistryClient.new_client({"url": "mock://shared"})
    first.register_schema("cesce.x.Only", Schema(json.dumps(record("cesce.x.Only")), "AVRO"))
    assert second.get_subjects() == []


def test_extra_directories_never_shift_the_product_ids(tmp_path: Path) -> None:
    product, extra = tmp_path / "product", tmp_path / "extra"
    write(product, "b.avsc", record("cesce.p.B"))
    write(product, "a.avsc", record("cesce.p.A"))
    write(extra, "0.avsc", record("cesce.t.Zero"))
    alone = registered_ids(schema_registry_client("mock://p", [product]), SchemaCatalog.load([product]))
    both = registered_ids(schema_registry_client("mock://pe", [product, extra]), SchemaCatalog.load([product, extra]))
    assert alone == {"cesce.p.A": 1, "cesce.p.B": 2}
    assert both == {**alone, "cesce.t.Zero": 3}


def test_a_mock_store_that_held_other_schemas_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    polluted = SchemaRegistryClient.new_client({"url": "mock://polluted"})
    polluted.register_schema("cesce.x.Other", Schema(json.dumps(record("cesce.x.Other")), "AVRO"))
    monkeypatch.setattr(SchemaRegistryClient, "new_client", staticmethod(lambda conf: polluted))
    with pytest.raises(RegistryMismatch, match=r"cesce\.test\.Row=2 \(expected 1\)"):
        schema_registry_client("mock://polluted", [TEST_SCHEMAS])


def test_a_real_url_gives_a_real_client_without_calling_it() -> None:
    client = schema_registry_client("http://127.0.0.1:9", config={"basic.auth.user.info": "user:secret"})
    assert type(client) is SchemaRegistryClient
    assert not is_mock_registry(client)
    assert is_mock_registry(schema_registry_client("mock://x", [TEST_SCHEMAS]))


def test_register_catalog_is_idempotent() -> None:
    catalog = SchemaCatalog.load(TEST_SCHEMAS)
    client = SchemaRegistryClient.new_client({"url": "mock://again"})
    assert register_catalog(client, catalog) == register_catalog(client, catalog) == expected_mock_ids(catalog)


def test_subjects_are_record_names_whatever_the_topic() -> None:
    assert subject_for("cesce.test.Row") == "cesce.test.Row"


_DECODE_IN_A_FRESH_PROCESS = """
import sys
from pathlib import Path
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec

dirs = [DEFAULT_SCHEMAS_DIR, Path(sys.argv[1])]
codec = AvroCodec(schema_registry_client("mock://elsewhere", dirs), "cesce.test.Row", catalog=SchemaCatalog.load(dirs))
row = codec.decode(bytes.fromhex(sys.argv[2]), "any-topic")
print(codec.schema_id, row["id"], row["amount"], row["issued"].isoformat(), row["note"])
"""


def test_bytes_written_here_decode_in_another_process_with_its_own_mock() -> None:
    codec = AvroCodec(schema_registry_client("mock://here", DIRS), "cesce.test.Row", catalog=SchemaCatalog.load(DIRS))
    data = codec.encode({"id": "INV-7", "amount": Decimal("99.95"), "issued": date(2030, 1, 10), "note": "x"}, "t")

    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            _DECODE_IN_A_FRESH_PROCESS,
            str(TEST_SCHEMAS),
            data.hex(),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(codec.schema_id), "INV-7", "99.95", "2030-01-10", "x"]
