"""Exact conversions between Python values and the Cesce wire format.

Cesce writes amounts as strings with a decimal comma and no thousands separator
(``"-1234,50"``, ``"123456789012345,15"``), rates with up to five decimals (``"0,13752"``) and
dates as ``YYYYMMDD``. In Python they are `Decimal` and `date`. A conversion is exact or it
fails with `CodecError`: nothing is rounded, so no cent is lost on the way.

Cesce's dates are Spanish calendar days (`MADRID`; `spanish_today`): a request Cesce receives at
00:30 in Madrid is dated that day, whatever the day is in UTC.

`WireAmount`, `WireRate` and `WireDate` are annotated types for pydantic models: they accept the
wire string or the Python value and serialise to the wire string in JSON mode.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from workers.cesce.catalogue import CONTRACT_NO_LENGTH
from workers.cesce.errors import quoted

__all__ = [
    "AMOUNT_PLACES",
    "MADRID",
    "RATE_PLACES",
    "CodecError",
    "WireAmount",
    "WireDate",
    "WireRate",
    "check_contract_no",
    "decode_amount",
    "decode_date",
    "encode_amount",
    "encode_date",
    "spanish_today",
]

MADRID: Final = ZoneInfo("Europe/Madrid")
"""Cesce's calendar: its dates (requestDate, statusDate, ...) are days in Spain."""


def spanish_today(now: datetime | None = None) -> date:
    """The day it is in Spain (now, or at the aware `now`): the date Cesce gives what it receives."""
    return (now or datetime.now(UTC)).astimezone(MADRID).date()


AMOUNT_PLACES: Final = 2
RATE_PLACES: Final = 5
_MAX_INTEGER_DIGITS: Final = 15  # "123456789012345,15"
_WIRE_NUMBER = re.compile(r"^(-?)(\d{1,15})(?:,(\d{1,5}))?$")
_WIRE_DATE = re.compile(r"^\d{8}$")
_CONTRACT_NO = re.compile(f"[0-9]{{{CONTRACT_NO_LENGTH}}}")  # ASCII digits: \d would take any script's


class CodecError(ValueError):
    """A value that cannot be converted exactly."""


def decode_amount(text: str) -> Decimal:
    """``"-1234,50"`` -> ``Decimal("-1234.50")``. Rejects thousands separators, dots and blanks."""
    if not isinstance(text, str):
        raise CodecError(f"amount must be a string with a decimal comma, got {type(text).__name__}")
    match = _WIRE_NUMBER.match(text.strip())
    if match is None:
        raise CodecError(f"not a Cesce amount: {quoted(text)} (expected digits with a decimal comma, e.g. '-1234,50')")
    sign, integer, fraction = match.groups()
    return Decimal(f"{sign}{integer}.{fraction}" if fraction else f"{sign}{integer}")


def encode_amount(value: Decimal | int, places: int = AMOUNT_PLACES) -> str:
    """``Decimal("-1234.5")`` -> ``"-1234,50"``; refuses a value with more than `places` decimals."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise CodecError(f"amount must be a Decimal, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise CodecError(f"amount must be finite, got {amount}")
    try:
        quantized = amount.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation as exc:
        raise CodecError(f"amount out of range: {amount}") from exc
    if quantized != amount:
        raise CodecError(f"amount {amount} has more than {places} decimals; refusing to round it")
    text = f"{quantized:f}"
    if len(text.lstrip("-").split(".")[0]) > _MAX_INTEGER_DIGITS:
        raise CodecError(f"amount {amount} has more than {_MAX_INTEGER_DIGITS} integer digits")
    if quantized == 0:
        text = text.lstrip("-")  # "-0,00" is not a credit note
    return text.replace(".", ",")


def decode_date(text: str) -> date:
    """``"20200417"`` -> ``date(2020, 4, 17)``."""
    if not isinstance(text, str) or not _WIRE_DATE.match(text):
        raise CodecError(f"not a Cesce date: {quoted(text)} (expected YYYYMMDD)")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise CodecError(f"not a calendar date: {quoted(text)}") from exc


def encode_date(value: date) -> str:
    """``date(2020, 4, 17)`` -> ``"20200417"``."""
    if not isinstance(value, date):
        raise CodecError(f"date must be a datetime.date, got {type(value).__name__}")
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def check_contract_no(contract_no: str) -> str:
    """A contractNo is 11 digits, a 3-digit modality and the policy number together, no spaces (000: "Modalidad
    (341 para Máster Oro Integral o 381 para Póliza Clásica)" gives examples, not the list: any modality is a
    well-formed number; one the user holds no authorisation for is Cesce's 403, not a format error)."""
    if not isinstance(contract_no, str) or not _CONTRACT_NO.fullmatch(contract_no):
        raise CodecError(f"contractNo must be 11 digits, got {quoted(contract_no)}")
    return contract_no


def _amount_in(value: Any) -> Any:
    if isinstance(value, str):
        return decode_amount(value)
    if isinstance(value, float):
        raise CodecError("amounts are never floats; pass a Decimal or a wire string")
    return value


def _exact(places: int) -> Any:
    quantum = Decimal(1).scaleb(-places)

    def check(value: Decimal) -> Decimal:
        # encode_amount's refusals, raised at construction, not at send time; a value it would take (finite, at most
        # `places` decimals, at most 15 integer digits) is recognised without writing its text: every amount of
        # every answer passes here (eight in a declared sale)
        if value.is_finite() and value.adjusted() < _MAX_INTEGER_DIGITS:
            with contextlib.suppress(InvalidOperation):
                if value.quantize(quantum) == value:
                    return value
        encode_amount(value, places)
        return value

    return check


def _date_in(value: Any) -> Any:
    return decode_date(value) if isinstance(value, str) else value


_WIRE_STRING_SCHEMA: Final = WithJsonSchema({"type": "string"})

WireAmount = Annotated[
    Decimal,
    BeforeValidator(_amount_in),
    AfterValidator(_exact(AMOUNT_PLACES)),
    PlainSerializer(lambda v: encode_amount(v, AMOUNT_PLACES), return_type=str, when_used="json"),
    _WIRE_STRING_SCHEMA,
]
"""An amount: `Decimal` in Python, ``"-1234,50"`` on the wire, at most two decimals."""

WireRate = Annotated[
    Decimal,
    BeforeValidator(_amount_in),
    AfterValidator(_exact(RATE_PLACES)),
    PlainSerializer(lambda v: encode_amount(v, RATE_PLACES), return_type=str, when_used="json"),
    _WIRE_STRING_SCHEMA,
]
"""A rate or percentage: ``"0,13752"``, at most five decimals."""

WireDate = Annotated[
    date,
    BeforeValidator(_date_in),
    PlainSerializer(encode_date, return_type=str, when_used="json"),
    _WIRE_STRING_SCHEMA,
]
"""A date: `date` in Python, ``YYYYMMDD`` on the wire."""
