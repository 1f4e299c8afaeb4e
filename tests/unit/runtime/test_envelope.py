"""CDC envelopes as Avro, as JSON and as Kafka Connect JSON: the same Envelope, exact to the cent."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.envelope import Envelope, EnvelopeDecoder, envelope_from, unwrap_connect
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec, DeserializationError, ErrorCode

TEST_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
DIRS = (DEFAULT_SCHEMAS_DIR, TEST_SCHEMAS)
CATALOG = SchemaCatalog.load(DIRS)
ROW_SCHEMA = CATALOG.by_name("cesce.test.Row")

SOURCE = {"connector": "postgresql", "db": "erp", "table": "invoices", "lsn": 24023128}
AFTER = {"id": "INV-1", "amount": Decimal("1234.50"), "issued": date(2024, 1, 15), "note": None}
EXPECTED = Envelope(op="c", before=None, after=AFTER, ts_ms=1704067200000, source=SOURCE)


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return schema_registry_client("mock://envelope", DIRS)


@pytest.fixture
def decoder(registry: SchemaRegistryClient) -> EnvelopeDecoder:
    return EnvelopeDecoder(registry, "cesce.test.Row", catalog=CATALOG)


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def plain(**changes: Any) -> dict[str, Any]:
    """A Debezium JSON envelope (schemas.enable=false) with an ISO date and a decimal string."""
    document = {
        "before": None,
        "after": {"id": "INV-1", "amount": "1234.50", "issued": "2024-01-15", "note": None, "erp_column": 7},
        "op": "c",
        "ts_ms": 1704067200000,
        "source": SOURCE,
    }
    return document | changes


# A Kafka Connect JsonConverter envelope (schemas.enable=true) as Debezium writes it: the decimal as
# base64 unscaled bytes with its scale in the schema, the date as days since the epoch.
_ROW_FIELDS = [
    {"type": "string", "optional": False, "field": "id"},
    {
        "type": "bytes",
        "optional": False,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "17"},
        "field": "amount",
    },
    {"type": "int32", "optional": False, "name": "io.debezium.time.Date", "version": 1, "field": "issued"},
    {"type": "string", "optional": True, "field": "note"},
]
CONNECT = {
    "schema": {
        "type": "struct",
        "name": "erp.public.invoices.Envelope",
        "optional": False,
        "fields": [
            {
                "type": "struct",
                "fields": _ROW_FIELDS,
                "optional": True,
                "name": "erp.public.invoices.Value",
                "field": "before",
            },
            {
                "type": "struct",
                "fields": _ROW_FIELDS,
                "optional": True,
                "name": "erp.public.invoices.Value",
                "field": "after",
            },
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
            {
                "type": "struct",
                "fields": [],
                "optional": False,
                "name": "io.debezium.connector.postgresql.Source",
                "field": "source",
            },
        ],
    },
    "payload": {
        "before": None,
        "after": {"id": "INV-1", "amount": "AeI6", "issued": 19737, "note": None},
        "op": "c",
        "ts_ms": 1704067200000,
        "source": SOURCE,
    },
}


def test_plain_json(decoder: EnvelopeDecoder) -> None:
    assert decoder.decode(as_json(plain()), "erp.invoices") == EXPECTED


def test_connect_json_with_base64_decimal_and_epoch_days(decoder: EnvelopeDecoder) -> None:
    assert decoder.decode(as_json(CONNECT), "erp.invoices") == EXPECTED


def test_connect_wrapper_without_a_schema(decoder: EnvelopeDecoder) -> None:
    assert decoder.decode(as_json({"schema": None, "payload": plain()}), "t") == EXPECTED


def test_avro(registry: SchemaRegistryClient, decoder: EnvelopeDecoder) -> None:
    writer = AvroCodec(registry, "cesce.test.RowEnvelope", catalog=CATALOG)
    data = writer.encode({"before": None, "after": AFTER, "op": "c", "ts_ms": 1704067200000, "source": SOURCE}, "t")
    assert data[0] == 0
    assert decoder.decode(data, "erp.invoices") == EXPECTED


def test_json_numbers_are_exact_never_floats(decoder: EnvelopeDecoder) -> None:
    data = b'{"op": "r", "after": {"id": "X", "amount": 0.30, "issued": 0}, "source": {}}'
    envelope = decoder.decode(data, "t")
    assert envelope.after is not None
    assert str(envelope.after["amount"]) == "0.30"
    assert envelope.after["issued"] == date(1970, 1, 1)
    assert envelope.ts_ms is None


def test_an_update_carries_both_images(decoder: EnvelopeDecoder) -> None:
    before = plain()["after"] | {"amount": "1000.00"}
    envelope = decoder.decode(as_json(plain(op="u", before=before)), "t")
    assert envelope.op == "u"
    assert envelope.before is not None
    assert envelope.before["amount"] == Decimal("1000.00")
    assert envelope.after == AFTER


def test_a_delete_carries_the_before_image(decoder: EnvelopeDecoder) -> None:
    envelope = decoder.decode(as_json(plain(op="d", before=plain()["after"], after=None)), "t")
    assert (envelope.op, envelope.before, envelope.after) == ("d", AFTER, None)


def test_columns_the_row_schema_does_not_know_are_ignored(decoder: EnvelopeDecoder) -> None:
    envelope = decoder.decode(as_json(plain()), "t")
    assert envelope.after is not None
    assert "erp_column" not in envelope.after


def test_a_missing_source_is_empty() -> None:
    envelope = envelope_from({"op": "r", "after": {"id": "X", "amount": 1, "issued": 1}}, ROW_SCHEMA)
    assert envelope.source == {}


@pytest.mark.parametrize(
    ("document", "code", "field", "words"),
    [
        (plain(op="x"), ErrorCode.BAD_FIELD, "op", "'x' is not one of c, u, d, r"),
        (plain(after=None), ErrorCode.BAD_FIELD, "after", "op 'c' must carry"),
        (plain(ts_ms="yesterday"), ErrorCode.BAD_FIELD, "ts_ms", "milliseconds"),
        (plain(ts_ms=True), ErrorCode.BAD_FIELD, "ts_ms", "milliseconds"),
        (plain(source=[1]), ErrorCode.BAD_FIELD, "source", "expected an object"),
        (
            plain(after={"id": "X", "amount": "1.005", "issued": "2024-01-15"}),
            ErrorCode.BAD_FIELD,
            "after.amount",
            "decimal places",
        ),
        (
            plain(after={"id": "X", "amount": "1.00", "issued": "2024-13-01"}),
            ErrorCode.BAD_FIELD,
            "after.issued",
            "calendar",
        ),
        (plain(after={"id": "X", "amount": "1.00"}), ErrorCode.BAD_FIELD, "after.issued", "missing"),
        (plain(after={"id": 5, "amount": "1.00", "issued": 1}), ErrorCode.BAD_FIELD, "after.id", "expected a string"),
        (plain(after="INV-1"), ErrorCode.BAD_FIELD, "after", "expected an object"),
        ({"before": None, "after": {}}, ErrorCode.NOT_AN_ENVELOPE, None, "no 'op'"),
        ([plain()], ErrorCode.NOT_AN_ENVELOPE, None, "expected an object"),
        (None, ErrorCode.NOT_AN_ENVELOPE, None, "got null"),
        ({"schema": {}, "payload": None}, ErrorCode.NOT_AN_ENVELOPE, None, "got null"),
    ],
)
def test_bad_envelopes_name_the_field(
    decoder: EnvelopeDecoder, document: Any, code: ErrorCode, field: str | None, words: str
) -> None:
    with pytest.raises(DeserializationError, match=words) as caught:
        decoder.decode(as_json(document), "t")
    assert caught.value.code == code
    assert caught.value.field == field
    if field is not None:
        assert caught.value.reason.startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not json", ErrorCode.NOT_JSON),
        (b"\xff\xfe{}", ErrorCode.NOT_JSON),
        (b'{"op": NaN}', ErrorCode.NOT_JSON),
        (b"\x00\x00\x00\x00\x63body", ErrorCode.UNKNOWN_SCHEMA_ID),
        (b"\x00\x00", ErrorCode.TRUNCATED),
    ],
)
def test_bytes_that_are_neither_avro_nor_json(decoder: EnvelopeDecoder, data: bytes | None, code: ErrorCode) -> None:
    with pytest.raises(DeserializationError) as caught:
        decoder.decode(data, "t")
    assert caught.value.code == code


def test_an_avro_row_without_an_envelope_reads_as_an_unwrapped_row(
    registry: SchemaRegistryClient, decoder: EnvelopeDecoder
) -> None:
    row = AvroCodec(registry, "cesce.test.Row", catalog=CATALOG).encode(AFTER, "t")
    assert decoder.decode(row, "t") == Envelope(op="r", before=None, after=AFTER, ts_ms=None, source={})


def test_unwrap_connect_only_unwraps_the_exact_wrapper() -> None:
    assert unwrap_connect({"schema": {"type": "struct"}, "payload": {"op": "c"}}) == ({"op": "c"}, {"type": "struct"})
    assert unwrap_connect({"schema": "x", "payload": 1}) == (1, None)
    document = {"schema": {}, "payload": {}, "op": "c"}
    assert unwrap_connect(document) == (document, None)
