"""The schema catalog and the registry: every process derives the same schema ids from schemas/."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry._sync import mock_schema_registry_client as mock_module
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import _SchemaStore
from pydantic import ValidationError

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.contract import Handler
from workers.runtime.errors import CatalogError, RegistryMismatch
from workers.runtime.registry import (
    RegistrySettings,
    SubjectStrategy,
    expected_mock_ids,
    is_mock_registry,
    register_catalog,
    registry_from_env,
    registry_settings,
    registry_url,
    schema_registry_client,
    settings_of,
    settings_problems,
    subject_for,
)
from workers.runtime.run import run_worker, serve
from workers.runtime.serde import AvroCodec
from workers.runtime.spec import WorkerContext, WorkerSpec

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
    # as if confluent-kafka shared one store per URL: another client registered something first
    polluted = _SchemaStore()  # type: ignore[no-untyped-call]
    other = Schema(json.dumps(record("cesce.x.Other")), "AVRO")
    polluted.set(RegisteredSchema(schema_id=1, guid=None, schema=other, subject="cesce.x.Other", version=1))
    monkeypatch.setattr(mock_module, "_SchemaStore", lambda: polluted)
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


def test_the_record_name_subject_ignores_the_topic() -> None:
    assert subject_for("cesce.test.Row") == "cesce.test.Row"


@pytest.mark.parametrize(
    ("strategy", "subject"),
    [
        (SubjectStrategy.TOPIC, "cesce.sale-results-value"),
        (SubjectStrategy.RECORD, "cesce.results.SaleResult"),
        (SubjectStrategy.TOPIC_RECORD, "cesce.sale-results-cesce.results.SaleResult"),
    ],
)
def test_each_strategy_names_the_value_subject_as_confluent_does(strategy: SubjectStrategy, subject: str) -> None:
    assert strategy.subject("cesce.sale-results", "cesce.results.SaleResult") == subject


def test_the_strategy_and_auto_registration_come_from_the_environment() -> None:
    assert registry_settings({}) == RegistrySettings(subject_name_strategy=SubjectStrategy.TOPIC, auto_register=True)
    env = {"SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": " Topic_Record ", "SCHEMA_REGISTRY_AUTO_REGISTER": "false"}
    assert registry_settings(env) == RegistrySettings(
        subject_name_strategy=SubjectStrategy.TOPIC_RECORD, auto_register=False
    )
    # an unset Helm value renders as ""
    blank = {"SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": "", "SCHEMA_REGISTRY_AUTO_REGISTER": " "}
    assert registry_settings(blank) == RegistrySettings()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY", "topic-name", "'topic', 'record' or 'topic_record'"),
        ("SCHEMA_REGISTRY_AUTO_REGISTER", "sometimes", "valid boolean"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable_not_the_value(name: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        registry_settings({name: value})
    line = settings_problems(caught.value)
    assert line.startswith(f"{name}: ")
    assert says in line
    assert value not in line
    assert "\n" not in line


def test_the_client_from_the_environment_carries_its_settings() -> None:
    env = {"SCHEMA_REGISTRY_URL": "http://registry:8081", "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": "record"}
    client = registry_from_env(env)
    assert settings_of(client).subject_name_strategy is SubjectStrategy.RECORD
    assert "subject.name.strategy" not in client.config()  # type: ignore[no-untyped-call]
    assert settings_of(SchemaRegistryClient({"url": "http://elsewhere:8081"})) == RegistrySettings()


def test_the_url_in_messages_never_holds_credentials() -> None:
    client = schema_registry_client("https://user:s3cret@registry-1:8081,https://user:s3cret@registry-2:8081")
    assert registry_url(client) == "https://registry-1:8081,https://registry-2:8081"


def test_a_mock_gives_a_catalog_schema_its_catalog_id_under_any_subject() -> None:
    catalog = SchemaCatalog.load(DIRS)
    ids = expected_mock_ids(catalog)
    # registered in two processes under topic subjects, in different orders: the ids still agree
    first, second = schema_registry_client("mock://one", DIRS), schema_registry_client("mock://two", DIRS)
    names = list(catalog.names())
    for client, order in ((first, names), (second, names[::-1])):
        for name in order:
            schema = Schema(catalog.schema_str(name), "AVRO")
            assert client.register_schema(f"topic-of-{name}-value", schema) == ids[name]
            assert client.lookup_schema(f"topic-of-{name}-value", schema).schema_id == ids[name]
            assert client.get_latest_version(f"topic-of-{name}-value").version == 1
    assert first.get_schema(ids["cesce.test.Row"]).schema_str == catalog.schema_str("cesce.test.Row")


def test_a_mock_refuses_a_schema_its_catalog_lacks() -> None:
    client = schema_registry_client("mock://sealed", [TEST_SCHEMAS])
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("x-value", Schema(json.dumps(record("cesce.x.Stranger")), "AVRO"))
    assert caught.value.http_status_code == 422
    assert len(client.get_subjects()) == len(SchemaCatalog.load(TEST_SCHEMAS))


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


# --- at a worker's start -------------------------------------------------------------------------


def _spec(handler_opened: list[str]) -> WorkerSpec:
    @asynccontextmanager
    async def handler(context: WorkerContext) -> AsyncIterator[Handler]:
        handler_opened.append(context.label)
        raise AssertionError("the handler must not open")
        yield  # pragma: no cover

    return WorkerSpec(
        name="rows",
        input_topics=["erp.rows"],
        output_topics=["cesce.rows"],
        decoder=lambda registry: lambda value, topic: value,
        handler=handler,
        schemas={"cesce.rows": "cesce.results.SaleResult"},
    )


def test_a_subject_not_registered_stops_the_worker_before_its_handler_opens() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "WORKER_RECONCILE": "off",
        "SCHEMA_REGISTRY_URL": "mock://unregistered",
        "SCHEMA_REGISTRY_AUTO_REGISTER": "false",
    }
    opened: list[str] = []
    with pytest.raises(RegistryMismatch, match=r"subject cesce\.rows-value .* `cesce-worker schemas register`"):
        asyncio.run(serve(_spec(opened), env, asyncio.Event()))
    assert opened == []


def test_no_registry_named_is_exit_2_before_anything_starts(caplog: pytest.LogCaptureFixture) -> None:
    assert run_worker(_spec([]), {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}) == 2
    assert "SCHEMA_REGISTRY_URL is not set" in caplog.text


def test_a_wrong_registry_setting_is_exit_2_before_anything_starts(caplog: pytest.LogCaptureFixture) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": "topicname"}
    assert run_worker(_spec([]), env) == 2
    assert "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY: Input should be" in caplog.text
