"""The wire codecs are exact: every cent survives a round trip, anything lossy is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from workers.cesce.codecs import (
    AMOUNT_PLACES,
    RATE_PLACES,
    CodecError,
    WireAmount,
    WireDate,
    WireRate,
    _exact,
    check_contract_no,
    decode_amount,
    decode_date,
    encode_amount,
    encode_date,
    spanish_today,
)


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("-1234,50", Decimal("-1234.50")),
        ("123456789012345,15", Decimal("123456789012345.15")),
        ("0,01", Decimal("0.01")),
        ("7", Decimal("7")),
        ("100,5", Decimal("100.5")),
    ],
)
def test_decode_amount(wire: str, value: Decimal) -> None:
    decoded = decode_amount(wire)
    assert decoded == value
    assert isinstance(decoded, Decimal)


@pytest.mark.parametrize("wire", ["1.234,50", "1234.50", "", " ", "12,345678", "abc", "1 234,50", "--1", "+5"])
def test_decode_amount_rejects_what_is_not_cesce(wire: str) -> None:
    with pytest.raises(CodecError):
        decode_amount(wire)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("-1234.5"), "-1234,50"),
        (Decimal("0.1") + Decimal("0.2"), "0,30"),
        (Decimal("123456789012345.15"), "123456789012345,15"),
        (Decimal("-0.00"), "0,00"),
        (Decimal("1E+2"), "100,00"),
        (5, "5,00"),
    ],
)
def test_encode_amount(value: Decimal, wire: str) -> None:
    assert encode_amount(value) == wire


@pytest.mark.parametrize(
    "value",
    [Decimal("0.001"), Decimal("1234.505"), Decimal("NaN"), Decimal("Infinity"), Decimal("1234567890123456")],
)
def test_encode_amount_refuses_to_lose_anything(value: Decimal) -> None:
    with pytest.raises(CodecError):
        encode_amount(value)


def test_encode_amount_refuses_floats_and_bools() -> None:
    with pytest.raises(CodecError):
        encode_amount(0.1)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        encode_amount(True)


def test_rates_keep_five_decimals() -> None:
    assert encode_amount(Decimal("0.13752"), 5) == "0,13752"
    assert decode_amount("123,78478") == Decimal("123.78478")


def test_amount_round_trip_is_exact() -> None:
    for cents in [*range(-10_001, 10_002, 37), 10**17 - 1, -(10**17) + 1]:
        value = Decimal(cents).scaleb(-2)
        assert decode_amount(encode_amount(value)) == value, value


def test_dates() -> None:
    assert decode_date("20200417") == date(2020, 4, 17)
    assert encode_date(date(2020, 4, 17)) == "20200417"
    assert encode_date(date(999, 1, 2)) == "09990102"
    for bad in ("2020-04-17", "20201332", "2020041", "", "20200230"):
        with pytest.raises(CodecError):
            decode_date(bad)


@pytest.mark.parametrize("good", ["34109150331", "38100029218", "34100000017", "35100000025", "99909150331"])
def test_contract_numbers(good: str) -> None:
    """000 line 60: "Modalidad (341 para Máster Oro Integral o 381 para Póliza Clásica)": examples; any modality."""
    assert check_contract_no(good) == good


@pytest.mark.parametrize(
    "bad", ["3410915033", "341 0915033", "", "341091503311", "3410915033a", "34109150331\n", "٣٤١٠٩١٥٠٣٣١"]
)
def test_contract_numbers_rejected(bad: str) -> None:
    with pytest.raises(CodecError):
        check_contract_no(bad)


class _Sale(BaseModel):
    currencyAmount: WireAmount
    commercialRiskRate: WireRate
    invoiceDate: WireDate


def test_annotated_types_parse_the_wire_and_dump_it_back() -> None:
    sale = _Sale.model_validate(
        {"currencyAmount": "-10,05", "commercialRiskRate": "0,13752", "invoiceDate": "20260131"}
    )
    assert sale.currencyAmount == Decimal("-10.05")
    assert sale.invoiceDate == date(2026, 1, 31)
    assert sale.model_dump(mode="json") == {
        "currencyAmount": "-10,05",
        "commercialRiskRate": "0,13752",
        "invoiceDate": "20260131",
    }
    assert sale.model_dump()["currencyAmount"] == Decimal("-10.05")


def test_annotated_types_refuse_floats_and_extra_decimals_at_construction() -> None:
    with pytest.raises(ValidationError, match="never floats"):
        _Sale(currencyAmount=0.1, commercialRiskRate=Decimal(0), invoiceDate=date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="more than 2 decimals"):
        _Sale(currencyAmount=Decimal("0.001"), commercialRiskRate=Decimal(0), invoiceDate=date(2026, 1, 1))


def test_cesces_today_is_the_day_in_spain() -> None:
    """Between 23:00 and midnight UTC in winter it is already tomorrow for Cesce (the ERP samples use this day:
    a row dated by the UTC day looked a day older than Cesce's record of it, and a request was superseded)."""
    late_evening_utc = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert spanish_today(late_evening_utc) == date(2026, 12, 7)
    assert spanish_today(datetime(2026, 7, 1, 21, 59, tzinfo=UTC)) == date(2026, 7, 1)  # summer: UTC+2
    assert spanish_today(datetime(2026, 7, 1, 22, 0, tzinfo=UTC)) == date(2026, 7, 2)


_EDGES = [
    "0",
    "-0",
    "0.00",
    "-0.00",
    "1234.5",
    "-1234.50",
    "0.001",
    "1234.500",
    "1234.505",
    "1E+2",
    "1E-2",
    "1E-3",
    "999999999999999.99",
    "-999999999999999.99",
    "1000000000000000",
    "1000000000000000.00",
    "999999999999999.995",
    "12345678901234567890.1",
    "1E+30",
    "1E-30",
    "0E-10",
    "0E+10",
    "0.12345",
    "0.123456",
    "0.1234500",
    "NaN",
    "-Infinity",
    "Infinity",
    "sNaN",
    "123456789012345678901234567890",
    "1E+999999",
]


@pytest.mark.parametrize("places", [AMOUNT_PLACES, RATE_PLACES])
@pytest.mark.parametrize("text", _EDGES)
def test_the_exactness_check_of_a_model_refuses_what_encoding_refuses(places: int, text: str) -> None:
    value = Decimal(text)
    try:
        encode_amount(value, places)
    except CodecError:
        refused = True
    else:
        refused = False
    check = _exact(places)
    if refused:
        with pytest.raises(CodecError):
            check(value)
    else:
        assert check(value) is value
