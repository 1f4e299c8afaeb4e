"""Items: scopes and optional username/password, the client against the sandbox over real HTTP."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from workers.cesce import CesceAuthError, CesceClient, CesceSettings, DebtorId, SaleDeclaration
from workers.sandbox import Credentials, RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

ORO = "34109150331"
CLIENT_SECRET = "s3cr3t-client-value"


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> CesceSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "client_id": "it-client",
        "client_secret": SecretStr(CLIENT_SECRET),
        "timeout_seconds": 5.0,
        "retry_attempts": 2,
        "retry_backoff_base_seconds": 0.01,
        "retry_backoff_max_seconds": 0.05,
    }
    return CesceSettings(**(values | overrides))


def a_sale(number: str) -> SaleDeclaration:
    today = date.today()
    return SaleDeclaration(
        customerReference="CLI-0001",
        invoiceNo=number,
        invoiceDate=today,
        maturityDate=today + timedelta(days=60),
        currencyAmount=Decimal("1000.00"),
        currencyCode="EUR",
    )


def posts(sandbox: RunningSandbox) -> int:
    return sum(n for route, n in sandbox.admin().stats()["byRoute"].items() if route.startswith("POST /sales"))


async def test_without_username_and_password_the_client_works_on_the_sandbox(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """000 line 93: "Si estás trabajando en Sandbox, no se proporcionan las credenciales USERNAME y PASSWORD al
    no ser obligatorias, mientras que CLIENT ID y CLIENT SECRET sí lo son." """
    caplog.set_level(logging.DEBUG)
    async with CesceClient(settings_for(sandbox)) as cesce:
        assert len(await cesce.sales.subsidiaries(ORO)) == 3
        assert (await cesce.sales.declare(ORO, a_sale("IT-S1"))).tariffed
    assert CLIENT_SECRET not in caplog.text


async def test_without_them_pre_and_pro_refuse_the_token() -> None:
    """000 line 73: "Resource owner denied or not found" - what an environment that needs USERNAME and PASSWORD
    (line 89: "para el entorno PRE o PRO") answers; the sandbox with fixed credentials plays it."""
    fixed = Credentials("it-client", SecretStr(CLIENT_SECRET), "it-user", SecretStr("it-password"))
    with serve_in_thread(SandboxConfig(credentials=fixed)) as running:
        async with CesceClient(settings_for(running)) as cesce:
            with pytest.raises(CesceAuthError) as refused:
                await cesce.sales.subsidiaries(ORO)
        async with CesceClient(settings_for(running, username="it-user", password=SecretStr("it-password"))) as cesce:
            assert len(await cesce.sales.subsidiaries(ORO)) == 3
    assert "Resource owner denied or not found" in str(refused.value)
    assert CLIENT_SECRET not in repr(refused.value)


async def test_a_read_only_client_reads_and_is_refused_writes_before_sending(sandbox: RunningSandbox) -> None:
    """001 line 117: "scope: Indicar tantos scopes como sea necesario"; 002 line 18: "The required scope/s to
    invoke the operation". A client asked for read alone never sends a write the token could not pass."""
    async with CesceClient(settings_for(sandbox, scope="read")) as cesce:
        assert len(await cesce.sales.subsidiaries(ORO)) == 3
        with pytest.raises(CesceAuthError) as refused:
            await cesce.sales.declare(ORO, a_sale("IT-S2"))
        with pytest.raises(CesceAuthError):
            await cesce.classifications.cancel(ORO, DebtorId(endorsementNo="1"))
    assert "'create'" in str(refused.value)
    assert posts(sandbox) == 0
    assert sandbox.admin().ledger()["sales"] == []


async def test_the_default_scopes_cover_every_operation_of_the_workers(sandbox: RunningSandbox) -> None:
    """001 line 132: the guide's token answer, "scope": "create read update delete" - the default asks for all
    four, so reads, declarations and annulments all pass the sandbox's scope check."""
    async with CesceClient(settings_for(sandbox)) as cesce:
        assert (await cesce.sales.declare(ORO, a_sale("IT-S3"))).tariffed
        assert (await cesce.classifications.get(ORO, DebtorId(endorsementNo="4"))).endorsementNo == "4"
        cancelled = await cesce.classifications.cancel(ORO, DebtorId(endorsementNo="4"))
    assert cancelled.endorsementNo == "4"
    assert posts(sandbox) == 1  # the counter the read-only test relies on sees a declaration
