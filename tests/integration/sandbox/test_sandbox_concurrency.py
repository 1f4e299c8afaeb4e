"""Concurrent requests on the one event loop cannot declare the same sale twice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from workers.cesce.assumptions import DUPLICATE_SALE_DESCRIPTION
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


async def test_concurrent_identical_sales_are_declared_once(sandbox: RunningSandbox, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-IBM-Client-Id": "test-client"}
    body = {
        "client": {"languageCode": "ES"},
        "generalData": {
            "customerReference": "CLI-0001",
            "invoiceNo": "RACE-1",
            "invoiceDate": "20300101",
            "maturityDate": "20300301",
            "currencyAmount": "100,00",
        },
    }
    limits = httpx.Limits(max_connections=30)
    async with httpx.AsyncClient(base_url=sandbox.base_url, headers=headers, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post("/sales/v1/contracts/34109150331/sales", json=body) for _ in range(25))
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [400] * 24
    assert all(
        a.json()["error"]["errorDescription"] == DUPLICATE_SALE_DESCRIPTION for a in answers if a.status_code == 400
    )
    ledger = sandbox.admin().ledger()
    assert len(ledger["sales"]) == 1
    assert ledger["duplicateAttempts"] == 24


async def test_concurrent_new_debtors_get_distinct_numbers(sandbox: RunningSandbox, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-IBM-Client-Id": "test-client"}

    def body(n: int) -> dict[str, Any]:
        general = {"countryCode": "ES", "taxCode": f"B{n:08d}", "creditLimitRequested": "10,00", "nonPaymentInd": "N"}
        return {"client": {"languageCode": "ES"}, "generalData": general}

    async with httpx.AsyncClient(base_url=sandbox.base_url, headers=headers) as client:
        answers = await asyncio.gather(
            *(client.post("/classifications/v1/contracts/34109150331/classifications", json=body(n)) for n in range(20))
        )
    numbers = [a.json()["generalData"]["endorsementNo"] for a in answers]
    assert sorted(int(n) for n in numbers) == list(range(11, 31))
