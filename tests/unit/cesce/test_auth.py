"""OAuth2 as guide section 2: password grant, cached token, refresh grant, single flight, one 401 retry.

Every test drives a real `CesceClient` through `FakeCesce`, which issues and checks tokens itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from tests.unit.cesce.fakes import (
    CLASSIFICATION,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTRACT,
    PASSWORD,
    SALE,
    FakeCesce,
    FakeClock,
    answer,
    cesce_error,
    client_for,
    make_settings,
)
from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.errors import (
    CesceAuthError,
    CesceError,
    CesceProtocolError,
    CesceTransientError,
    CesceValidationError,
)
from workers.cesce.models import DebtorId
from workers.cesce.models.classifications import ClassificationRequest
from workers.cesce.models.sales import SaleDeclaration

SALE_PATH = f"/sales/v1/contracts/{CONTRACT}/sale"
CLASSIFY_PATH = f"/classifications/v1/contracts/{CONTRACT}/classifications"


@pytest.fixture
def fake() -> FakeCesce:
    cesce = FakeCesce()
    cesce.route("GET", SALE_PATH, answer(generalData=SALE))
    return cesce


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(fake: FakeCesce, clock: FakeClock) -> AsyncIterator[CesceClient]:
    async with client_for(fake, clock) as cesce:
        yield cesce


async def read_sale(client: CesceClient) -> None:
    sale = await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")
    assert sale.saleCesceReferenceNo == "200000000001"


async def test_password_grant_sends_exactly_the_documented_form(fake: FakeCesce, client: CesceClient) -> None:
    await read_sale(client)

    assert fake.token_forms == [
        {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": "erp-user",
            "password": PASSWORD,
            "scope": "read create update delete",
        }
    ]


async def test_every_api_call_carries_the_bearer_token_and_the_client_id(fake: FakeCesce, client: CesceClient) -> None:
    await read_sale(client)
    await read_sale(client)

    assert [r.headers["Authorization"] for r in fake.api_requests] == ["Bearer access-1", "Bearer access-1"]
    assert {r.headers["X-IBM-Client-Id"] for r in fake.api_requests} == {CLIENT_ID}


async def test_the_token_is_reused_until_the_margin_before_it_expires(
    fake: FakeCesce, client: CesceClient, clock: FakeClock
) -> None:
    await read_sale(client)
    clock.now += 3600 - 60 - 1  # still outside the 60 s margin
    await read_sale(client)

    assert fake.grants() == ["password"]


async def test_a_token_near_expiry_is_renewed_with_the_refresh_grant(
    fake: FakeCesce, client: CesceClient, clock: FakeClock
) -> None:
    await read_sale(client)
    clock.now += 3600 - 60
    await read_sale(client)

    assert fake.grants() == ["password", "refresh_token"]
    assert fake.token_forms[1] == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": "refresh-1",
    }
    assert fake.api_requests[-1].headers["Authorization"] == "Bearer access-2"


async def test_the_new_refresh_token_is_used_next_time(fake: FakeCesce, client: CesceClient, clock: FakeClock) -> None:
    for _ in range(3):
        await read_sale(client)
        clock.now += 3600

    assert fake.grants() == ["password", "refresh_token", "refresh_token"]
    assert [form.get("refresh_token") for form in fake.token_forms] == [None, "refresh-1", "refresh-2"]


async def test_a_refused_refresh_falls_back_to_the_password_grant(
    fake: FakeCesce, client: CesceClient, clock: FakeClock
) -> None:
    await read_sale(client)
    fake._valid_refresh.clear()  # Cesce forgot the refresh token
    clock.now += 3600
    await read_sale(client)

    assert fake.grants() == ["password", "refresh_token", "password"]
    assert fake.api_requests[-1].headers["Authorization"] == "Bearer access-2"


async def test_fifty_concurrent_calls_share_one_token_request(clock: FakeClock) -> None:
    fake = FakeCesce(token_delay=0.01)
    fake.route("GET", SALE_PATH, answer(generalData=SALE))
    async with client_for(fake, clock) as client:
        await asyncio.gather(*(read_sale(client) for _ in range(50)))

    assert fake.grants() == ["password"]
    assert len(fake.api_requests) == 50
    assert {r.headers["Authorization"] for r in fake.api_requests} == {"Bearer access-1"}


async def test_concurrent_callers_share_a_refused_token_request_too(clock: FakeClock) -> None:
    fake = FakeCesce(token_delay=0.01)
    fake.token_script.append(httpx.Response(400, json={"error": "invalid_grant", "error_description": "nope"}))
    async with client_for(fake, clock) as client:
        results = await asyncio.gather(*(read_sale(client) for _ in range(10)), return_exceptions=True)

    assert all(isinstance(result, CesceAuthError) for result in results)
    assert len(fake.token_forms) == 1
    assert fake.api_requests == []


async def test_a_401_renews_the_token_once_and_resends_once(fake: FakeCesce, client: CesceClient) -> None:
    await read_sale(client)
    fake.revoke_access_tokens()  # like POST /sandbox-admin/tokens/revoke
    await read_sale(client)

    assert fake.grants() == ["password", "refresh_token"]
    assert [r.headers["Authorization"] for r in fake.api_requests] == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
    ]


async def test_concurrent_401s_share_one_renewal(clock: FakeClock) -> None:
    fake = FakeCesce(token_delay=0.01)
    fake.route("GET", SALE_PATH, answer(generalData=SALE))
    async with client_for(fake, clock) as client:
        await read_sale(client)
        fake.revoke_access_tokens()
        await asyncio.gather(*(read_sale(client) for _ in range(20)))

    assert fake.grants() == ["password", "refresh_token"]
    assert [r.headers["Authorization"] for r in fake.api_requests[-20:]] == ["Bearer access-2"] * 20


async def test_a_second_401_is_an_auth_error_without_more_tries(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", SALE_PATH, cesce_error(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS))

    with pytest.raises(CesceAuthError) as refused:
        await read_sale(client)

    assert len(fake.api_requests) == 2
    assert fake.grants() == ["password", "refresh_token"]
    assert refused.value.http_status == 401
    assert refused.value.error_description == cat.MSG_SECURITY_CHECKS


async def test_the_token_endpoint_refusal_is_an_auth_error(fake: FakeCesce, clock: FakeClock) -> None:
    async with client_for(fake, clock, password="wrong-password") as client:
        with pytest.raises(CesceAuthError, match="Resource owner denied or not found") as refused:
            await read_sale(client)

    assert refused.value.http_status == 400
    assert refused.value.error_code == "invalid_grant"
    assert len(fake.token_forms) == 1  # never retried
    assert fake.api_requests == []
    assert clock.sleeps == []


async def test_an_invalid_request_on_the_token_endpoint_is_an_auth_error() -> None:
    fake = FakeCesce()
    fake.token_script.append(httpx.Response(400, json={"error": "invalid_request", "error_description": "scope"}))
    async with CesceClient(make_settings(), transport=fake.transport) as client:
        with pytest.raises(CesceAuthError, match="scope"):
            await read_sale(client)


async def test_a_token_endpoint_outage_is_transient_and_retried(fake: FakeCesce, clock: FakeClock) -> None:
    fake.token_script.append(httpx.Response(503, text="<html>down</html>"))
    async with client_for(fake, clock) as client:
        await read_sale(client)

    assert fake.grants() == ["password", "password"]
    assert len(clock.sleeps) == 1


async def test_a_lost_token_answer_does_not_block_a_non_idempotent_call(clock: FakeClock) -> None:
    # The token request timed out, so the classification request was never sent: retrying is safe.
    fake = FakeCesce()
    fake.token_script.append(httpx.ReadTimeout("token endpoint too slow"))
    fake.route("POST", CLASSIFY_PATH, answer(201, generalData=CLASSIFICATION))
    request = ClassificationRequest(
        customerReference="CLI-0100", creditLimitRequested=Decimal(50000), nonPaymentInd="N"
    )
    async with client_for(fake, clock) as client:
        classification = await client.classifications.create(CONTRACT, request)

    assert classification.creditLimitGranted == Decimal("50000.00")
    assert len(fake.token_forms) == 2
    assert len(fake.api_requests) == 1


async def test_a_token_endpoint_that_stays_down_ends_in_a_transient_error(clock: FakeClock) -> None:
    fake = FakeCesce()
    fake.token_script.extend([httpx.ConnectError("refused")] * 4)
    async with client_for(fake, clock) as client:
        with pytest.raises(CesceTransientError) as failed:
            await read_sale(client)

    assert failed.value.attempts == 4
    assert failed.value.outcome_unknown is False
    assert fake.api_requests == []


async def test_a_malformed_token_answer_is_a_protocol_error_that_hides_the_token() -> None:
    fake = FakeCesce()
    fake.token_script.append(httpx.Response(200, json={"access_token": "leaky-token-123", "expires_in": "soon"}))
    async with CesceClient(make_settings(), transport=fake.transport) as client:
        with pytest.raises(CesceProtocolError, match="expires_in") as failed:
            await read_sale(client)

    assert "leaky-token-123" not in str(failed.value)
    assert failed.value.__cause__ is None


async def test_secrets_never_reach_logs_reprs_or_error_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    fake = FakeCesce(expires_in=100)
    fake.route("GET", SALE_PATH, answer(generalData=SALE))
    errors: list[BaseException] = []
    settings = make_settings()
    client = CesceClient(settings, transport=fake.transport, sleep=clock.sleep, clock=clock)
    try:
        await read_sale(client)  # token 1
        clock.now += 100
        await read_sale(client)  # refreshed: token 2
        fake.revoke_access_tokens()
        await read_sale(client)  # 401, renewed: token 3
        fake._valid_refresh.clear()
        clock.now += 100
        await read_sale(client)  # refresh refused, password grant: token 4
        failures: list[httpx.Response | Exception] = [
            cesce_error(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, text="not json"),
            cesce_error(400, "1522", cat.MSG_EXPIRED_POLICY),
        ]
        for responder in failures:
            fake.route("GET", SALE_PATH, responder)
            with pytest.raises(CesceError) as failed:
                await read_sale(client)
            errors.append(failed.value)
        with pytest.raises(CesceValidationError) as invalid:
            await client.classifications.get("123", DebtorId())
        errors.append(invalid.value)
        fake.token_script.append(httpx.Response(200, json={"access_token": "access-99", "expires_in": 0}))
        fake.revoke_access_tokens()
        with pytest.raises(CesceError) as failed:
            await read_sale(client)
        errors.append(failed.value)
    finally:
        await client.aclose()
    async with CesceClient(make_settings(password="bad"), transport=fake.transport) as refused_client:
        with pytest.raises(CesceAuthError) as refused:
            await refused_client.sales.declare(
                CONTRACT,
                SaleDeclaration(
                    endorsementNo="1",
                    invoiceNo="F1",
                    invoiceDate=date(2026, 1, 1),
                    maturityDate=date(2026, 2, 1),
                    currencyAmount=Decimal(1),
                ),
            )
        errors.append(refused.value)

    secrets = [CLIENT_SECRET, PASSWORD, "access-99"]
    secrets += [f"access-{n}" for n in range(1, 6)] + [f"refresh-{n}" for n in range(1, 6)]
    texts = [caplog.text, repr(settings), str(settings), repr(client), repr(client.sales), repr(client._tokens)]
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            texts += [str(chain), repr(chain)]
            chain = chain.__cause__ or chain.__context__
    assert fake.grants()[:4] == ["password", "refresh_token", "refresh_token", "refresh_token"]
    assert caplog.records  # the scenario did log: retries, renewals, fallbacks
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_readiness_asks_for_a_token_and_a_refusal_stands_for_a_while(clock: FakeClock) -> None:
    """Probes every few seconds must not turn into a password grant each: after a refusal the answer stands
    30 s (refused credentials hammered at Cesce's token endpoint could lock the account)."""
    fake = FakeCesce()
    fake.token_script.append(httpx.Response(400, json={"error": "invalid_grant", "error_description": "nope"}))
    async with client_for(fake, clock) as client:
        assert await client.token_problem() == "no Cesce token: CesceAuthError HTTP 400"
        clock.now += 29
        assert await client.token_problem() == "no Cesce token: CesceAuthError HTTP 400"
        assert fake.grants() == ["password"]
        clock.now += 2
        assert await client.token_problem() is None  # asked again, and the credentials work now
        assert await client.token_problem() is None  # the cached token: no request
        assert fake.grants() == ["password", "password"]
