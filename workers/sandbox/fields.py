"""Reading request bodies and query strings the way Cesce's gateway does, with Cesce's errors.

The sandbox parses JSON itself (FastAPI's validation would answer in its own format). The
checks run in a fixed order, the first failure wins:

1. the body is not a JSON object -> 422 "'body' is invalid."
2. any string sent blank ("" or only spaces), anywhere -> 500 errorCode 3 (the catalogue: "Algún
   parámetro en las variables de la petición está vacío")
3. a property the schema does not list, in a closed section (the sales bodies: the seed schemas
   say ``additionalProperties: false``) -> 422 "'<name>' is invalid."
4. a value that is not a string (every field of the seed schemas is a string) -> 422 invalid
5. a required field absent -> 422 "'<name>' is missing."
6. a field too long (catalogue.FIELD_MAX_LENGTHS) or not in its format (amount with a decimal
   comma and at most two decimals, date YYYYMMDD, Y/N, digits) -> 422 invalid
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.codecs import CodecError, decode_amount, decode_date
from workers.sandbox.wire import CENT, ApiError, invalid, missing

__all__ = [
    "CLIENT_FIELDS",
    "Field",
    "Kind",
    "parse_body",
    "read_date",
    "read_query",
    "read_section",
    "reject_unknown",
]


class Kind(StrEnum):
    TEXT = "text"
    AMOUNT = "amount"  # "-1234,50": decimal comma, at most two decimals
    DATE = "date"  # YYYYMMDD
    FLAG = "flag"  # Y or N
    DIGITS = "digits"  # only digits (endorsementNo, saleCesceReferenceNo, ...)
    LANGUAGE = "language"  # two letters, "ES"
    COUNTRY = "country"  # two capital letters, "ES", "FR"
    YEAR_MONTH = "year_month"  # YYYYMM


@dataclass(frozen=True, slots=True)
class Field:
    """One documented field. ``max_length`` defaults to the guide's table for that name."""

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    max_length: int | None = None
    exact_length: int | None = None

    def limit(self) -> int | None:
        return self.max_length if self.max_length is not None else cat.FIELD_MAX_LENGTHS.get(self.name)


CLIENT_FIELDS: Final = (Field("languageCode", Kind.LANGUAGE, required=True),)


def parse_body(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object and refuse blank strings anywhere in it (checks 1 and 2)."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if not isinstance(body, dict):
        raise invalid("body")
    _reject_blanks(body)
    return body


def _reject_blanks(value: Any) -> None:
    if isinstance(value, str) and not value.strip():
        raise ApiError(500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
    if isinstance(value, dict):
        for item in value.values():
            _reject_blanks(item)
    elif isinstance(value, list):
        for item in value:
            _reject_blanks(item)


def reject_unknown(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Check 3 for the top level of a closed body."""
    known = set(allowed)
    for key in body:
        if key not in known:
            raise invalid(key)


def read_section(
    body: Mapping[str, Any],
    name: str,
    fields: Sequence[Field],
    *,
    required: bool = True,
    closed: bool = True,
) -> dict[str, str]:
    """Checks 3 to 6 on one object of the body (``client``, ``generalData``...)."""
    if name not in body:
        if required:
            raise missing(name)
        return {}
    section = body[name]
    if not isinstance(section, dict):
        raise invalid(name)
    by_name = {f.name: f for f in fields}
    values: dict[str, str] = {}
    for key, value in section.items():
        if key not in by_name:
            if closed:
                raise invalid(key)
            continue
        if not isinstance(value, str):
            raise invalid(key)
        values[key] = value
    _check(values, fields)
    return values


def read_query(params: Mapping[str, str], fields: Sequence[Field], *, cursors: Iterable[str] = ()) -> dict[str, str]:
    """A GET's query string. Blank values are refused (500) except pagination cursors, which
    the documents say are sent empty on the first call; unknown parameters are ignored."""
    allowed_blank = set(cursors)
    values: dict[str, str] = {}
    for f in fields:
        value = params.get(f.name)
        if value is None:
            continue
        if not value.strip():
            if f.name in allowed_blank:
                continue
            raise ApiError(500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
        values[f.name] = value
    _check(values, fields)
    return values


def _check(values: Mapping[str, str], fields: Sequence[Field]) -> None:
    for f in fields:
        if f.required and f.name not in values:
            raise missing(f.name)
    for f in fields:
        if f.name in values and not _valid(f, values[f.name]):
            raise invalid(f.name)


def _valid(f: Field, value: str) -> bool:
    limit = f.limit()
    if limit is not None and len(value) > limit:
        return False
    if f.exact_length is not None and len(value) != f.exact_length:
        return False
    return _FORMAT_CHECKS[f.kind](value)


def _is_amount(value: str) -> bool:
    try:
        parsed = decode_amount(value)
    except CodecError:
        return False
    return value == value.strip() and parsed == parsed.quantize(CENT)


@functools.lru_cache(maxsize=1024)
def read_date(text: str) -> date:
    """`decode_date`, remembered: the requests of a day send the same few dates, each checked here and read
    again by the rule that uses it. A refusal is not remembered: it raises `CodecError` every time."""
    return decode_date(text)


def _is_date(value: str) -> bool:
    try:
        read_date(value)
    except CodecError:
        return False
    return True


def _is_year_month(value: str) -> bool:
    return len(value) == 6 and value.isascii() and value.isdigit() and 1 <= int(value[4:]) <= 12


_FORMAT_CHECKS: Final[dict[Kind, Callable[[str], bool]]] = {
    Kind.TEXT: lambda v: True,
    Kind.AMOUNT: _is_amount,
    Kind.DATE: _is_date,
    Kind.FLAG: lambda v: v in {"Y", "N"},
    Kind.DIGITS: lambda v: v.isascii() and v.isdigit(),
    Kind.LANGUAGE: lambda v: len(v) == 2 and v.isascii() and v.isalpha(),
    Kind.COUNTRY: lambda v: len(v) == 2 and v.isascii() and v.isalpha() and v.isupper(),
    Kind.YEAR_MONTH: _is_year_month,
}
