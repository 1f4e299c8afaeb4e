"""The fuzz harness's input: hostile records, each with the dead-letter category it must get, and valid invoices.

`FuzzInput(...).records()` yields, deterministically for a seed, the hostile records of
`HOSTILE_KINDS` (drawn by weight), the big ones (a string of ``big_bytes`` characters, spread
evenly over the run) and the valid invoices (spread evenly too), with the modifiers every kind may
get: null, random and huge keys, garbage headers (a bogus ``traceparent``, forged ``dlq.*``,
``source.*`` and ``replay.count`` headers, binary and empty values, a few large ones).

The records are shaped as Debezium writes them by default, the shape ``cesce-worker run invoices``
re-keys by debtor: keyed by the row's primary key (``{"id":N}``, when the key is not one of the
hostile ones), each envelope's ``source.lsn`` its place in the database's commit order. Valid
invoices come as full envelopes (JSON, Connect JSON, Avro) and as rows unwrapped by
``ExtractNewRecordState`` (JSON and Avro), which the workers accept. Tombstones (no value, or no
bytes) are skipped by design, so they are not in the mix: the hostile "empty" values are a blank
and a lone magic byte.

"Hostile" means invalid by the contract the worker is written against, so that a correct worker
dead-letters every one without calling Cesce: undecodable (``deserialization``: bytes, JSON,
Avro, envelope or a row field that is wrong) or refused by the Cesce client's field checks before
any request (``validation``: contractNo, identifiers, lengths, blanks, a zero amount, an update
that cannot be carried). Input the contract allows but Cesce would refuse (an unknown debtor,
dates in the wrong order, an invoiceNo of any length: the documents give it no limit) is not in
the mix: it costs a call by design.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any, Final

from fastavro import parse_schema, schemaless_writer

from benchmarks.services import BENCH_CONTRACT, bench_debtor
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec, dumps_exact

__all__ = [
    "DESERIALIZATION",
    "ENVELOPE_SCHEMA",
    "HOSTILE_KINDS",
    "ROW_SCHEMA",
    "VALIDATION",
    "FuzzInput",
    "FuzzRecord",
]

DESERIALIZATION: Final = frozenset({"deserialization"})
VALIDATION: Final = frozenset({"validation"})
ENVELOPE_SCHEMA: Final = "cesce.erp.InvoiceEnvelope"
ROW_SCHEMA: Final = "cesce.erp.Invoice"
_CONNECT_SCHEMA: Final = {"type": "struct", "name": "erp.invoices.Envelope", "optional": False}
_INPUT: Final = "erp.invoices"
_ROW_TOPIC: Final = "erp.invoices.rows"
"""Only names the subject the bare row's schema is registered under; those records go to `_INPUT` too."""
_DEEP: Final = 10_000
_HUGE_KEY_BYTES: Final = 64 * 1024
_LARGE_HEADER_BYTES: Final = 32 * 1024
_EPOCH: Final = date(1970, 1, 1)
_CONTROL: Final = [code for code in range(32) if chr(code) not in "\t\n\r"]
"""Control characters JSON forbids raw in a string and that are not JSON whitespace between tokens either."""


@dataclass(frozen=True, slots=True)
class FuzzRecord:
    """One record to produce. `expect` is the dead-letter category it must get; empty for a valid invoice."""

    index: int
    kind: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    expect: frozenset[str]
    invoice_no: str | None = None
    """A valid invoice's invoiceNo (its result names it)."""

    @property
    def valid(self) -> bool:
        return not self.expect

    @property
    def size(self) -> int:
        """Bytes of key, value and headers: what the broker stores, give or take the batch framing."""
        headers = sum(len(name) + len(value or b"") for name, value in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers


class _Raw:
    """JSON text put verbatim where `_json` meets this value: NaN, 1e400, a 10,000-deep nesting."""

    def __init__(self, text: str) -> None:
        self.text = text


def _json(document: Any) -> bytes:
    """`document` as JSON text (Decimal exact, dates ISO), with every `_Raw` spliced in verbatim."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, _Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(value, Mapping):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mark(v) for v in value]
        return value

    text = dumps_exact(mark(document))
    for number, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{number}\x00"), raw, 1)
    return text.encode("utf-8", errors="surrogatepass")


def _without_logical_types(schema: Any) -> Any:
    """The Avro schema with dates as plain ints and decimals as plain bytes, to write values the typed one refuses."""
    if isinstance(schema, list):
        return [_without_logical_types(branch) for branch in schema]
    if isinstance(schema, Mapping):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    return schema


class _Avro:
    """Confluent-framed Avro of the envelope: `typed`, or `raw` (any int for a date, any bytes for an amount)."""

    def __init__(self, registry_url: str) -> None:
        self._registry = registry = schema_registry_client(registry_url)
        self._codec = AvroCodec(registry, ENVELOPE_SCHEMA)
        self._row_codec = AvroCodec(registry, ROW_SCHEMA)
        # registered as producers would: the envelope under the input's subject; the bare row (a producer's
        # mistake) under a subject of its own, since the registry refuses another record under the envelope's
        self.schema_id = self._codec.prepare(_INPUT)
        self.row_schema_id = self._row_codec.prepare(_ROW_TOPIC)
        self._raw = parse_schema(_without_logical_types(json.loads(SchemaCatalog.load().schema_str(ENVELOPE_SCHEMA))))

    def close(self) -> None:
        self._registry.close()  # its HTTP connections to the registry

    def typed(self, envelope: Mapping[str, Any]) -> bytes:
        return self._codec.encode(envelope, _INPUT)

    def row(self, row: Mapping[str, Any]) -> bytes:
        return self._row_codec.encode(row, _ROW_TOPIC)

    def raw(self, envelope: Mapping[str, Any], schema_id: int | None = None) -> bytes:
        """Rows may hold `date` and `Decimal` (written as the typed schema would) or any int and bytes."""
        plain = dict(envelope)
        for image in ("before", "after"):
            if isinstance(plain.get(image), Mapping):
                plain[image] = {name: _plain(value) for name, value in plain[image].items()}
        body = BytesIO()
        schemaless_writer(body, self._raw, plain)
        return struct.pack(">bI", 0, self.schema_id if schema_id is None else schema_id) + body.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return (value - _EPOCH).days
    if isinstance(value, Decimal):
        return _unscaled(value)
    return value


def _unscaled(amount: Decimal) -> bytes:
    """An amount at scale 2 as Avro decimal bytes (big-endian two's complement)."""
    number = int(amount.scaleb(2))
    return number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=True)


class FuzzInput:
    """The records of one run: `hostile` hostile ones, `big` of them huge, and `valid` invoices over `debtors`."""

    def __init__(
        self,
        *,
        hostile: int,
        valid: int,
        big: int,
        big_bytes: int,
        debtors: int,
        seed: int,
        run: str,
        registry_url: str,
    ) -> None:
        if big > hostile:
            raise ValueError(f"--big {big} is more than the {hostile} hostile records")
        self.hostile, self.valid, self.big, self.big_bytes = hostile, valid, big, big_bytes
        self.debtors, self.seed, self.run = debtors, seed, run
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible fuzz, not cryptography
        self._avro = _Avro(registry_url)
        self._today = date.today()
        self._lsn = 0

    def close(self) -> None:
        """Close the registry client the Avro records were encoded with."""
        self._avro.close()

    # --- the whole run ------------------------------------------------------------------------------

    def records(self) -> Iterator[FuzzRecord]:
        """Every record in production order: valid and big ones at evenly spaced places among the hostile."""
        total = self.hostile + self.valid
        valid_at = {round((i + 0.5) * total / self.valid) for i in range(self.valid)} if self.valid else set()
        big_at = {round((i + 0.5) * self.hostile / self.big): i for i in range(self.big)}  # hostile number -> ordinal
        hostile_seen = valid_seen = 0
        for index in range(total):
            is_valid = (index in valid_at and valid_seen < self.valid) or hostile_seen >= self.hostile
            if is_valid:
                yield self._valid(index, valid_seen)
                valid_seen += 1
            else:
                ordinal = big_at.get(hostile_seen)
                yield self._hostile(index, hostile_seen) if ordinal is None else self._big(index, hostile_seen, ordinal)
                hostile_seen += 1

    # --- valid invoices -------------------------------------------------------------------------------

    def row(self, debtor: int, invoice_no: str, amount: Decimal | None = None) -> dict[str, Any]:
        """An ERP invoice row Cesce declares (a debtor of the benchmark scenario, dated today, 60 days)."""
        return {
            "contractNo": BENCH_CONTRACT,
            "invoiceNo": invoice_no,
            "invoiceDate": self._today,
            "maturityDate": self._today + timedelta(days=60),
            "amount": amount if amount is not None else Decimal(self._rng.randrange(1, 10**9)).scaleb(-2),
            "currencyCode": "EUR",
            "endorsementNo": None,
            "customerReference": bench_debtor(debtor),
            "subsidiaryNo": None,
            "acquisitionDate": None,
            "taxCodeTransferor": None,
        }

    def _envelope(self, op: str, before: Any, after: Any) -> dict[str, Any]:
        """A Debezium envelope; its ``source.lsn`` the next place in the commit order (the re-keyer orders by it)."""
        self._lsn += 1
        # a string: the Avro envelope's source is a map of strings (the position reads either)
        source = {"connector": "fuzz", "db": "erp", "table": "invoices", "lsn": str(self._lsn)}
        return {"before": before, "after": after, "op": op, "ts_ms": 1763600000000, "source": source}

    @staticmethod
    def _primary_key(index: int) -> bytes:
        """Debezium's key of the row: its primary key, as JSON without a schema."""
        return b'{"id":%d}' % index

    def _valid(self, index: int, number: int) -> FuzzRecord:
        rng = self._rng
        debtor = number % self.debtors
        invoice_no = f"{self.run}-V{number:06d}"
        op, row = rng.choice("ccccr"), self.row(debtor, invoice_no)
        envelope = self._envelope(op, None, row)
        encoding = rng.random()
        if encoding < 0.25:
            kind, value = "valid-avro", self._avro.typed(envelope)
        elif encoding < 0.4:
            kind, value = "valid-connect-json", _json({"schema": _CONNECT_SCHEMA, "payload": envelope})
        elif encoding < 0.5:  # ExtractNewRecordState's row, with the op and the position it adds, or bare (a read)
            unwrapped = row | {"__op": op, "__lsn": envelope["source"]["lsn"]} if rng.random() < 0.5 else row
            kind, value = "valid-unwrapped-json", _json(unwrapped)
        elif encoding < 0.55:
            kind, value = "valid-unwrapped-avro", self._avro.row(row)
        else:
            kind, value = "valid-json", _json(envelope)
        # the re-keyer carries the key as the row's identity: a garbage one must still be this row's own
        key = self._key(self._primary_key(index), null=0.05, garbage=0.05, huge=0.0, shortest=8)
        headers = self._headers(0.1)
        return FuzzRecord(index, kind, key, value, headers, frozenset(), invoice_no)

    # --- hostile records --------------------------------------------------------------------------------

    def _hostile(self, index: int, number: int) -> FuzzRecord:
        kinds, weights = zip(*((name, weight) for name, (weight, _) in HOSTILE_KINDS.items()), strict=True)
        kind = self._rng.choices(kinds, weights)[0]
        value, expect = HOSTILE_KINDS[kind][1](self, number)
        return self._finish(index, number, kind, value, expect)

    def _finish(
        self, index: int, number: int, kind: str, value: bytes | None, expect: frozenset[str], *, big: bool = False
    ) -> FuzzRecord:
        # a big record gets no huge key and no large header on top: key, value and headers stay under the 1 MB
        # a producer accepts by default, with room for the dead letter's own headers
        huge = 0.0 if big else 0.003
        key = self._key(self._primary_key(index), null=0.15, garbage=0.1, huge=huge)
        return FuzzRecord(index, kind, key, value, self._headers(0.2, large=not big), expect)

    def _key(self, plain: bytes, *, null: float, garbage: float, huge: float, shortest: int = 0) -> bytes | None:
        draw = self._rng.random()
        if draw < null:
            return None
        if draw < null + garbage:
            return self._rng.randbytes(self._rng.randrange(shortest, 64))
        if draw < null + garbage + huge:
            return self._rng.randbytes(_HUGE_KEY_BYTES)
        return plain

    def _headers(self, share: float, *, large: bool = True) -> tuple[tuple[str, bytes | None], ...]:
        rng = self._rng
        if rng.random() >= share:
            return ()
        pool: list[tuple[str, bytes | None]] = [
            (
                "traceparent",
                rng.choice([b"00-zz-zz-zz", b"", b"\x00\xff", b"00-" + b"g" * 32 + b"-" + b"0" * 16 + b"-01"]),
            ),
            ("tracestate", rng.randbytes(rng.randrange(0, 40))),
            ("dlq.category", b"forged"),
            ("dlq.error.description", b"forged by the producer"),
            ("source.topic", b"elsewhere"),
            ("source.offset", b"-1"),
            ("replay.count", rng.choice([b"many", b"-5", b"99999999999999999999"])),
            ("", b"an empty name"),
            ("\x00\x1b[31m\u202e", rng.randbytes(8)),
            ("erp.null", None),
            ("erp.binary", rng.randbytes(rng.randrange(0, 200))),
        ]
        headers = rng.sample(pool, rng.randrange(1, 5))
        if large and rng.random() < 0.01:
            headers.append(("erp.large", rng.randbytes(_LARGE_HEADER_BYTES)))
        if rng.random() < 0.2:
            headers.append(headers[0])  # the same header twice
        return tuple(headers)

    def _row(self, number: int, **changes: Any) -> dict[str, Any]:
        return self.row(number % self.debtors, f"{self.run}-H{number:06d}") | changes

    def _json_row(self, number: int, **changes: Any) -> bytes:
        """A JSON envelope, op ``c``, of the `number`-th hostile row with `changes`."""
        return _json(self._envelope("c", None, self._row(number, **changes)))

    # --- the kinds (each returns the value and the category it must get) ---------------------------------

    def random_bytes(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        data = rng.randbytes(rng.randrange(1, 257))
        first = rng.random()
        if first < 0.2:
            data = b"\x00" + data  # the Avro path: truncated, an unknown id, a body no schema reads
        elif first < 0.3:
            data = b"{" + data
        return data, DESERIALIZATION

    def empty(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        # as good as empty: no value or no bytes is a tombstone, skipped (not hostile)
        return self._rng.choice([b" ", b"\n", b"\x00"]), DESERIALIZATION

    def truncated_json(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        whole = self._json_row(number)
        return whole[: self._rng.randrange(1, len(whole))], DESERIALIZATION  # not to nothing: a tombstone

    def truncated_avro(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        whole = self._avro.typed(self._envelope("c", None, self._row(number)))
        return whole[: self._rng.randrange(1, len(whole))], DESERIALIZATION

    def unknown_schema_id(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        body = self._avro.typed(self._envelope("c", None, self._row(number)))[5:]
        schema_id = self._rng.choice([self._rng.randrange(1000, 2**31), 2**31 - 1, 999])
        return struct.pack(">bI", 0, schema_id) + body, DESERIALIZATION

    def not_an_envelope(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        row = self._row(number)
        choices: list[Callable[[], bytes]] = [
            lambda: self._rng.choice([b"5", b'"text"', b"null", b"true", b"[]", b"[1,2]", b"{}", b"-0", b"1e400"]),
            lambda: _json({"before": None, "after": row}),  # no op
            # (a bare row, JSON or Avro, is a row unwrapped by ExtractNewRecordState: valid, among the valid ones;
            # so is a delete without a before-image, PostgreSQL's default)
            lambda: _json({"payload": self._envelope("c", None, row)}),  # a Connect wrapper without its schema
            lambda: _json({"schema": {}, "payload": None}),
            lambda: _json({"op": "c", "after": None}),
            lambda: _json({"op": "u"}),
            lambda: _json({"hello": "world"}),  # read as an unwrapped row, without its fields
            lambda: self._avro.raw(
                self._envelope("c", None, row), schema_id=self._avro.row_schema_id
            ),  # another schema
        ]
        return self._rng.choice(choices)(), DESERIALIZATION

    def wrong_type(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        wrong: dict[str, list[Any]] = {
            "contractNo": [34109150331, True, None, [], {}],
            "invoiceNo": [1, True, None, [], {"a": 1}, Decimal("1.5")],
            "invoiceDate": [True, Decimal("1.5"), "tomorrow", [], {}, "2024/01/01", None],
            "maturityDate": [False, Decimal("2.5"), "later", [1]],
            "amount": [True, [], {}, "abc", "1,000.00", "1.2.3", "", None, "12 EUR"],
            "currencyCode": [978, True, None, []],
            "customerReference": [123, True, [], {}],
            "subsidiaryNo": [0, False],
            "acquisitionDate": ["someday", True],
        }
        rng = self._rng
        if rng.random() < 0.25:  # the envelope's own fields
            field, value = rng.choice(
                [
                    ("op", rng.choice([1, None, True, "C", "create", "", "cc", []])),
                    ("after", rng.choice(["x", 5, [], True])),
                    ("before", rng.choice(["x", 5, [], True])),
                    ("ts_ms", rng.choice(["now", Decimal("1.5"), True, {}])),
                    ("source", rng.choice([[], "x", 5])),
                ]
            )
            return _json(self._envelope("c", None, self._row(number)) | {field: value}), DESERIALIZATION
        field = rng.choice(sorted(wrong))
        return self._json_row(number, **{field: rng.choice(wrong[field])}), DESERIALIZATION

    def huge_amount(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        amount = self._rng.choice(
            [
                "1" * 30,
                _Raw("1" * 30),
                "123456789012345678901234567890.00",
                _Raw("-123456789012345678901234567890.00"),
                "1e400",
                _Raw("1e400"),
                _Raw("-1E+400"),
                "1e-400",
                _Raw("1e-400"),
                "1234567890123456.00",
                _Raw("9999999999999999"),
                "1.005",
                _Raw("0.001"),
            ]
        )
        return self._json_row(number, amount=amount), DESERIALIZATION

    def nan(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        amount = self._rng.choice(
            [_Raw("NaN"), _Raw("Infinity"), _Raw("-Infinity"), "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN"]
        )
        return self._json_row(number, amount=amount), DESERIALIZATION

    def impossible_date(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        field = rng.choice(["invoiceDate", "maturityDate"])
        if rng.random() < 0.25:  # Avro: a date is an int of days, any int
            row = self._row(number)
            row[field] = rng.choice([2**31 - 1, -(2**31), 10**7, -(10**7)])
            return self._avro.raw(self._envelope("c", None, row)), DESERIALIZATION
        text = rng.choice(
            [
                "2025-02-29",
                "2024-02-30",
                "2024-13-01",
                "2024-00-10",
                "2024-04-31",
                "2024-01-32",
                "0000-01-01",
                "2024-1-1",
                "20240101",
                "2024-01-01T00:00:00Z",
                "99999-01-01",
                _Raw(str(10**12)),
                _Raw(str(-(10**12))),
                _Raw("10000000"),
            ]
        )
        return self._json_row(number, **{field: text}), DESERIALIZATION

    def deep_nesting(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        depth = _DEEP if rng.random() < 0.8 else 500  # 500 parses; the field it is in then refuses it
        nested = rng.choice([_Raw("[" * depth + "]" * depth), _Raw('{"a":' * depth + "1" + "}" * depth)])
        where = rng.choice(["whole", "after", "amount", "invoiceDate"])
        if where == "whole" and depth == _DEEP:
            return _json(nested), DESERIALIZATION
        if where == "after":
            return _json(self._envelope("c", None, nested)), DESERIALIZATION
        return self._json_row(number, **{"amount" if where == "whole" else where: nested}), DESERIALIZATION

    def control_chars(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        control = "".join(chr(rng.choice(_CONTROL)) for _ in range(rng.randrange(1, 4)))
        variant = rng.randrange(6)
        if variant == 0:  # raw, unescaped, inside a JSON string: JSON forbids it
            text = self._json_row(number, invoiceNo="F-" + "\x00raw\x00")
            return text.replace(b"\\u0000raw\\u0000", control.encode()), DESERIALIZATION
        if variant == 1:  # raw between JSON tokens
            text = self._json_row(number)
            cut = rng.randrange(1, len(text))
            return text[:cut] + control.encode() + text[cut:], DESERIALIZATION
        if variant == 2:
            return _json(self._envelope("c" + control, None, self._row(number))), DESERIALIZATION
        if variant == 3:
            return self._json_row(number, invoiceDate=f"2024-01-0{control}"[:10]), DESERIALIZATION
        if variant == 4:
            return self._json_row(number, amount=f"1{control}00.00"), DESERIALIZATION
        contract = (BENCH_CONTRACT[:3] + control + BENCH_CONTRACT[3:])[:11]
        if rng.random() < 0.5:  # Avro carries it as a plain string
            row = self._row(number, contractNo=contract)
            return self._avro.raw(self._envelope("c", None, row)), VALIDATION
        return self._json_row(number, contractNo=contract), VALIDATION

    def zero_amount(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        zero = rng.choice(["0", "-0", "-0.00", "-0E+2", "0.00", "+0", "0E-5", "-0.000", 0, _Raw("-0"), _Raw("-0.0e3")])
        op = rng.choice("ccccrru")
        if rng.random() < 0.2:  # Avro: the unscaled bytes of zero, with or without a sign byte
            row = self._row(number, amount=rng.choice([b"", b"\x00", b"\x00\x00"]))
            before = self._row(number, amount=Decimal("100.00")) if op == "u" else None
            return self._avro.raw(self._envelope(op, before, row)), VALIDATION
        before = self._row(number, amount=Decimal("100.00")) if op == "u" else None
        return _json(self._envelope(op, before, self._row(number, amount=zero))), VALIDATION

    def client_check(self, number: int) -> tuple[bytes | None, frozenset[str]]:
        rng = self._rng
        variants: list[dict[str, Any]] = [
            {"endorsementNo": "123"},  # both identifiers
            {"customerReference": None},  # neither
            {"invoiceNo": "   "},
            {"currencyCode": " "},
            {"subsidiaryNo": "  "},
            {"taxCodeTransferor": ""},
            {"contractNo": "3410915033"},
            {"contractNo": "341 9150331"},  # 11 characters, not 11 digits (any modality is a policy: 403 at Cesce)
            {"contractNo": "3410915033X"},
            {"customerReference": None, "endorsementNo": "1234567"},
            {"customerReference": "C" * 51},
            {"currencyCode": "EURO"},
        ]
        if rng.random() < 0.25:  # an update that cannot be carried to Cesce
            row = self._row(number)
            before, after = rng.choice(
                [
                    (None, row),  # no before-image
                    (row, row | {"contractNo": "34109150332"}),  # another policy
                    (row, row | {"subsidiaryNo": "1"}),  # another subsidiary
                ]
            )
            return _json(self._envelope("u", before, after)), VALIDATION
        return self._json_row(number, **rng.choice(variants)), VALIDATION

    # --- the big ones ----------------------------------------------------------------------------------

    def _big(self, index: int, number: int, ordinal: int) -> FuzzRecord:
        """The `ordinal`-th big record: each variant in turn, so eight of them show all eight."""
        big = self.big_bytes
        variants: list[tuple[str, Callable[[], bytes], frozenset[str]]] = [
            ("big-amount", lambda: self._json_row(number, amount="9" * big), DESERIALIZATION),
            ("big-contract", lambda: self._json_row(number, contractNo="3" * big), VALIDATION),
            ("big-op", lambda: _json(self._envelope("c" * big, None, self._row(number))), DESERIALIZATION),
            ("big-reference", lambda: self._json_row(number, customerReference="B" * big), VALIDATION),
            ("big-currency", lambda: self._json_row(number, currencyCode="E" * big), VALIDATION),
            (
                "big-ts",
                lambda: _json(self._envelope("c", None, self._row(number)) | {"ts_ms": "1" * big}),
                DESERIALIZATION,
            ),
            ("big-column", lambda: self._json_row(number, notes="n" * big, amount="-0.00"), VALIDATION),
            (
                "big-avro-op",
                lambda: self._avro.raw(
                    self._envelope("c" * big, None, self._row(number, amount=_unscaled(Decimal(1))))
                ),
                DESERIALIZATION,
            ),
        ]
        kind, make, expect = variants[(ordinal + self.seed) % len(variants)]
        return self._finish(index, number, kind, make(), expect, big=True)


_Kind = Callable[[FuzzInput, int], tuple[bytes | None, frozenset[str]]]
HOSTILE_KINDS: Final[dict[str, tuple[int, _Kind]]] = {
    "random-bytes": (14, FuzzInput.random_bytes),
    "empty": (2, FuzzInput.empty),
    "truncated-json": (10, FuzzInput.truncated_json),
    "truncated-avro": (8, FuzzInput.truncated_avro),
    "unknown-schema-id": (5, FuzzInput.unknown_schema_id),
    "not-an-envelope": (8, FuzzInput.not_an_envelope),
    "wrong-type": (12, FuzzInput.wrong_type),
    "huge-amount": (6, FuzzInput.huge_amount),
    "nan": (4, FuzzInput.nan),
    "impossible-date": (8, FuzzInput.impossible_date),
    "deep-nesting": (1, FuzzInput.deep_nesting),
    "control-chars": (6, FuzzInput.control_chars),
    "zero-amount": (7, FuzzInput.zero_amount),
    "client-check": (9, FuzzInput.client_check),
}
"""kind -> (weight, generator): how often each kind is drawn, and how one is made."""
