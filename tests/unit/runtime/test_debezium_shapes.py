"""Records as Debezium really emits them: tombstones, truncates, rows unwrapped by ExtractNewRecordState (with and
without its ``__`` fields, deletes rewritten), and before-images PostgreSQL's default REPLICA IDENTITY leaves out."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from workers.runtime.contract import Skip
from workers.runtime.envelope import Envelope, EnvelopeDecoder
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import DeserializationError, ErrorCode

from .test_envelope import AFTER, CATALOG, DIRS, as_json, plain

ROW = {"id": "INV-1", "amount": "1234.50", "issued": "2024-01-15", "note": None}


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return schema_registry_client("mock://shapes", DIRS)


@pytest.fixture
def decoder(registry: SchemaRegistryClient) -> EnvelopeDecoder:
    return EnvelopeDecoder(registry, "cesce.test.Row", catalog=CATALOG)


@pytest.mark.parametrize("data", [None, b""])
def test_a_tombstone_is_skipped_not_an_error(decoder: EnvelopeDecoder, data: bytes | None) -> None:
    assert decoder.decode(data, "t") == Skip("tombstone")


def test_a_truncate_is_skipped(decoder: EnvelopeDecoder) -> None:
    truncate = {"before": None, "after": None, "op": "t", "ts_ms": 1, "source": {"table": "invoices"}}
    assert decoder.decode(as_json(truncate), "t") == Skip("truncate")
    assert decoder.decode(as_json({"schema": {}, "payload": truncate}), "t") == Skip("truncate")


def test_a_logical_decoding_message_is_skipped(decoder: EnvelopeDecoder) -> None:
    message = {"op": "m", "ts_ms": 1, "source": {}, "message": {"prefix": "x", "content": "eA=="}}
    assert decoder.decode(as_json(message), "t") == Skip("message")


def test_an_update_without_its_before_image_decodes(decoder: EnvelopeDecoder) -> None:
    envelope = decoder.decode(as_json(plain(op="u")), "t")
    assert (envelope.op, envelope.before, envelope.after) == ("u", None, AFTER)


@pytest.mark.parametrize("before", [{"id": "INV-1"}, {"id": "INV-1", "amount": None, "issued": None}])
def test_a_before_image_with_only_the_primary_key_is_left_out(decoder: EnvelopeDecoder, before: Any) -> None:
    delete = decoder.decode(as_json(plain(op="d", before=before, after=None)), "t")
    assert (delete.op, delete.before, delete.after) == ("d", None, None)
    update = decoder.decode(as_json(plain(op="u", before=before)), "t")
    assert (update.before, update.after) == (None, AFTER)


def test_a_wrong_value_in_a_before_image_is_still_an_error(decoder: EnvelopeDecoder) -> None:
    before = ROW | {"amount": "1.005"}
    with pytest.raises(DeserializationError, match="decimal places") as caught:
        decoder.decode(as_json(plain(op="u", before=before)), "t")
    assert caught.value.field == "before.amount"


def test_an_unwrapped_row_without_added_fields_reads_as_the_row_now(decoder: EnvelopeDecoder) -> None:
    assert decoder.decode(as_json(ROW), "t") == Envelope(op="r", before=None, after=AFTER, ts_ms=None, source={})


def test_an_unwrapped_row_with_added_fields(decoder: EnvelopeDecoder) -> None:
    row = ROW | {"__op": "u", "__table": "invoices", "__lsn": 24023128, "__source_ts_ms": 1704067100000}
    row |= {"__ts_ms": 1704067200000, "__deleted": "false", "__source_sequence": '["24023000","24023128"]'}
    envelope = decoder.decode(as_json(row), "t")
    assert envelope == Envelope(
        op="u",
        before=None,
        after=AFTER,
        ts_ms=1704067200000,
        source={"table": "invoices", "lsn": 24023128, "ts_ms": 1704067100000, "sequence": '["24023000","24023128"]'},
    )


@pytest.mark.parametrize("deleted", ["true", True])
def test_a_delete_rewritten_by_delete_handling_mode(decoder: EnvelopeDecoder, deleted: Any) -> None:
    envelope = decoder.decode(as_json(ROW | {"__deleted": deleted, "__op": "d"}), "t")
    assert (envelope.op, envelope.before, envelope.after) == ("d", AFTER, None)
    without_op = decoder.decode(as_json(ROW | {"__deleted": deleted}), "t")
    assert (without_op.op, without_op.before, without_op.after) == ("d", AFTER, None)


def test_a_rewritten_delete_of_a_partial_row_has_no_before_image(decoder: EnvelopeDecoder) -> None:
    envelope = decoder.decode(as_json({"id": "INV-1", "__deleted": "true"}), "t")
    assert (envelope.op, envelope.before, envelope.after) == ("d", None, None)


def test_an_unwrapped_row_in_a_connect_wrapper(decoder: EnvelopeDecoder) -> None:
    wrapped = {"schema": {"type": "struct", "fields": []}, "payload": ROW | {"__op": "c"}}
    assert decoder.decode(as_json(wrapped), "t").after == AFTER


def test_an_unwrapped_row_in_avro() -> None:
    # a schema Debezium registered, not one of ours: a plain mock client, as an outside writer's registry
    registry = SchemaRegistryClient.new_client({"url": "mock://debezium-writer"})
    decoder = EnvelopeDecoder(registry, "cesce.test.Row", catalog=CATALOG)
    schema = {
        "type": "record",
        "name": "Value",
        "namespace": "erp.public.invoices",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 17, "scale": 2}},
            {"name": "issued", "type": {"type": "int", "logicalType": "date"}},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "__op", "type": ["null", "string"], "default": None},
            {"name": "__deleted", "type": ["null", "string"], "default": None},
        ],
    }
    schema_id = registry.register_schema("erp.public.invoices-value", Schema(json.dumps(schema), "AVRO"))
    body = BytesIO()
    value = {"id": "INV-1", "amount": Decimal("1234.50"), "issued": date(2024, 1, 15), "note": None}
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), value | {"__op": "c", "__deleted": "false"})
    data = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    assert decoder.decode(data, "t") == Envelope(op="c", before=None, after=AFTER, ts_ms=None, source={})


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        (ROW | {"__op": "x"}, "__op", "not one of"),
        (ROW | {"__deleted": "maybe"}, "__deleted", "true or false"),
        ({"id": "INV-1", "amount": "1.00"}, "after.issued", "missing"),
        (ROW | {"__ts_ms": "soon"}, "ts_ms", "milliseconds"),
    ],
)
def test_bad_unwrapped_rows_name_the_field(decoder: EnvelopeDecoder, row: Any, field: str, words: str) -> None:
    with pytest.raises(DeserializationError, match=words) as caught:
        decoder.decode(as_json(row), "t")
    assert (caught.value.code, caught.value.field) == (ErrorCode.BAD_FIELD, field)
