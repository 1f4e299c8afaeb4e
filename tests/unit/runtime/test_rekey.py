"""The re-keying companion's handler: by debtor, its own headers only, a keyless delete to every partition."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from workers.change_plans import debtor_of
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.contract import InputRecord, Output, Publish, Retry
from workers.runtime.envelope import Envelope, envelope_from
from workers.runtime.errors import DeserializationError
from workers.runtime.rekey import _rekey, by_row

TOPIC = "erp.invoices.by-debtor"


def change(op: str, after: dict[str, Any] | None, before: dict[str, Any] | None = None) -> Envelope:
    return Envelope(op=op, before=before, after=after, ts_ms=None, source={})  # type: ignore[arg-type]


def record(
    decoded: Envelope, key: bytes | None = b'{"id":7}', headers: tuple[tuple[str, bytes], ...] = ()
) -> InputRecord:
    return InputRecord("erp.invoices", 2, 40, None, key, b"the change", headers, decoded)


async def rekey(record: InputRecord, partitions: int = 4) -> list[Output]:
    async def count() -> int:
        return partitions

    outcome = await _rekey(TOPIC, by_row(debtor_of), count)(record)
    assert isinstance(outcome, Publish)
    return list(outcome.outputs)


async def test_a_change_goes_by_its_debtor_with_its_row_key_and_origin_and_the_bytes_unchanged() -> None:
    forged = (("cesce.row-key", b"forged"), ("cesce.origin", b"x:0:0"), ("source.offset", b"9"), ("app", b"kept"))
    [out] = await rekey(record(change("c", {"customerReference": "CLI-0001", "amount": Decimal(1)}), headers=forged))
    assert (out.topic, out.key, out.value, out.partition) == (TOPIC, "CLI-0001", b"the change", None)
    assert out.headers == {"app": b"kept", "cesce.origin": "erp.invoices:2:40", "cesce.row-key": b'{"id":7}'}


async def test_a_delete_with_no_debtor_goes_keyless_to_every_partition() -> None:
    outputs = await rekey(record(change("d", None)), partitions=3)
    assert [(o.key, o.partition) for o in outputs] == [(None, 0), (None, 1), (None, 2)]
    assert all(o.headers["cesce.row-key"] == b'{"id":7}' for o in outputs)
    [alone] = await rekey(record(change("d", None)), partitions=0)  # the topic does not exist yet: nothing to find
    assert (alone.key, alone.partition) == (b'{"id":7}', None)


async def test_a_keyless_delete_is_retried_when_the_partitions_cannot_be_read() -> None:
    async def unknown() -> int:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    outcome = await _rekey(TOPIC, by_row(debtor_of), unknown)(record(change("d", None)))
    assert isinstance(outcome, Retry)
    assert outcome.code == "metadata-unavailable"


async def test_a_row_without_a_usable_debtor_keeps_its_source_key() -> None:
    for row in ({"customerReference": None, "endorsementNo": None}, {"customerReference": "C" * 2000}):
        [out] = await rekey(record(change("c", row)))
        assert out.key == b'{"id":7}'  # the worker refuses the row; one debtor-less key for all would be a hot spot


def test_an_operation_that_is_not_text_is_a_named_field_error() -> None:
    row_schema = SchemaCatalog.load().by_name("cesce.erp.Invoice")
    with pytest.raises(DeserializationError) as caught:
        envelope_from({"op": [], "after": None}, row_schema)
    assert caught.value.field == "op"
