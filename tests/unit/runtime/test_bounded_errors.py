"""Hostile input never becomes megabytes of error text: dead-letter headers and messages quoting input are bounded.

A 900 KB amount used to give a 1.8 MB dead letter (the value, then the same digits again in
``dlq.error.description``), which the broker refuses; and the engine logs the same description.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from workers.cesce import codecs
from workers.cesce.errors import quoted
from workers.invoices.plan import Refuse, plan
from workers.runtime.coercions import shown
from workers.runtime.contract import DeadLetter, ErrorCategory, InputRecord
from workers.runtime.dlq import DESCRIPTION_LIMIT, ERROR_CODE_LIMIT, Failure, bounded_header, dead_letter_headers
from workers.runtime.envelope import envelope_from
from workers.runtime.serde import DeserializationError, FieldError, coerce

BIG = 900_000
MESSAGE_LIMIT = 300
"""What a message quoting one hostile value may reach: the reason's words plus a short excerpt."""

INVOICE_ROW: dict[str, Any] = {
    "type": "record",
    "name": "Invoice",
    "namespace": "cesce.erp",
    "fields": [
        {"name": "contractNo", "type": "string"},
        {"name": "invoiceNo", "type": "string"},
        {"name": "invoiceDate", "type": {"type": "int", "logicalType": "date"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 17, "scale": 2}},
    ],
}


def record(headers: tuple[tuple[str, bytes], ...] = ()) -> InputRecord:
    return InputRecord("erp.invoices", 1, 7, 1763600000000, b"CLI-1", b"{}", headers, None)


def letter(description: str, code: str = "bad-field") -> dict[str, bytes]:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    failure = Failure(DeadLetter(ErrorCategory.DESERIALIZATION, code, description), 1, now, now)
    return dict(dead_letter_headers(record(), failure, "invoices"))


# --- the dead letter's headers ----------------------------------------------------------------------


def test_a_huge_description_is_cut_to_the_limit_and_says_how_long_it_was() -> None:
    description = "after.amount: " + "9" * BIG + " has more than 17 digits"

    header = letter(description)["dlq.error.description"]

    assert len(header) <= DESCRIPTION_LIMIT == 1024
    text = header.decode()
    assert text.startswith("after.amount: 99999")
    assert text.endswith(f"[truncated: {len(description.encode())} bytes]")


def test_a_description_within_the_limit_is_kept_whole() -> None:
    at_limit = "x" * DESCRIPTION_LIMIT
    assert letter(at_limit)["dlq.error.description"] == at_limit.encode()
    over = letter(at_limit + "y")["dlq.error.description"]
    assert len(over) <= DESCRIPTION_LIMIT
    assert over.endswith(f"[truncated: {DESCRIPTION_LIMIT + 1} bytes]".encode())


def test_a_cut_never_splits_a_character() -> None:
    header = letter("€" * 2000)["dlq.error.description"]  # 3 bytes each

    assert len(header) <= DESCRIPTION_LIMIT
    assert header.decode("utf-8").startswith("€€€")  # strict decoding: valid UTF-8


def test_the_code_is_bounded_too() -> None:
    header = letter("bad", code="f" * 5000)["dlq.error.code"]

    assert len(header) <= ERROR_CODE_LIMIT
    assert header.endswith(b"[truncated: 5000 bytes]")


def test_text_that_is_not_valid_unicode_still_makes_a_header() -> None:
    # a lone surrogate (JSON allows "\ud800") must not make the dead letter itself fail
    assert bounded_header("op '\ud800' is not one of c, u, d, r", DESCRIPTION_LIMIT).startswith(b"op '")


def test_a_dead_letter_of_a_huge_value_adds_a_bounded_amount_of_headers() -> None:
    headers = letter("after.amount: " + "9" * BIG)

    ours = sum(len(name) + len(value) for name, value in headers.items())
    assert ours < 2048


# --- messages that quote input ------------------------------------------------------------------------


def test_shown_keeps_short_values_and_cuts_long_ones() -> None:
    assert shown("ab") == "'ab'"
    assert shown(Decimal("12.50")) == "12.50"
    long = shown("z" * BIG)
    assert long.startswith("'zzz")
    assert f"{BIG} characters" in long
    assert len(long) < 100
    assert len(shown(Decimal("9" * BIG))) < 100
    assert quoted("z" * BIG) == long


@pytest.mark.parametrize(
    "amount",
    [
        "9" * BIG,  # a decimal string of 900,000 digits
        Decimal("9" * BIG),  # an exact JSON number of as many
        "0." + "1" * BIG,  # too many decimals
    ],
)
def test_an_amount_error_does_not_repeat_the_amount(amount: object) -> None:
    with pytest.raises(FieldError) as error:
        coerce({"contractNo": "1", "invoiceNo": "F", "invoiceDate": 1, "amount": amount}, INVOICE_ROW, path="after")

    assert error.value.field == "after.amount"
    assert len(str(error.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        ({"op": "x" * BIG, "after": None}, "op"),
        (
            {
                "op": "c",
                "after": {"contractNo": "1", "invoiceNo": "F", "invoiceDate": 1, "amount": "1"},
                "ts_ms": "t" * BIG,
            },
            "ts_ms",
        ),
        (
            {"op": "c", "after": {"contractNo": "1", "invoiceNo": "F", "invoiceDate": 10**4000, "amount": "1"}},
            "after.invoiceDate",
        ),
    ],
)
def test_envelope_errors_do_not_repeat_the_value(envelope: dict[str, Any], field: str) -> None:
    with pytest.raises(DeserializationError) as error:
        envelope_from(envelope, INVOICE_ROW)

    assert error.value.field == field
    assert len(str(error.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize(
    "call",
    [
        lambda: codecs.decode_amount("1" * BIG),
        lambda: codecs.decode_date("2" * BIG),
        lambda: codecs.check_contract_no("3" * BIG),
        lambda: codecs.check_contract_no("341" + "0" * 7 + "٠" * BIG),  # digits of another script, many of them
    ],
)
def test_codec_errors_do_not_repeat_the_value(call: Any) -> None:
    with pytest.raises(codecs.CodecError) as error:
        call()

    assert len(str(error.value)) < MESSAGE_LIMIT


def test_a_refused_modification_does_not_repeat_the_values() -> None:
    row = {
        "contractNo": "34109150331",
        "invoiceNo": "F-1",
        "invoiceDate": date(2026, 11, 2),
        "maturityDate": date(2027, 1, 2),
        "amount": Decimal("1000.00"),
        "currencyCode": "EUR",
        "customerReference": "CLI-0001",
    }

    decision = plan("u", row, row | {"contractNo": "3" * BIG})

    assert isinstance(decision, Refuse)
    assert decision.field == "contractNo"
    assert len(decision.reason) < MESSAGE_LIMIT
