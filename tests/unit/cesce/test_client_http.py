"""The HTTP boundary: every documented answer and every httpx exception becomes the right Cesce error."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.unit.cesce.fakes import (
    CONTRACT,
    SALE,
    FakeCesce,
    answer,
    cesce_error,
    client_for,
    sale_row,
)
from workers.cesce import assumptions as asm
from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.errors import (
    CesceAuthError,
    CesceError,
    CesceNotFound,
    CesceProtocolError,
    CesceRateLimited,
    CesceRejection,
    CesceTransientError,
    DuplicateSale,
    RejectionReason,
)
from workers.cesce.http import TRANSPORT_ERRORS, decode_answer, translate_transport_error
from workers.cesce.retry import parse_retry_after

SALE_PATH = f"/sales/v1/contracts/{CONTRACT}/sale"
R = RejectionReason


@pytest.fixture
def fake() -> FakeCesce:
    return FakeCesce()


@pytest.fixture
async def client(fake: FakeCesce) -> AsyncIterator[CesceClient]:
    # one try: these tests are about the error, not the retry
    async with client_for(fake, retry_attempts=1) as cesce:
        yield cesce


async def read_sale(client: CesceClient) -> None:
    await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")


@pytest.mark.parametrize(
    "case",
    [
        (400, "1522", cat.MSG_CONTRACT_REQUIRED, CesceRejection, R.CONTRACT_REQUIRED),
        (403, "6", cat.MSG_UNAUTHORIZED_CONTRACT, CesceRejection, R.UNAUTHORIZED_CONTRACT),
        (400, "1522", cat.MSG_EXPIRED_POLICY, CesceRejection, R.EXPIRED_POLICY),
        (400, "1522", cat.MSG_NOT_IN_POLICY_CONDITIONS, CesceRejection, R.NOT_IN_POLICY_CONDITIONS),
        (400, "1522", cat.MSG_NO_PENDING_SALES, CesceRejection, R.NO_PENDING_SALES),
        (400, "1522", cat.MSG_DATE_ORDER, CesceRejection, R.DATE_ORDER),
        (400, "1522", asm.DUPLICATE_SALE_DESCRIPTION, DuplicateSale, None),
        (400, "2809", cat.MSG_POLICY_EXCLUDED, CesceRejection, R.POLICY_EXCLUDED),
        (400, "2", asm.MSG_NO_IDENTIFIER, CesceRejection, R.OTHER),
        (400, "2", cat.MSG_NO_LIMIT, CesceRejection, R.NO_LIMIT),
        (400, "2", asm.MSG_CLASSIFICATION_NOT_CANCELLABLE, CesceRejection, R.NOTHING_TO_CANCEL),
        (400, "1522", asm.MSG_MODIFICATION_WINDOW, CesceRejection, R.MODIFICATION_WINDOW),
        (400, "1522", asm.MSG_MODIFICATION_NOT_ALLOWED, CesceRejection, R.MODIFICATION_NOT_ALLOWED),
        (422, "422", "'nonPaymentInd' is missing.", CesceRejection, R.MISSING_FIELD),
        (422, "422", "'taxCode' is invalid.", CesceRejection, R.OTHER),
        (405, "25", "Method Not Allowed", CesceRejection, R.OTHER),
        (200, "1522", cat.MSG_EXPIRED_POLICY, CesceRejection, R.EXPIRED_POLICY),
        (404, "4", asm.MSG_SALE_NOT_FOUND, CesceNotFound, None),
        (404, "4", cat.MSG_NOT_FOUND, CesceNotFound, None),
        (401, "21", cat.MSG_SUBSCRIPTION, CesceAuthError, None),
        (500, "3", cat.MSG_SERVICE_UNAVAILABLE, CesceTransientError, None),
        (400, "18", "Servicio en mantenimiento", CesceTransientError, None),
        (429, "29", cat.MSG_RATE_LIMITED, CesceRateLimited, None),
    ],
)
async def test_documented_answers_map_to_their_error(
    fake: FakeCesce, client: CesceClient, case: tuple[int, str, str, type[CesceError], RejectionReason | None]
) -> None:
    status, code, text, error, reason = case
    fake.route("GET", SALE_PATH, cesce_error(status, code, text))

    with pytest.raises(error) as raised:
        await read_sale(client)

    assert type(raised.value) is error
    assert (raised.value.http_status, raised.value.error_code, raised.value.error_description) == (status, code, text)
    assert raised.value.operation == "sales.get"
    if reason is not None:
        assert isinstance(raised.value, CesceRejection)
        assert raised.value.reason is reason


async def test_a_429_carries_retry_after(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", SALE_PATH, cesce_error(429, "29", cat.MSG_RATE_LIMITED, headers={"Retry-After": "3"}))

    with pytest.raises(CesceRateLimited) as limited:
        await read_sale(client)

    assert limited.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("response", "error", "outcome_unknown"),
    [
        (httpx.Response(200, text="<html>ok</html>"), CesceProtocolError, None),
        (httpx.Response(200, json=["a", "list"]), CesceProtocolError, None),
        (httpx.Response(200, content=b"\xff\xfe{"), CesceProtocolError, None),
        (httpx.Response(400, text="Bad Request"), CesceProtocolError, None),
        (httpx.Response(200, json={"error": ["not", "an", "object"]}), CesceProtocolError, None),
        (httpx.Response(200, json={"error": {"errorCode": {"x": 1}}}), CesceProtocolError, None),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), CesceTransientError, True),
        (httpx.Response(504, text="Gateway Timeout"), CesceTransientError, True),
        (httpx.Response(503, text="Service Unavailable"), CesceTransientError, False),
        (httpx.Response(404, text="Not Found"), CesceNotFound, None),
    ],
)
async def test_answers_that_are_not_cesce_json(
    fake: FakeCesce,
    client: CesceClient,
    response: httpx.Response,
    error: type[CesceError],
    outcome_unknown: bool | None,
) -> None:
    fake.route("GET", SALE_PATH, response)

    with pytest.raises(error) as raised:
        await read_sale(client)

    assert type(raised.value) is error
    assert raised.value.http_status == response.status_code
    if outcome_unknown is not None:
        assert isinstance(raised.value, CesceTransientError)
        assert raised.value.outcome_unknown is outcome_unknown


@pytest.mark.parametrize(
    ("general_data", "field"),
    [
        (None, "sales.get"),
        ({**SALE, "currencyAmount": "1.234,50"}, "currencyAmount"),
        ({**SALE, "invoiceDate": "2026-01-10"}, "invoiceDate"),
        ({k: v for k, v in SALE.items() if k != "saleCesceReferenceNo"}, "saleCesceReferenceNo"),
    ],
)
async def test_a_success_in_the_wrong_shape_is_a_protocol_error(
    fake: FakeCesce, client: CesceClient, general_data: dict[str, str] | None, field: str
) -> None:
    fake.route("GET", SALE_PATH, answer(generalData=general_data))

    with pytest.raises(CesceProtocolError, match=field):
        await read_sale(client)


def _httpx_request_errors() -> list[type[httpx.RequestError]]:
    found: list[type[httpx.RequestError]] = []
    pending: list[type[httpx.RequestError]] = [httpx.RequestError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("httpx") and not cls.__subclasses__():
            found.append(cls)
    return found


def test_the_transport_mapping_names_every_httpx_request_error() -> None:
    leaves = _httpx_request_errors()

    assert len(leaves) >= 14
    assert set(leaves) <= set(TRANSPORT_ERRORS)


@pytest.mark.parametrize(
    ("exception", "outcome_unknown"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ProxyError, False),
        (httpx.ReadTimeout, True),
        (httpx.WriteTimeout, True),
        (httpx.RemoteProtocolError, True),
        (httpx.ReadError, True),
        (httpx.WriteError, True),
        (httpx.CloseError, True),
    ],
)
async def test_transport_failures_are_transient_with_the_right_outcome(
    fake: FakeCesce, client: CesceClient, exception: type[httpx.RequestError], outcome_unknown: bool
) -> None:
    fake.route("GET", SALE_PATH, exception("boom"))

    with pytest.raises(CesceTransientError) as raised:
        await read_sale(client)

    assert raised.value.outcome_unknown is outcome_unknown
    assert isinstance(raised.value.__cause__, exception)
    assert exception.__name__ in str(raised.value)


@pytest.mark.parametrize(
    "exception", [httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.DecodingError, httpx.TooManyRedirects]
)
async def test_requests_httpx_could_not_make_or_read_are_protocol_errors(
    fake: FakeCesce, client: CesceClient, exception: type[httpx.RequestError]
) -> None:
    fake.route("GET", SALE_PATH, exception("boom"))

    with pytest.raises(CesceProtocolError) as raised:
        await read_sale(client)

    assert isinstance(raised.value.__cause__, exception)


@pytest.mark.parametrize("exception", sorted(TRANSPORT_ERRORS, key=lambda cls: cls.__name__))
def test_every_mapped_exception_becomes_a_cesce_error(exception: type[httpx.RequestError]) -> None:
    translated = translate_transport_error(exception("boom"), "op")

    assert isinstance(translated, CesceTransientError | CesceProtocolError)
    assert translated.operation == "op"


def test_an_unforeseen_transport_error_is_transient_with_an_unknown_outcome() -> None:
    class NewTransportError(httpx.TransportError):
        pass

    translated = translate_transport_error(NewTransportError("new"), "op")

    assert isinstance(translated, CesceTransientError)
    assert translated.outcome_unknown is True


def test_the_mapping_only_claims_httpx_request_errors() -> None:
    assert all(inspect.isclass(cls) and issubclass(cls, httpx.RequestError) for cls in TRANSPORT_ERRORS)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("1.5", 1.5),
        (" 12 ", 12.0),
        ("-3", 0.0),
        ("Sat, 21 Nov 2026 10:00:30 GMT", 30.0),
        ("Sat, 21 Nov 2026 09:59:00 GMT", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)

    assert parse_retry_after(header, now=now) == seconds


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json={"error": "invalid_grant", "error_description": "denied"}), CesceAuthError),
        (httpx.Response(401, json={"error": "invalid_client"}), CesceAuthError),
        (httpx.Response(400, json={"error": "invalid_request", "error_description": "grant_type"}), CesceAuthError),
        (httpx.Response(500, json={"error": "server_error"}), CesceTransientError),
        (httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow_down"}), CesceRateLimited),
        (httpx.Response(200, text="token?"), CesceProtocolError),
    ],
)
def test_token_endpoint_answers(response: httpx.Response, error: type[CesceError]) -> None:
    with pytest.raises(error) as raised:
        decode_answer(response, "oauth.token", token_endpoint=True)

    assert type(raised.value) is error


def test_a_successful_answer_is_returned_as_is() -> None:
    payload = {"error": {"errorCode": "0", "errorDescription": ""}, "generalData": {"statusCode": "5"}}

    assert decode_answer(httpx.Response(201, json=payload), "op") == payload


async def test_an_exchange_is_logged_at_info_when_refused_and_at_debug_when_answered(
    fake: FakeCesce, client: CesceClient, caplog: pytest.LogCaptureFixture
) -> None:
    """One line per exchange: a refusal is INFO (every rejection explained in the logs too); an answered call is
    DEBUG, counted by spans and cesce.client.duration (the line cost ~9% of the worker's CPU, issue 18)."""
    fake.route(
        "GET",
        SALE_PATH,
        cesce_error(400, "1522", cat.MSG_EXPIRED_POLICY),
        answer(generalData=sale_row("200000000001")),
    )
    caplog.set_level(logging.DEBUG, logger="workers.cesce.http")

    with pytest.raises(CesceRejection):
        await read_sale(client)
    await read_sale(client)

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.message.startswith("cesce sales.get")]
    assert lines == [
        (logging.INFO, "cesce sales.get: GET /sales/contracts/{contractNo}/sale: 400"),
        (logging.DEBUG, "cesce sales.get: GET /sales/contracts/{contractNo}/sale: 200"),
    ]
