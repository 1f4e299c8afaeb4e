"""Avro in the Confluent wire format (exact bytes), exact JSON, and `coerce`: no cent lost, every error named."""

from __future__ import annotations

import base64
import contextlib
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import EncodeError, RegistryMismatch, RegistryUnavailable, SetupError
from workers.runtime.registry import RegistrySettings, SubjectStrategy, schema_registry_client
from workers.runtime.serde import (
    TOMBSTONE,
    AvroCodec,
    AvroReader,
    DeserializationError,
    ErrorCode,
    FieldError,
    Tombstone,
    coerce,
    dumps_exact,
    loads_exact,
    wire_schema_id,
)

TEST_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
DIRS = (DEFAULT_SCHEMAS_DIR, TEST_SCHEMAS)
CATALOG = SchemaCatalog.load(DIRS)
ROW_ID = CATALOG.names().index("cesce.test.Row") + 1
ROW = {"id": "INV-1", "amount": Decimal("1234.50"), "issued": date(2024, 1, 15), "note": None}
DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 17, "scale": 2}
DATE = {"type": "int", "logicalType": "date"}
RECORD_A = {"type": "record", "name": "cesce.x.R", "fields": [{"name": "a", "type": "int"}]}


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return schema_registry_client("mock://serde", DIRS)


@pytest.fixture
def codec(registry: SchemaRegistryClient) -> AvroCodec:
    return AvroCodec(registry, "cesce.test.Row", catalog=CATALOG)


def frame(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


# --- the wire format, byte for byte --------------------------------------------------------------

# id "INV-1": zigzag length 5 -> 0x0a, then the UTF-8 bytes
# amount 1234.50 at scale 2: unscaled 123450 = 0x01e23a, length 3 -> 0x06
# issued 2024-01-15: 19737 days, zigzag 39474 -> varint b2 b4 02
# note null: union branch 0 -> 0x00
ROW_BODY = b"\x0aINV-1" + b"\x06\x01\xe2\x3a" + b"\xb2\xb4\x02" + b"\x00"


def test_encode_writes_magic_byte_schema_id_and_the_avro_body(codec: AvroCodec) -> None:
    assert codec.schema_id == ROW_ID
    assert codec.encode(ROW, "erp.rows") == frame(ROW_ID, ROW_BODY)


def test_a_present_optional_field_takes_union_branch_one(codec: AvroCodec) -> None:
    data = codec.encode({**ROW, "note": "hé"}, "t")
    assert data == frame(ROW_ID, ROW_BODY[:-1] + b"\x02\x06h\xc3\xa9")


def test_negative_amounts_are_twos_complement(codec: AvroCodec) -> None:
    data = codec.encode({**ROW, "amount": Decimal("-0.01")}, "t")
    assert data == frame(ROW_ID, b"\x0aINV-1" + b"\x02\xff" + b"\xb2\xb4\x02" + b"\x00")  # 1 byte: unscaled -1
    assert codec.decode(data, "t")["amount"] == Decimal("-0.01")


def test_decode_gives_back_decimal_and_date(codec: AvroCodec) -> None:
    row = codec.decode(frame(ROW_ID, ROW_BODY), "any-topic")
    assert row == ROW
    assert str(row["amount"]) == "1234.50"


def test_each_topic_gets_its_subject_and_the_one_id_of_the_schema(
    registry: SchemaRegistryClient, codec: AvroCodec
) -> None:
    assert codec.encode(ROW, "a") == codec.encode(ROW, "b") == frame(ROW_ID, ROW_BODY)
    assert {"a-value", "b-value"} <= set(registry.get_subjects())
    assert codec.subject("a") == "a-value"


@pytest.mark.parametrize(
    ("strategy", "subject"),
    [(SubjectStrategy.RECORD, "cesce.test.Row"), (SubjectStrategy.TOPIC_RECORD, "t-cesce.test.Row")],
)
def test_the_registry_settings_choose_the_subject(strategy: SubjectStrategy, subject: str) -> None:
    registry = schema_registry_client(
        "mock://strategy", DIRS, settings=RegistrySettings(subject_name_strategy=strategy)
    )
    codec = AvroCodec(registry, "cesce.test.Row", catalog=CATALOG)
    assert codec.encode(ROW, "t") == frame(ROW_ID, ROW_BODY)
    assert codec.subject("t") == subject
    assert registry.lookup_schema(subject, Schema(CATALOG.schema_str("cesce.test.Row"), "AVRO")).schema_id == ROW_ID


def test_without_auto_registration_a_subject_not_registered_stops_the_start() -> None:
    registry = schema_registry_client("mock://lookup-only", DIRS, settings=RegistrySettings(auto_register=False))
    codec = AvroCodec(registry, "cesce.test.Row", catalog=CATALOG)
    with pytest.raises(RegistryMismatch) as caught:
        codec.prepare("cesce.rows")
    assert "cesce.test.Row" in str(caught.value)
    assert "subject cesce.rows-value" in str(caught.value)
    assert "`cesce-worker schemas register`" in str(caught.value)
    assert registry.get_subjects() == list(CATALOG.names())  # looked up, nothing registered

    registry.register_schema("cesce.rows-value", Schema(CATALOG.schema_str("cesce.test.Row"), "AVRO"))
    assert codec.prepare("cesce.rows") == ROW_ID
    assert codec.encode(ROW, "cesce.rows") == frame(ROW_ID, ROW_BODY)


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (SchemaRegistryError(409, 409, "Schema being registered is incompatible"), SetupError, "schemas check"),
        (SchemaRegistryError(403, 40301, "User is denied operation Write"), SetupError, "AUTO_REGISTER=false"),
        (SchemaRegistryError(422, 42201, "Invalid schema"), RegistryMismatch, "Invalid schema"),
        (SchemaRegistryError(503, 50003, "Error while forwarding the request"), RegistryUnavailable, "forwarding"),
        (ConnectionError("refused"), RegistryUnavailable, "ConnectionError: refused"),
    ],
)
def test_what_the_registry_answers_becomes_the_error_to_act_on(
    registry: SchemaRegistryClient, error: Exception, kind: type[Exception], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(subject: str, schema: Schema) -> int:
        raise error

    monkeypatch.setattr(registry, "register_schema", refuse)
    with pytest.raises(kind, match=words) as caught:
        AvroCodec(registry, "cesce.test.Row", catalog=CATALOG).encode(ROW, "cesce.rows")
    assert "cesce.rows-value" in str(caught.value)


def test_json_forms_encode_to_the_same_bytes(codec: AvroCodec) -> None:
    as_json = {"id": "INV-1", "amount": "1234.5", "issued": "2024-01-15"}
    as_debezium = {"id": "INV-1", "amount": 1234.5, "issued": 19737}
    assert codec.encode(as_json, "t") == codec.encode(loads_exact('{"id":"INV-1","amount":1234.5,"issued":19737}'), "t")
    assert codec.encode(as_json, "t") == frame(ROW_ID, ROW_BODY)
    with pytest.raises(EncodeError, match="float"):
        codec.encode(as_debezium, "t")  # a Python float is refused: parse JSON with loads_exact


def test_a_wider_writer_is_read_through_schema_resolution(registry: SchemaRegistryClient, codec: AvroCodec) -> None:
    envelope = AvroCodec(registry, "cesce.test.RowEnvelope", catalog=CATALOG)
    with pytest.raises(DeserializationError) as caught:
        envelope.decode(codec.encode(ROW, "t"), "t")
    assert caught.value.code == ErrorCode.WRONG_SCHEMA
    assert "cesce.test.RowEnvelope" in caught.value.reason
    assert len(caught.value.reason) < 300


def test_the_reader_decodes_with_the_writers_schema(registry: SchemaRegistryClient, codec: AvroCodec) -> None:
    decoded = AvroReader(registry).decode(codec.encode(ROW, "t"), "t")
    assert (decoded.schema_id, decoded.schema_name, decoded.value) == (ROW_ID, "cesce.test.Row", ROW)


def test_a_schema_the_mock_does_not_know_stops_the_codec_at_its_first_topic() -> None:
    registry = schema_registry_client("mock://product-only", [DEFAULT_SCHEMAS_DIR])
    codec = AvroCodec(registry, "cesce.test.Row", catalog=CATALOG)
    with pytest.raises(RegistryMismatch, match=r"cesce\.test\.Row .* under subject t-value .* is refused"):
        codec.prepare("t")
    with pytest.raises(RegistryMismatch, match=r"under subject cesce\.test\.Row .* is not registered"):
        _ = codec.schema_id


# --- decode errors: a code, a reason, nothing bare -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY),
        (b"\x00\x00\x01", ErrorCode.TRUNCATED),
        (b"\x01" + ROW_ID.to_bytes(4, "big") + ROW_BODY, ErrorCode.BAD_MAGIC),
        (b'{"id": "INV-1"}', ErrorCode.BAD_MAGIC),
        (frame(999, ROW_BODY), ErrorCode.UNKNOWN_SCHEMA_ID),
        (frame(ROW_ID, b"\x0aINV"), ErrorCode.BAD_AVRO),
        (frame(ROW_ID, b"\x0aINV-1\x06\x01"), ErrorCode.BAD_AVRO),
        (frame(ROW_ID, b"\x0a\xff\xfe\xfd\xfc\xfb\x00\x00\x00"), ErrorCode.BAD_AVRO),
        (frame(ROW_ID, ROW_BODY[:-1] + b"\x08"), ErrorCode.BAD_AVRO),  # union branch 4 of 2
        (frame(ROW_ID, b""), ErrorCode.BAD_AVRO),
    ],
)
def test_decode_failures_carry_a_code_and_a_reason(codec: AvroCodec, data: bytes, code: ErrorCode) -> None:
    with pytest.raises(DeserializationError) as caught:
        codec.decode(data, "t")
    assert caught.value.code == code
    assert caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_random_bytes_only_ever_raise_deserialization_error(codec: AvroCodec, registry: SchemaRegistryClient) -> None:
    reader = AvroReader(registry)
    rng = random.Random(20300110)
    for _ in range(500):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 24)))
        for data in (body, frame(ROW_ID, body), frame(rng.randrange(1, 4), body)):
            for decode in (codec.decode, reader.decode):
                with contextlib.suppress(DeserializationError):  # anything else fails the test
                    decode(data, "t")


class _DownRegistry(SchemaRegistryClient):
    """A registry that answers 503 or does not answer at all."""

    def __init__(self, failure: Exception) -> None:
        super().__init__({"url": "http://127.0.0.1:9"})
        self.failure = failure

    def get_schema(self, *args: Any, **kwargs: Any) -> Any:
        raise self.failure


@pytest.mark.parametrize(
    "failure", [SchemaRegistryError(503, 50300, "unavailable"), ConnectionError("connection refused")]
)
def test_an_unreachable_registry_is_transient_not_a_bad_record(failure: Exception) -> None:
    with pytest.raises(RegistryUnavailable):
        AvroReader(_DownRegistry(failure)).decode(frame(ROW_ID, ROW_BODY), "t")


def test_a_tombstone_is_empty(codec: AvroCodec) -> None:
    with pytest.raises(DeserializationError) as caught:
        codec.decode(None, "t")
    assert caught.value.code == ErrorCode.EMPTY


def test_wire_schema_id_reads_four_big_endian_bytes() -> None:
    assert wire_schema_id(b"\x00\x01\x02\x03\x04rest") == 0x01020304


# --- encode errors name the field ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"amount": 1234.5}, "amount", "float"),
        ({"amount": "1234.505"}, "amount", "more than 2 decimal places"),
        ({"amount": Decimal("1E+15")}, "amount", "more than 17 digits"),
        ({"amount": "12,50"}, "amount", "not a decimal"),
        ({"amount": "NaN"}, "amount", "not a decimal"),
        ({"issued": "15/01/2024"}, "issued", "expected a date"),
        ({"issued": datetime(2024, 1, 15, tzinfo=UTC)}, "issued", "got a timestamp"),
        ({"id": 7}, "id", "expected a string"),
        ({"note": 7}, "note", "expected a string"),
        ({"extra": 1}, "extra", "not a field of cesce.test.Row"),
    ],
)
def test_encode_refuses_what_the_schema_refuses(
    codec: AvroCodec, change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(EncodeError, match=words) as caught:
        codec.encode({**ROW, **change}, "t")
    assert caught.value.field == field
    assert f"cesce.test.Row.{field}" in caught.value.reason


def test_encode_names_a_missing_required_field(codec: AvroCodec) -> None:
    with pytest.raises(EncodeError, match=r"cesce\.test\.Row\.issued: missing") as caught:
        codec.encode({"id": "x", "amount": "1.00"}, "t")
    assert caught.value.field == "issued"


# --- coerce --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("1234.500", "1234.50"),  # a zero beyond the scale loses nothing
        ("-0.01", "-0.01"),
        ("+7", "7.00"),
        (".5", "0.50"),
        ("1.2E+3", "1200.00"),
        (12, "12.00"),
        (Decimal("0.1") + Decimal("0.2"), "0.30"),
        (Decimal("999999999999999.99"), "999999999999999.99"),
        (b"\x01\xe2\x3a", "1234.50"),  # Avro decimal bytes read without the logical type
        ("-0.00", "0.00"),
        ("0E+999999999", "0.00"),  # answered without computing 10**999999999
        ("0E-999999999", "0.00"),
        ("1.2300000000000000000000000000000000000000", "1.23"),
    ],
)
def test_decimals_are_exact_at_the_schema_scale(value: Any, expected: str) -> None:
    result = coerce(value, DECIMAL, path="amount")
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_debezium_variable_scale_decimal() -> None:
    unscaled_12345 = base64.b64encode(b"\x30\x39").decode()
    assert str(coerce({"scale": 1, "value": unscaled_12345}, DECIMAL)) == "1234.50"
    with pytest.raises(FieldError, match="more than 2 decimal places"):
        coerce({"scale": 3, "value": unscaled_12345}, DECIMAL)  # 12.345
    with pytest.raises(FieldError, match="integer scale"):
        coerce({"scale": "1", "value": unscaled_12345}, DECIMAL)


def test_a_connect_schema_turns_base64_into_a_decimal() -> None:
    connect = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}
    assert str(coerce("AeI6", DECIMAL, connect=connect)) == "1234.50"
    with pytest.raises(FieldError, match="not a decimal"):
        coerce("AeI6", DECIMAL)  # without the Connect schema it is just a bad string
    with pytest.raises(FieldError, match="no scale"):
        coerce("AeI6", DECIMAL, connect={"name": "org.apache.kafka.connect.data.Decimal"})


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1E-999999999", "more than 2 decimal places"),
        ("1E+999999999", "more than 17 digits"),
        ("0.001", "more than 2 decimal places"),
        ("1000000000000000.00", "more than 17 digits"),
    ],
)
def test_extreme_exponents_fail_fast(value: str, words: str) -> None:
    with pytest.raises(FieldError, match=words):
        coerce(value, DECIMAL)


@pytest.mark.parametrize("value", [True, None, [1], "1 234,50", "0x10", "", " 1.00"])
def test_things_that_are_not_decimals(value: Any) -> None:
    with pytest.raises(FieldError) as caught:
        coerce(value, DECIMAL, path="after.amount")
    assert caught.value.field == "after.amount"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15", date(2024, 1, 15)),
        (19737, date(2024, 1, 15)),
        (0, date(1970, 1, 1)),
        (-1, date(1969, 12, 31)),
        (date(2030, 1, 10), date(2030, 1, 10)),
    ],
)
def test_dates_from_iso_text_or_days_since_the_epoch(value: Any, expected: date) -> None:
    assert coerce(value, DATE) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2024-02-30", "not a calendar date"),
        ("20240115", "expected a date"),
        ("2024-01-15T00:00:00", "expected a date"),
        (10**9, "out of range"),
        (True, "expected a date"),
        (Decimal("19737.0"), "expected a date"),
    ],
)
def test_bad_dates(value: Any, words: str) -> None:
    with pytest.raises(FieldError, match=words):
        coerce(value, DATE, path="issued")


def test_timestamps() -> None:
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    expected = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
    assert coerce(int(expected.timestamp() * 1000), millis) == expected
    assert coerce("2030-01-10T13:00:00+01:00", millis) == expected
    assert coerce(expected.astimezone(timezone(timedelta(hours=-5))), millis) == expected
    micros = {"type": "long", "logicalType": "timestamp-micros"}
    assert coerce(int(expected.timestamp()) * 1_000_000, micros) == expected
    with pytest.raises(FieldError, match="UTC offset"):
        coerce("2030-01-10T12:00:00", millis)


def test_primitives_enums_arrays_maps_and_unions() -> None:
    schema = {
        "type": "record",
        "name": "cesce.x.All",
        "fields": [
            {"name": "flag", "type": "boolean"},
            {"name": "count", "type": "int"},
            {"name": "big", "type": "long"},
            {"name": "ratio", "type": "double"},
            {"name": "raw", "type": "bytes"},
            {"name": "kind", "type": {"type": "enum", "name": "cesce.x.Kind", "symbols": ["SALE", "CREDIT"]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "extra", "type": {"type": "map", "values": "int"}},
            {"name": "either", "type": ["null", "int", "string"]},
            {"name": "fixed", "type": {"type": "fixed", "name": "cesce.x.Two", "size": 2}},
            {"name": "defaulted", "type": "string", "default": "D"},
        ],
    }
    value = {
        "flag": True,
        "count": 3,
        "big": 2**40,
        "ratio": Decimal("0.5"),
        "raw": base64.b64encode(b"hi").decode(),
        "kind": "CREDIT",
        "tags": ["a", "b"],
        "extra": {"x": 1},
        "either": "text",
        "fixed": b"ab",
        "unknown column": "ignored",
    }
    expected = {key: item for key, item in value.items() if key != "unknown column"}
    assert coerce(value, schema) == {**expected, "ratio": 0.5, "raw": b"hi", "defaulted": "D"}


@pytest.mark.parametrize(
    ("schema", "value", "field", "words"),
    [
        ("int", 2**31, "v", "does not fit"),
        ("int", True, "v", "expected an integer"),
        ("long", Decimal("1.5"), "v", "expected an integer"),
        ("boolean", 1, "v", "expected true or false"),
        ("double", "1.5", "v", "expected a number"),
        ("bytes", "not base64!", "v", "not base64"),
        ("null", 0, "v", "expected null"),
        ({"type": "enum", "name": "cesce.x.E", "symbols": ["A"]}, "B", "v", "not one of A"),
        ({"type": "array", "items": "int"}, [1, "2"], "v[1]", "expected an integer"),
        ({"type": "map", "values": "int"}, {"k": "x"}, "v.k", "expected an integer"),
        ({"type": "fixed", "name": "cesce.x.F", "size": 2}, b"abc", "v", "expected 2 bytes"),
        (["int", "boolean"], "x", "v", "matches none"),
        (["int", "boolean"], None, "v", "null where a value is required"),
        (RECORD_A, [], "v", "expected an object"),
        (RECORD_A, {}, "v.a", "missing"),
    ],
)
def test_coerce_errors_name_the_field(schema: Any, value: Any, field: str, words: str) -> None:
    with pytest.raises(FieldError, match=words) as caught:
        coerce(value, schema, path="v")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


# --- exact JSON ----------------------------------------------------------------------------------


def test_loads_exact_never_makes_a_float() -> None:
    parsed = loads_exact(b'{"a": 0.1, "b": 2, "c": [1.10, -0.0]}')
    assert parsed == {"a": Decimal("0.1"), "b": 2, "c": [Decimal("1.10"), Decimal("-0.0")]}
    assert str(parsed["c"][0]) == "1.10"


@pytest.mark.parametrize(
    "text", [b"NaN", b'{"a": Infinity}', b"{", b"\xff\xfe", b"", b"[" * 100_000, b"{} {}", "\ufeff{}".encode()]
)
def test_loads_exact_refusals_are_not_json(text: bytes) -> None:
    with pytest.raises(DeserializationError) as caught:
        loads_exact(text)
    assert caught.value.code == ErrorCode.NOT_JSON


def test_a_byte_order_mark_is_named() -> None:
    with pytest.raises(DeserializationError, match="BOM"):
        loads_exact("\ufeff{}")


def test_dumps_exact_keeps_every_digit() -> None:
    value = {"amount": Decimal("1234.50"), "big": Decimal("1E+2"), "when": date(2030, 1, 10), "raw": b"\x00", "ñ": None}
    assert dumps_exact(value) == '{"amount":1234.50,"big":100,"when":"2030-01-10","raw":"AA==","ñ":null}'
    assert dumps_exact([Decimal("0.10")], decimal_as="string") == '["0.10"]'
    assert loads_exact(dumps_exact(value))["amount"] == Decimal("1234.50")


@pytest.mark.parametrize("value", [Decimal("NaN"), object(), float("inf")])
def test_dumps_exact_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        dumps_exact({"v": value})


def test_a_tombstone_is_a_type_of_its_own() -> None:
    assert Tombstone() is TOMBSTONE
    assert repr(TOMBSTONE) == "TOMBSTONE"
    assert TOMBSTONE != "tombstone", "no decoded string can pass for one"
