"""`cesce-worker asyncapi`: the AsyncAPI 3 document of every topic, generated from the workers' own specs.

Issue 20: "`cesce-worker asyncapi` writes an AsyncAPI 3 document of every topic the product reads and writes
(channels, keys, the Avro schemas from `schemas/`, DLQ headers, which worker sends and receives what), generated
from the code's own topic settings and schemas so it never drifts". No sockets, no node: the AsyncAPI parser's
verdict is `tests/integration/ops/test_asyncapi_parser.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workers.cli import main
from workers.ops import asyncapi
from workers.ops.asyncapi import (
    ASYNCAPI_VERSION,
    AVRO_SCHEMA_FORMAT,
    DEFAULT_OUTPUT,
    KEYS,
    asyncapi_document,
    dead_letter_header_names,
    render,
)
from workers.ops.dlq_replay import DEFAULT_REPLAYS_TOPIC
from workers.ops.topics import topology
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.contract import ErrorCategory
from workers.runtime.dlq import OMITTED, REPLAY_COUNT, REPLAY_SOURCE, SOURCE_OUTPUT

CATALOG = SchemaCatalog.load()
REGENERATE = "cesce-worker asyncapi --output docs/asyncapi.json (in a shell without topic settings)"


def _ref(document: dict[str, Any], pointer: str) -> Any:
    """What a local ``$ref`` (``#/a/b``) points at."""
    assert pointer.startswith("#/"), pointer
    found: Any = document
    for part in pointer[2:].split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found


def _channel_of(document: dict[str, Any], address: str) -> dict[str, Any]:
    (channel,) = [c for c in document["channels"].values() if c["address"] == address]
    return channel


def _operations(document: dict[str, Any], action: str, address: str) -> set[str]:
    """Who (the operation id's part before the action) does `action` on the topic `address`."""
    return {
        name.split(f".{action}.")[0]
        for name, operation in document["operations"].items()
        if operation["action"] == action and _ref(document, operation["channel"]["$ref"])["address"] == address
    }


def test_the_committed_document_is_the_generated_one() -> None:
    """docs/asyncapi.json is what the command writes for the default settings: regenerated here, so it never
    drifts from the code (a new topic, record, field or header fails this test until it is regenerated)."""
    committed = DEFAULT_OUTPUT.read_text(encoding="utf-8")
    assert render(asyncapi_document({})) == committed, f"docs/asyncapi.json is out of date: run {REGENERATE}"
    assert json.loads(committed)["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"


def test_every_topic_of_every_spec_is_a_channel_with_its_senders_and_receivers() -> None:
    """Each spec's inputs are received by it, its outputs and dead-letter topics sent by it, with its consumer
    group; the replay tool reads every dead-letter topic and writes the ledger and the topics replayed to."""
    document = asyncapi_document({})
    specs = topology({})
    addresses = {channel["address"] for channel in document["channels"].values()}
    used = {DEFAULT_REPLAYS_TOPIC}
    for spec in specs:
        for topic in spec.input_topics:
            assert spec.label in _operations(document, "receive", topic)
            assert spec.label in _operations(document, "send", spec.dlq_topic(topic))
            assert "dlq-replay" in _operations(document, "send", topic)
            assert "dlq-replay" in _operations(document, "receive", spec.dlq_topic(topic))
            used |= {topic, spec.dlq_topic(topic)}
        for topic in spec.output_topics:
            assert spec.label in _operations(document, "send", topic)
            used.add(topic)
    assert addresses == used
    assert _operations(document, "send", DEFAULT_REPLAYS_TOPIC) == {"dlq-replay"}
    groups = {
        name: operation["bindings"]["kafka"]["groupId"]["enum"]
        for name, operation in document["operations"].items()
        if "bindings" in operation
    }
    assert groups["invoices.rekey.receive.erp.invoices"] == ["cesce-invoices.rekey"]
    assert groups["invoices.receive.erp.invoices.by-debtor"] == ["cesce-invoices"]
    assert groups["non-payments.claims-poller.receive.cesce.claim-files"] == ["cesce-non-payments.claims-poller"]
    for operation in document["operations"].values():  # every message an operation names is its channel's
        channel = _ref(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert _ref(document, message["$ref"]) in channel["messages"].values()


def test_outputs_carry_their_avro_record_from_schemas_and_a_documented_key() -> None:
    """Results and state topics: the record of `schemas/` as registered (schemaFormat Avro 1.9.0, the Confluent
    wire format, subjects by the configured strategy), its key, and the headers every published record carries;
    state topics are compacted."""
    document = asyncapi_document({})
    written: dict[str, str] = {}
    for spec in topology({}):
        written |= {topic: spec.schemas[topic] for topic in spec.output_topics if topic in spec.schemas}
    assert written, "the workers write Avro records"
    for topic, record in written.items():
        channel = _channel_of(document, topic)
        (message,) = channel["messages"].values()
        assert message["name"] == record
        assert message["payload"]["schemaFormat"] == AVRO_SCHEMA_FORMAT
        assert message["payload"]["schema"] == json.loads(CATALOG.schema_str(record))
        kafka = message["bindings"]["kafka"]
        assert kafka["key"]["description"] == KEYS[record].description
        assert (kafka["schemaIdLocation"], kafka["schemaLookupStrategy"]) == ("payload", "TopicNameStrategy")
        assert {"source.topic", "source.partition", "source.offset", SOURCE_OUTPUT} <= set(
            message["headers"]["properties"]
        )
        policy = channel["bindings"]["kafka"].get("topicConfiguration", {}).get("cleanup.policy")
        assert policy == (["compact"] if record.startswith("cesce.state.") else None), topic
    assert _channel_of(document, "cesce.sale-results")["messages"]["SaleResult"]["bindings"]["kafka"]["key"] == {
        "type": "string",
        "description": "the debtor (customerReference, else endorsementNo)",
    }


def test_erp_inputs_carry_the_debezium_envelope_and_the_rekeyed_topics_the_same_by_debtor() -> None:
    """The ERP topics: Debezium's envelope of the row schema, keyed by the primary key; the companion's
    ``<topic>.by-debtor`` the same envelope keyed by debtor, with the row key and origin headers."""
    document = asyncapi_document({})
    for topic, row in [
        ("erp.invoices", "cesce.erp.Invoice"),
        ("erp.credit-requests", "cesce.erp.CreditRequest"),
        ("erp.non-payments", "cesce.erp.NonPayment"),
    ]:
        source = _channel_of(document, topic)
        (message,) = source["messages"].values()
        assert message["payload"]["schema"] == json.loads(CATALOG.schema_str(f"{row}Envelope"))
        assert "primary key" in message["bindings"]["kafka"]["key"]["description"]
        assert _operations(document, "send", topic) == {"dlq-replay"}  # nobody of ours writes the ERP's topic
        rekeyed = _channel_of(document, f"{topic}.by-debtor")
        (copy,) = rekeyed["messages"].values()
        assert copy["payload"] == message["payload"]
        assert {"cesce.row-key", "cesce.origin"} <= set(copy["headers"]["properties"])
        worker = topic.removeprefix("erp.")
        assert _operations(document, "send", f"{topic}.by-debtor") >= {f"{worker}.rekey"}
        assert _operations(document, "receive", f"{topic}.by-debtor") == {worker}


def test_dead_letter_topics_carry_the_headers_the_runtime_writes() -> None:
    """Every header `dead_letter_headers` writes (asked of it, not copied), the oversized and replay headers, and
    the categories as an enum; the value is the original's bytes."""
    document = asyncapi_document({})
    channel = _channel_of(document, "erp.invoices.dlq")
    (message,) = channel["messages"].values()
    headers = message["headers"]["properties"]
    assert set(dead_letter_header_names()) | {OMITTED, REPLAY_COUNT, REPLAY_SOURCE} <= set(headers)
    assert {"dlq.category", "dlq.error.code", "dlq.original.topic", "dlq.original.traceparent"} <= set(headers)
    assert headers["dlq.category"]["enum"] == [str(category) for category in ErrorCategory]
    assert "erp.invoices.by-debtor" in channel["description"]  # the worker's dead letters go where its source's do
    assert _operations(document, "send", "erp.invoices.dlq") == {"invoices", "invoices.rekey"}


def test_a_header_the_document_does_not_describe_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A header added to dead letters without a line in `DLQ_HEADERS` cannot reach the document undescribed."""
    real = asyncapi.dead_letter_headers

    def with_a_new_header(*args: Any) -> list[tuple[str, bytes]]:
        return [*real(*args), ("dlq.new", b"")]

    monkeypatch.setattr(asyncapi, "dead_letter_headers", with_a_new_header)
    assert dead_letter_header_names()[-1] == "dlq.new"  # asked of the function that writes them
    with pytest.raises(ValueError, match=r"does not describe: dlq\.new"):
        asyncapi_document({})


def test_a_record_without_a_documented_key_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = dict(KEYS)
    del keys["cesce.results.SaleResult"]
    monkeypatch.setattr(asyncapi, "KEYS", keys)
    with pytest.raises(ValueError, match=r"cesce\.sale-results: no key is documented for cesce\.results\.SaleResult"):
        asyncapi_document({})


def test_topic_settings_rename_channels_and_the_strategy_follows_the_registry_setting() -> None:
    """The same variables `cesce-worker run` reads: a renamed input renames its channel and its dead-letter topic
    (``WORKER_DLQ_SUFFIX`` too); a source keyed by debtor has no re-keyed topic; the subject name strategy is the
    registry setting's."""
    env = {
        "INVOICES_TOPIC": "acme.facturas",
        "INVOICES_KEYED_BY_DEBTOR": "true",
        "SALE_RESULTS_TOPIC": "acme.resultados",
        "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": "record",
        "DLQ_REPLAYS_TOPIC": "acme.replays",
        "WORKER_DLQ_SUFFIX": ".dead",
    }
    document = asyncapi_document(env)
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {"acme.facturas", "acme.facturas.dead", "acme.resultados", "acme.replays"} <= addresses
    assert not {"erp.invoices", "erp.invoices.by-debtor", "cesce.sale-results", DEFAULT_REPLAYS_TOPIC} & addresses
    assert not [address for address in addresses if address.endswith(".dlq")]
    assert _operations(document, "receive", "acme.facturas") == {"invoices"}
    (message,) = _channel_of(document, "acme.resultados")["messages"].values()
    assert message["bindings"]["kafka"]["schemaLookupStrategy"] == "RecordNameStrategy"


def test_the_server_is_the_bootstrap_setting_or_a_variable() -> None:
    placeholder = asyncapi_document({})["servers"]["kafka"]
    assert (placeholder["host"], placeholder["protocol"]) == ("{bootstrap}", "kafka")
    assert "KAFKA_BOOTSTRAP_SERVERS" in placeholder["variables"]["bootstrap"]["description"]
    named = asyncapi_document({"KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092,kafka-1:9092"})["servers"]["kafka"]
    assert named["host"] == "kafka-0:9092,kafka-1:9092"
    assert "variables" not in named


def test_the_command_writes_the_document_and_never_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """To a file with --output, else to stdout; the Cesce settings (credentials included) are not read."""
    monkeypatch.setenv("CESCE_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("CESCE_BASE_URL", "not a url")  # would be refused if it were read
    monkeypatch.setenv("RISK_CONTRACTS", "not-a-contract")
    target = tmp_path / "asyncapi.json"
    assert main(["asyncapi", "--output", str(target)]) == 0
    written = target.read_text(encoding="utf-8")
    assert "s3cr3t-value" not in written
    assert json.loads(written)["info"]["title"] == "cesce-workers"
    assert f"wrote {target}" in capsys.readouterr().err
    assert main(["asyncapi"]) == 0
    assert capsys.readouterr().out == written


def test_a_setting_it_cannot_use_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVOICES_KEYED_BY_DEBTOR", "perhaps")
    assert main(["asyncapi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cesce-worker asyncapi: configuration error: INVOICES_KEYED_BY_DEBTOR")
    assert "perhaps" not in err
    assert err.count("\n") == 1


def test_a_file_it_cannot_write_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi", "--output", str(tmp_path / "missing" / "asyncapi.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cesce-worker asyncapi: cannot write ")
    assert err.count("\n") == 1


def test_the_validator_is_pinned_to_the_asyncapi_3_parser() -> None:
    """tests/asyncapi pins exact versions, the same in package.json and its lock (``npm ci`` installs the lock):
    the parser's 3.x line, which reads AsyncAPI 3 documents, and the Avro schema parser made for it."""
    checker = Path(__file__).parents[2] / "asyncapi"
    pinned = json.loads((checker / "package.json").read_text(encoding="utf-8"))["dependencies"]
    locked = json.loads((checker / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert set(pinned) == {"@asyncapi/parser", "@asyncapi/avro-schema-parser"}
    for name, version in pinned.items():
        assert version[0].isdigit(), f"{name}: {version} is a range, not a pin"
        assert locked[f"node_modules/{name}"]["version"] == version
        assert version.startswith("3."), name
