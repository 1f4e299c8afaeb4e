"""How the fuzz harness matches what it reads to what it produced (`benchmarks.fuzz_invoices._Run`), on made-up
records: no sockets.

By default the worker reads the re-keying companion's ``erp.invoices.by-debtor``: its results and dead letters
name a copy there, whose own ``source.*`` headers name the input. Outputs may be read before the input's delivery
report or before the copy they name; each must still land on its input, once.
"""

from __future__ import annotations

import json
from typing import Any, cast

from confluent_kafka import Message

from benchmarks.fuzz_invoices import BY_DEBTOR, DLQ, INPUT, RESULTS, _Run
from benchmarks.fuzz_records import DESERIALIZATION, FuzzRecord
from benchmarks.fuzz_report import digest
from workers.runtime.serde import AvroReader


class _Message:
    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        headers: list[tuple[str, bytes]],
        *,
        key: bytes | None = None,
        value: bytes | None = b"{}",
    ) -> None:
        self._where = (topic, partition, offset)
        self._headers, self._key, self._value = headers, key, value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def _message(*args: Any, **kwargs: Any) -> Message:
    return cast(Message, _Message(*args, **kwargs))


class _Decoded:
    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value


class _Results:
    """Result values are JSON here: what the Avro reader would give."""

    def decode(self, data: bytes, topic: str) -> _Decoded:
        return _Decoded(json.loads(data))


def _names(topic: str, partition: int, offset: int, prefix: str = "source.") -> list[tuple[str, bytes]]:
    return [
        (f"{prefix}topic", topic.encode()),
        (f"{prefix}partition", str(partition).encode()),
        (f"{prefix}offset", str(offset).encode()),
    ]


def _result(names: tuple[str, int, int], invoice_no: str = "R-V1") -> bytes:
    topic, partition, offset = names
    value = {"outcome": "DECLARED", "invoiceNo": invoice_no, "sourceTopic": topic}
    return json.dumps(value | {"sourcePartition": partition, "sourceOffset": offset}).encode()


def _run() -> _Run:
    return _Run(cast(AvroReader, _Results()))


def _delivered(run: _Run, record: FuzzRecord, partition: int, offset: int) -> None:
    class _Delivery:
        def partition(self) -> int:
            return partition

        def offset(self) -> int:
            return offset

    run.add(record)(None, _Delivery())


def test_a_result_naming_a_re_keyed_copy_lands_on_its_input_whatever_is_read_first() -> None:
    run = _run()
    valid = FuzzRecord(0, "valid-json", b'{"id":0}', b"{}", (), frozenset(), "R-V1")
    # the result first, then its copy, then the input's delivery report
    run.read(_message(RESULTS, 1, 0, _names(BY_DEBTOR, 3, 9), value=_result((INPUT, 2, 5))))
    run.read(_message(BY_DEBTOR, 3, 9, _names(INPUT, 2, 5), key=b"BENCH-0001"))
    _delivered(run, valid, 2, 5)

    (fate,) = run.fates
    assert [o.outcome for o in fate.outputs] == ["DECLARED"]
    assert run.done()
    assert run.misnamed == run.unplaced == 0
    assert not run.early


def test_a_result_naming_the_copy_in_its_fields_is_counted_and_a_copy_never_read_leaves_it_unplaced() -> None:
    run = _run()
    _delivered(run, FuzzRecord(0, "valid-json", b'{"id":0}', b"{}", (), frozenset(), "R-V1"), 0, 0)
    run.read(_message(BY_DEBTOR, 0, 0, _names(INPUT, 0, 0)))
    run.read(_message(RESULTS, 0, 0, _names(BY_DEBTOR, 0, 0), value=_result((BY_DEBTOR, 0, 0))))
    run.read(_message(RESULTS, 0, 1, _names(BY_DEBTOR, 1, 7), value=_result((INPUT, 0, 0))))

    assert run.misnamed == 1
    assert sum(len(outputs) for outputs in run.early.values()) == 1  # waits for a copy that never comes


def test_a_dead_letter_of_a_copy_carries_the_inputs_key_in_its_row_key_header() -> None:
    run = _run()
    hostile = FuzzRecord(0, "client-check", b'{"id":0}', b"{bad}", (), frozenset({"validation"}))
    _delivered(run, hostile, 1, 4)
    run.read(_message(BY_DEBTOR, 2, 0, [("cesce.row-key", b'{"id":0}'), *_names(INPUT, 1, 4)], key=b"BENCH-0001"))
    reason = [(n, b"x") for n in ("dlq.category", "dlq.error.code", "dlq.error.description")]
    headers = [("cesce.row-key", b'{"id":0}'), *reason, *_names(BY_DEBTOR, 2, 0, "dlq.original.")]
    run.read(_message(DLQ, 0, 0, headers, key=b"BENCH-0001", value=b"{bad}"))
    # the re-keyer's own dead letter of an undecodable input names the input, keyed as it was
    undecodable = FuzzRecord(1, "random-bytes", None, b"\x00zz", (), DESERIALIZATION)
    _delivered(run, undecodable, 3, 0)
    run.read(_message(DLQ, 1, 0, [*reason, *_names(INPUT, 3, 0, "dlq.original.")], key=None, value=b"\x00zz"))

    letter, raw = (fate.outputs[0] for fate in run.fates)
    assert letter.digest == digest(b'{"id":0}', b"{bad}") == run.fates[0].digest
    assert raw.digest == run.fates[1].digest
    assert run.done()
