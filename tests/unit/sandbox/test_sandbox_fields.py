"""Reading bodies and query strings with Cesce's errors, in the documented order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workers.sandbox.fields import CLIENT_FIELDS, Field, Kind, parse_body, read_query, read_section, reject_unknown
from workers.sandbox.wire import ApiError

FIELDS = (
    Field("invoiceNo", required=True),
    Field("currencyAmount", Kind.AMOUNT, required=True),
    Field("invoiceDate", Kind.DATE),
    Field("nonPaymentInd", Kind.FLAG),
    Field("endorsementNo", Kind.DIGITS),
    Field("countryCode", Kind.COUNTRY),
    Field("customerReference"),
)


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code, caught.value.description


@pytest.mark.parametrize("raw", [b"", b"  ", b"[]", b'"x"', b"{", b"\xff\xfe", b"null"])
def test_a_body_must_be_a_json_object(raw: bytes) -> None:
    assert failure(parse_body, raw) == (422, "422", "'body' is invalid.")


@pytest.mark.parametrize(
    "body",
    [
        {"generalData": {"invoiceNo": ""}},
        {"generalData": {"invoiceNo": "  "}},
        {"client": {"languageCode": "\t"}},
        {"unknown": {"deep": [" "]}},
    ],
)
def test_a_blank_string_anywhere_is_a_500(body: dict[str, Any]) -> None:
    assert failure(parse_body, json.dumps(body).encode()) == (500, "3", "Service unavailable. Please, try again later")


def test_blank_wins_over_every_other_error() -> None:
    raw = b'{"extra": 1, "generalData": {"nonPaymentInd": " "}}'
    assert failure(parse_body, raw)[0] == 500


def test_unknown_properties_of_a_closed_body() -> None:
    reject_unknown({"client": {}, "generalData": {}}, ("client", "generalData"))
    assert failure(reject_unknown, {"client": {}, "x": 1}, ("client",)) == (422, "422", "'x' is invalid.")


def test_a_section_is_required_unless_told_otherwise() -> None:
    assert failure(read_section, {}, "generalData", FIELDS) == (422, "422", "'generalData' is missing.")
    assert read_section({}, "newData", FIELDS, required=False) == {}
    assert failure(read_section, {"generalData": []}, "generalData", FIELDS)[2] == "'generalData' is invalid."


def test_closed_and_open_sections() -> None:
    body = {"generalData": {"invoiceNo": "F", "currencyAmount": "1,00", "surprise": "x"}}
    assert failure(read_section, body, "generalData", FIELDS)[2] == "'surprise' is invalid."
    assert read_section(body, "generalData", FIELDS, closed=False) == {"invoiceNo": "F", "currencyAmount": "1,00"}


def test_unknown_comes_before_missing_and_missing_before_invalid() -> None:
    body = {"generalData": {"invoiceDate": "bad", "x": "1"}}
    assert failure(read_section, body, "generalData", FIELDS)[2] == "'x' is invalid."
    body = {"generalData": {"invoiceDate": "bad"}}
    assert failure(read_section, body, "generalData", FIELDS)[2] == "'invoiceNo' is missing."


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("currencyAmount", "-1234,50", True),
        ("currencyAmount", "1234", True),
        ("currencyAmount", "123456789012345,15", True),
        ("currencyAmount", "1234,5", True),
        ("currencyAmount", "1234,501", False),
        ("currencyAmount", "1.234,50", False),
        ("currencyAmount", "1234.50", False),
        ("currencyAmount", " 12,00", False),
        ("currencyAmount", 12, False),
        ("invoiceDate", "20230228", True),
        ("invoiceDate", "20230229", False),
        ("invoiceDate", "2023-02-28", False),
        ("nonPaymentInd", "Y", True),
        ("nonPaymentInd", "y", False),
        ("endorsementNo", "123456", True),
        ("endorsementNo", "1234567", False),  # FIELD_MAX_LENGTHS: 6
        ("endorsementNo", "12a", False),
        ("endorsementNo", "١٢", False),  # not ASCII digits
        ("countryCode", "FR", True),
        ("countryCode", "fr", False),
        ("customerReference", "x" * 50, True),
        ("customerReference", "x" * 51, False),
        ("customerReference", None, False),
    ],
)
def test_formats_and_lengths(field: str, value: Any, valid: bool) -> None:
    body = {"generalData": {"invoiceNo": "F", "currencyAmount": "1,00", field: value}}
    if valid:
        assert read_section(body, "generalData", FIELDS)[field] == value
    else:
        assert failure(read_section, body, "generalData", FIELDS) == (422, "422", f"'{field}' is invalid.")


def test_the_client_section() -> None:
    assert read_section({"client": {"languageCode": "ES"}}, "client", CLIENT_FIELDS) == {"languageCode": "ES"}
    assert failure(read_section, {"client": {"languageCode": "ESP"}}, "client", CLIENT_FIELDS)[2] == (
        "'languageCode' is invalid."
    )


def test_query_strings() -> None:
    fields = (
        Field("languageCode", Kind.LANGUAGE, required=True),
        Field("initialValue", Kind.DIGITS),
        Field("invoiceNo"),
    )
    assert read_query({"languageCode": "ES", "initialValue": "", "other": "x"}, fields, cursors=("initialValue",)) == {
        "languageCode": "ES"
    }
    assert failure(read_query, {"languageCode": "ES", "invoiceNo": " "}, fields)[0] == 500
    assert failure(read_query, {}, fields)[2] == "'languageCode' is missing."
    assert failure(read_query, {"languageCode": "ES", "initialValue": "x"}, fields)[2] == "'initialValue' is invalid."
    year_month = (Field("invoiceYearMonth", Kind.YEAR_MONTH),)
    assert read_query({"invoiceYearMonth": "202312"}, year_month) == {"invoiceYearMonth": "202312"}
    assert failure(read_query, {"invoiceYearMonth": "202313"}, year_month)[0] == 422
