"""What the sandbox remembers to spend less CPU a request answers exactly what it computed before."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from workers.cesce.codecs import RATE_PLACES, CodecError, encode_amount
from workers.sandbox import wire
from workers.sandbox.fields import read_date
from workers.sandbox.middleware import RouteTemplates, _header

ROUTES = [
    ("/sales/v1/contracts/{contractNo}/sales", ["POST"]),
    ("/sales/v1/contracts/{contractNo}/sales", ["GET"]),
    ("/sales/v1/contracts/{contractNo}/sale", ["GET", "POST"]),
]


def test_a_remembered_path_matches_the_same_template_and_the_memory_is_bounded() -> None:
    templates = RouteTemplates(lambda: ROUTES)
    paths = ["/sales/v1/contracts/1/sales", "/sales/v1/contracts/1/sale", "/sales/v1/contracts//sales", "/other"]
    first = [templates.match(path) for path in paths]
    assert first == [ROUTES[0][0], ROUTES[2][0], None, None]
    assert [templates.match(path) for path in paths] == first
    for number in range(RouteTemplates.MATCHES_REMEMBERED + 10):
        assert templates.match(f"/sales/v1/contracts/{number}/sales") == ROUTES[0][0]
    assert len(templates._matched) <= RouteTemplates.MATCHES_REMEMBERED
    long = "/sales/v1/contracts/" + "1" * RouteTemplates.PATH_REMEMBERED + "/sales"
    assert templates.match(long) == ROUTES[0][0]
    assert long not in templates._matched
    assert [templates.match(path) for path in paths] == first
    assert templates.methods(ROUTES[0][0]) == {"GET", "POST"}
    assert templates.serves(ROUTES[2][0], "post")


@pytest.mark.parametrize("name", ["x-ibm-client-id", "authorization", "absent"])
def test_a_header_is_read_as_starlette_reads_it(name: str) -> None:
    raw = [(b"authorization", b"Bearer \xe9t\xe9"), (b"x-ibm-client-id", b"app"), (b"authorization", b"second")]
    assert _header(raw, name.encode()) == Headers(raw=raw).get(name, "")


@pytest.mark.parametrize("value", ["0.13752", "0.1375200", "95", "95.00", "0", "-0", "0.5", "0.50"])
def test_rates_and_cover_percentages_are_written_as_encode_amount_writes_them(value: str) -> None:
    for _ in range(2):  # the second time from memory
        assert wire.rate(Decimal(value)) == encode_amount(Decimal(value), RATE_PLACES)
        assert wire.cover(Decimal(value)) == wire.amount(Decimal(value))


def test_a_refused_rate_is_refused_every_time() -> None:
    for value in (Decimal("0.1234567"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")):
        for _ in range(2):
            with pytest.raises(CodecError):
                wire.rate(value)


def test_a_refused_date_is_refused_every_time() -> None:
    assert read_date("20300110") == read_date("20300110") == date(2030, 1, 10)
    for _ in range(2):
        with pytest.raises(CodecError):
            read_date("20300230")


def test_an_answer_is_the_bytes_of_a_json_response() -> None:
    body = wire.ok(generalData={"text": "venta errónea", "amount": "1,00"})
    answer = wire.answer(201, body)
    expected = JSONResponse(body, status_code=201)
    assert (answer.body, answer.status_code, answer.raw_headers) == (expected.body, 201, expected.raw_headers)
    error = wire.ApiError(429, "29", "too many", {"Retry-After": "1"}).response()
    expected = JSONResponse(wire.error_body("29", "too many"), status_code=429, headers={"Retry-After": "1"})
    assert (error.body, error.status_code, error.raw_headers) == (expected.body, 429, expected.raw_headers)
