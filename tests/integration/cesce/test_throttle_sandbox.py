"""The throttle against the sandbox's rate limit over real HTTP: 64 calls at once, few 429s, none failed.

The sandbox (the `sandbox` fixture) refuses with 429 + Retry-After beyond its rate limit R, a token
bucket holding one second's worth; without the throttle, 64 concurrent callers declaring sales
back to back meet it over and over. Counts come from the sandbox's own counters; bounds are
generous, timing is not asserted beyond the run's order of magnitude.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from workers.cesce import CesceClient, CesceSettings, SaleDeclaration
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

ORO = "34109150331"
CLIENT_SECRET = "s3cr3t-throttle-value"
RATE = 50.0
CONCURRENCY = 64
CALLS = 200


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> CesceSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "client_id": "it-throttle",
        "client_secret": SecretStr(CLIENT_SECRET),
        "username": "it-user",
        "password": SecretStr("pa55word-throttle"),
        "timeout_seconds": 10.0,
        "retry_attempts": 5,
        "retry_backoff_base_seconds": 0.05,
        "retry_backoff_max_seconds": 0.5,
    }
    return CesceSettings(**(values | overrides))


def file_names(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir()]


async def declare_concurrently(cesce: CesceClient, prefix: str) -> float:
    """`CALLS` sale declarations from `CONCURRENCY` tasks at once; the seconds they took."""
    numbers = itertools.count(1)
    today = date.today()

    async def declarer() -> None:
        while (number := next(numbers)) <= CALLS:
            sale = SaleDeclaration(
                customerReference="CLI-0001",
                invoiceNo=f"{prefix}{number:05d}",
                invoiceDate=today,
                maturityDate=today + timedelta(days=60),
                currencyAmount=Decimal("100.00"),
                currencyCode="EUR",
            )
            assert (await cesce.sales.declare(ORO, sale)).saleCesceReferenceNo

    started = time.monotonic()
    await asyncio.gather(*(declarer() for _ in range(CONCURRENCY)))
    return time.monotonic() - started


async def test_64_concurrent_callers_learn_the_limit_with_few_429s(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_faults(rate_limit=RATE)
    async with CesceClient(settings_for(sandbox)) as cesce:
        seconds = await declare_concurrently(cesce, "THR-L")
    refused = admin.stats()["faults"]["rateLimited"]
    assert len(admin.ledger()["byDuplicateKey"]) >= CALLS  # every declaration went through
    assert refused <= 0.1 * CALLS  # a handful while learning, where every caller would meet it alone
    assert seconds < 3 * CALLS / RATE


async def test_a_configured_limit_meets_no_429_and_is_shared_through_a_file(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    admin = sandbox.admin()
    admin.set_faults(rate_limit=RATE)
    settings = settings_for(sandbox, max_requests_per_second=RATE, throttle_dir=str(tmp_path))
    async with CesceClient(settings) as cesce:
        seconds = await declare_concurrently(cesce, "THR-C")
    assert admin.stats()["faults"]["rateLimited"] <= 2  # the pace is the limit: a stray one at most
    assert seconds >= 0.9 * (CALLS - RATE) / RATE  # the sandbox's one-second burst aside, never faster
    (state_file,) = file_names(tmp_path)
    assert CLIENT_SECRET not in state_file
