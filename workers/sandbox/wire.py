"""The envelope every Cesce answer shares, and the one exception that carries an error answer.

Every JSON answer of the Cesce APIs has ``"error": {"errorCode", "errorDescription"}``; success
is errorCode "0" with an empty description, and an error answer carries nothing else. A rule
anywhere in the sandbox refuses a request by raising `ApiError`; the app turns it into the
answer in one place, so no rule builds a response by hand.

Every text and code comes from `workers.cesce.catalogue` (documented) or
`workers.cesce.assumptions` (our choices); none is typed here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from starlette.responses import JSONResponse

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import ERROR_CODE_VALIDATION, MSG_INVALID_FIELD
from workers.cesce.codecs import AMOUNT_PLACES, RATE_PLACES, encode_amount, encode_date

__all__ = [
    "CENT",
    "ApiError",
    "amount",
    "answer",
    "cover",
    "error_body",
    "invalid",
    "missing",
    "money",
    "ok",
    "rate",
    "wire_date",
]

CENT: Final = Decimal(1).scaleb(-AMOUNT_PLACES)
# starlette's JSONResponse.render calls json.dumps with these options, which builds an encoder for every answer
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


class _Answer(JSONResponse):
    """A JSONResponse whose body is the same bytes, written by one encoder made once."""

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content).encode("utf-8")


class ApiError(Exception):
    """An error answer: HTTP status, errorCode, errorDescription and optional headers."""

    def __init__(self, status: int, code: str, description: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status} errorCode {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return _Answer(error_body(self.code, self.description), status_code=self.status, headers=self.headers)


def missing(field: str) -> ApiError:
    return ApiError(422, ERROR_CODE_VALIDATION, cat.MSG_MISSING_FIELD.format(field=field))


def invalid(field: str) -> ApiError:
    return ApiError(422, ERROR_CODE_VALIDATION, MSG_INVALID_FIELD.format(field=field))


def error_body(code: str, description: str) -> dict[str, Any]:
    return {"error": {"errorCode": code, "errorDescription": description}}


def ok(**sections: Any) -> dict[str, Any]:
    """A success body: the error envelope with errorCode "0" followed by the given sections."""
    return {**error_body(cat.ERROR_CODE_OK, ""), **sections}


def answer(status: int, body: Mapping[str, Any]) -> JSONResponse:
    return _Answer(dict(body), status_code=status)


def money(value: Decimal) -> Decimal:
    """Round to cents, half to even: how every premium and countervalue is computed."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def amount(value: Decimal) -> str:
    return encode_amount(money(value), AMOUNT_PLACES)


def rate(value: Decimal) -> str:
    return _policy_figure(value, RATE_PLACES)


def cover(value: Decimal) -> str:
    """A cover percentage: what `amount` writes, for one of the few figures a policy fixes."""
    return _policy_figure(money(value), AMOUNT_PLACES)


def _policy_figure(value: Decimal, places: int) -> str:
    """`encode_amount` of a rate or a cover percentage. A policy has a few of them and every sale answers them,
    so their texts are remembered; anything but a finite Decimal goes straight to `encode_amount`."""
    if type(value) is not Decimal or not value.is_finite():
        return encode_amount(value, places)
    return _remembered_figure(value, places)


@functools.lru_cache(maxsize=256)
def _remembered_figure(value: Decimal, places: int) -> str:
    # equal Decimals (0.5, 0.50) quantize to the same text, so a value found equal to a remembered one is
    # written the same; a refusal raises and is not remembered
    return encode_amount(value, places)


def wire_date(value: date) -> str:
    return encode_date(value)
