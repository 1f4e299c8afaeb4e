"""Test doubles for the Cesce client: a scripted Cesce behind `httpx.MockTransport`, a fake clock.

Not a test module: the other client tests import from it. `FakeCesce` plays the token endpoint
for real (password and refresh grants, tokens that expire or are revoked, 401s with the
catalogue's texts) and answers API routes from per-test scripts, recording every request.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.config import CesceSettings

__all__ = [
    "CLASSIFICATION",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CONTRACT",
    "PASSWORD",
    "SALE",
    "SALE_DECLARED",
    "SALE_MODIFIED",
    "FakeCesce",
    "FakeClock",
    "answer",
    "cesce_error",
    "classification_row",
    "client_for",
    "make_settings",
    "no_network",
    "sale_row",
]

CLIENT_ID = "app-client-id"
CLIENT_SECRET = "cl1ent-s3cret-VALUE"
PASSWORD = "pa55w0rd-VALUE"
CONTRACT = "34109150331"
BASE = "https://cesce.test"

Responder = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> CesceSettings:
    fields: dict[str, Any] = {
        "base_url": BASE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "username": "erp-user",
        "password": PASSWORD,
        "retry_attempts": 4,
        "retry_max_seconds": 60.0,
        "retry_backoff_base_seconds": 1.0,
        "retry_backoff_max_seconds": 8.0,
    }
    return CesceSettings(**(fields | overrides))


def client_for(fake: FakeCesce, clock: FakeClock | None = None, **settings: Any) -> CesceClient:
    """A client talking to `fake` whose retries wait on `clock` (never really sleeping)."""
    clock = clock or FakeClock()
    return CesceClient(make_settings(**settings), transport=fake.transport, sleep=clock.sleep, clock=clock)


def answer(status: int = 200, **sections: Any) -> httpx.Response:
    """A successful Cesce answer: errorCode "0" and the given sections."""
    return httpx.Response(status, json={"error": {"errorCode": "0", "errorDescription": ""}, **sections})


def cesce_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"errorCode": code, "errorDescription": description}}, headers=headers)


def no_network(request: httpx.Request) -> httpx.Response:
    """A handler for tests where nothing may be sent."""
    raise AssertionError(f"no request may be sent, got {request.method} {request.url}")


class FakeClock:
    """`clock` and `sleep` for the client: sleeping advances time instantly and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeCesce:
    """A Cesce that really issues and checks tokens, and answers API routes from scripts."""

    def __init__(self, *, expires_in: int = 3600, token_delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.token_delay = token_delay
        self.token_forms: list[dict[str, str]] = []
        self.api_requests: list[httpx.Request] = []
        self.token_script: deque[Responder] = deque()
        self._routes: dict[tuple[str, str], deque[Responder]] = {}
        self._valid_access: set[str] = set()
        self._valid_refresh: set[str] = set()
        self._issued = 0

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def route(self, method: str, path: str, *responders: Responder) -> None:
        """Answer ``method path`` with `responders` in turn; the last one repeats."""
        self._routes[(method, path)] = deque(responders)

    def revoke_access_tokens(self) -> None:
        self._valid_access.clear()

    def grants(self) -> list[str]:
        return [form["grant_type"] for form in self.token_forms]

    def query(self, index: int = -1) -> dict[str, str]:
        """The query parameters of an API request (the last one by default)."""
        return dict(self.api_requests[index].url.params)

    def bodies(self, method: str = "POST") -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.api_requests if r.method == method]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v1/token":
            return await self._token(request)
        self.api_requests.append(request)
        if request.headers.get("X-IBM-Client-Id") != CLIENT_ID:
            return cesce_error(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SUBSCRIPTION)
        bearer = request.headers.get("Authorization", "")
        if not bearer.startswith("Bearer ") or bearer.removeprefix("Bearer ") not in self._valid_access:
            return cesce_error(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS)
        script = self._routes.get((request.method, request.url.path))
        if not script:
            return cesce_error(404, cat.ERROR_CODE_NOT_FOUND, cat.MSG_NOT_FOUND)
        return _play(script, request)

    async def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        self.token_forms.append(form)
        await asyncio.sleep(self.token_delay)
        if self.token_script:
            return _play(self.token_script, request, repeat_last=False)
        refused = httpx.Response(
            400, json={"error": "invalid_grant", "error_description": cat.MSG_RESOURCE_OWNER_DENIED}
        )
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return refused
        if form.get("grant_type") == "password":
            if form.get("password") != PASSWORD or not form.get("username") or not form.get("scope"):
                return refused
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self._valid_refresh:
                return refused
            self._valid_refresh.discard(form["refresh_token"])  # spent
        else:
            return httpx.Response(400, json={"error": "invalid_request", "error_description": "grant_type"})
        self._issued += 1
        access, refresh = f"access-{self._issued}", f"refresh-{self._issued}"
        self._valid_access.add(access)
        self._valid_refresh.add(refresh)
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "access_token": access,
                "expires_in": self.expires_in,
                "consented_on": 1605085323,
                "scope": form.get("scope", "read create update delete"),
                "refresh_token": refresh,
                "refresh_token_expires_in": 2592000,
            },
        )


def _play(script: deque[Responder], request: httpx.Request, *, repeat_last: bool = True) -> httpx.Response:
    responder = script[0] if repeat_last and len(script) == 1 else script.popleft()
    if isinstance(responder, Exception):
        raise responder
    if callable(responder):
        return responder(request)
    # A fresh copy each time: a response object is consumed by the client that reads it.
    return httpx.Response(responder.status_code, headers=responder.headers, content=responder.content)


# --- answers in the documented shapes (seed 002 schemas; spec for classifications and claims) ---

SALE_DECLARED = {
    "statusCode": "5",
    "reasonStatusCode": "0",
    "countervalueAmount": "1234,50",
    "currencyContractCode": "EUR",
    "commercialRiskCoverPct": "95,00",
    "commercialRiskRate": "0,13752",
    "commercialRiskPremium": "1,70",
    "politicalRiskCoverPct": "95,00",
    "politicalRiskRate": "0,00000",
    "politicalRiskPremium": "0,00",
    "saleCesceReferenceNo": "200000000001",
    "entryDate": "20260115",
}

SALE = {
    "statusCode": "5",
    "reasonStatusCode": "0",
    "customerReference": "CLI-0001",
    "invoiceNo": "F-2026-0001",
    "invoiceDate": "20260110",
    "maturityDate": "20260310",
    "entryDate": "20260115",
    "currencyAmount": "1234,50",
    "currencyCode": "EUR",
    "countervalueAmount": "1234,50",
    "currencyContractCode": "EUR",
    "collectedAmount": "0,00",
    "commercialRiskCoverPct": "95,00",
    "commercialRiskRate": "0,13752",
    "commercialRiskPremium": "1,70",
    "saleCesceReferenceNo": "200000000001",
}

SALE_MODIFIED = {
    "statusCode": "5",
    "reasonStatusCode": "0",
    "countervalueAmount": "2000,00",
    "currencyContractCode": "EUR",
    "commercialRiskCoverPct": "95,00",
    "commercialRiskRate": "0,13752",
    "commercialRiskPremium": "2,75",
}

CLASSIFICATION = {
    "endorsementNo": "7",
    "customerReference": "CLI-0100",
    "countryCode": "ES",
    "taxCode": "B12345678",
    "companyName": "Cuadros Eléctricos Ramón SL",
    "cesceCode": "116220000",
    "statusCode": "2",
    "reasonStatusCode": "0",
    "creditLimitRequested": "50000,00",
    "creditLimitGranted": "50000,00",
    "currencyCode": "EUR",
    "paymentTermsRequested": "60",
    "paymentTermsGranted": "60",
    "requestDate": "20260110",
    "effectiveDate": "20260110",
    "statusDate": "20260110",
}


def sale_row(reference: str, **changes: str) -> dict[str, str]:
    """One item of the sales list."""
    return SALE | {"saleCesceReferenceNo": reference, "statusDate": "20260115", "cesceCode": "116220000"} | changes


def classification_row(endorsement_no: str, **changes: str) -> dict[str, str]:
    return CLASSIFICATION | {"endorsementNo": endorsement_no} | changes
