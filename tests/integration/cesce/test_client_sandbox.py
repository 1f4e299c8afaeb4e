"""The client against the sandbox over real HTTP: every documented rule, tokens, faults, paging.

Each test gets a fresh sandbox on an ephemeral loopback port (the `sandbox` fixture) and talks
to it only through `CesceClient`; the sandbox's admin API plays Cesce's risk desk, moves its clock
and injects faults. Fault tests are deterministic: the client's `sleep` (the wait between retries)
is where the test switches a fault off, so nothing depends on timing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import SecretStr

from workers.cesce import (
    CesceAuthError,
    CesceClient,
    CesceRejection,
    CesceSettings,
    CesceTransientError,
    CesceValidationError,
    ClassificationRequest,
    DebtorId,
    DuplicateSale,
    NonPaymentDeclaration,
    RejectionReason,
    SaleChanges,
    SaleDeclaration,
    SaleRef,
)
from workers.cesce.assumptions import ClassificationStatus, DocumentStatus, SettlementStatus
from workers.sandbox import Credentials, RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

ORO = "34109150331"
CLASSIC = "38100029218"
CONTRACT_SCHEMAS = Path(__file__).parents[3] / "workers" / "sandbox" / "contract"
CLIENT_SECRET = "s3cr3t-client-value"
PASSWORD = "pa55word-value"


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> CesceSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "client_id": "it-client",
        "client_secret": SecretStr(CLIENT_SECRET),
        "username": "it-user",
        "password": SecretStr(PASSWORD),
        "timeout_seconds": 5.0,
        "retry_attempts": 3,
        "retry_backoff_base_seconds": 0.01,
        "retry_backoff_max_seconds": 0.05,
    }
    return CesceSettings(**(values | overrides))


class Recorder(httpx.AsyncBaseTransport):
    """The real transport, keeping every request it carried (to check bodies and headers)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def cesce(sandbox: RunningSandbox) -> AsyncIterator[CesceClient]:
    async with CesceClient(settings_for(sandbox)) as client:
        yield client


def invoice(number: str, amount: str = "1000.00", *, debtor: str = "CLI-0001", days: int = 0) -> SaleDeclaration:
    today = date.today() - timedelta(days=days)
    return SaleDeclaration(
        customerReference=debtor,
        invoiceNo=number,
        invoiceDate=today,
        maturityDate=today + timedelta(days=60),
        currencyAmount=Decimal(amount),
        currencyCode="EUR",
    )


def ledger_counts(sandbox: RunningSandbox) -> list[int]:
    return [int(entry["count"]) for entry in sandbox.admin().ledger()["byDuplicateKey"]]


# --- sales ----------------------------------------------------------------------------------------


async def test_sale_declared_duplicate_refused_and_read_back(cesce: CesceClient, sandbox: RunningSandbox) -> None:
    sale = invoice("IT-0001", "12500.00")
    declared = await cesce.sales.declare(ORO, sale)
    assert declared.tariffed
    assert declared.commercialRiskPremium == Decimal("17.19")  # 12500 x 0,13752 %, to the cent
    with pytest.raises(DuplicateSale) as duplicate:
        await cesce.sales.declare(ORO, sale)
    assert duplicate.value.error_code == "1522"
    by_invoice = await cesce.sales.get(ORO, invoice_no=sale.invoiceNo, maturity_date=sale.maturityDate)
    by_reference = await cesce.sales.get(ORO, sale_cesce_reference_no=declared.saleCesceReferenceNo)
    assert by_invoice.saleCesceReferenceNo == by_reference.saleCesceReferenceNo == declared.saleCesceReferenceNo
    assert by_invoice.currencyAmount == Decimal("12500.00")
    assert by_invoice.invoiceDate == sale.invoiceDate
    assert ledger_counts(sandbox) == [1]
    assert sandbox.admin().ledger()["duplicateAttempts"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"invoiceNo": "IT-0002-B"},
        {"invoiceDate": date.today() - timedelta(days=1)},
        {"maturityDate": date.today() + timedelta(days=61)},
        {"customerReference": "CLI-0002"},
        {"currencyAmount": Decimal("1000.01")},
    ],
)
async def test_any_field_of_the_duplicate_key_changed_is_a_new_sale(
    cesce: CesceClient, sandbox: RunningSandbox, change: dict[str, Any]
) -> None:
    first = invoice("IT-0002")
    one = await cesce.sales.declare(ORO, first)
    two = await cesce.sales.declare(ORO, first.model_copy(update=change))
    assert one.saleCesceReferenceNo != two.saleCesceReferenceNo
    assert ledger_counts(sandbox) == [1, 1]


async def test_documented_sale_rejections(cesce: CesceClient) -> None:
    cases = [
        (ORO, invoice("IT-R1", "-100.00", debtor="CLI-0003"), RejectionReason.NO_PENDING_SALES),
        (CLASSIC, invoice("IT-R2", "-100.00", debtor="CLI-C-0001"), RejectionReason.NOT_IN_POLICY_CONDITIONS),
        ("34100000017", invoice("IT-R3", debtor="CLI-X-0001"), RejectionReason.EXPIRED_POLICY),
        (CLASSIC, invoice("IT-R4", debtor="CLI-FR-01"), RejectionReason.POLICY_EXCLUDED),
        (
            ORO,
            invoice("IT-R5").model_copy(update={"maturityDate": date.today() - timedelta(days=1)}),
            RejectionReason.DATE_ORDER,
        ),
    ]
    for contract, sale, reason in cases:
        with pytest.raises(CesceRejection) as rejected:
            await cesce.sales.declare(contract, sale)
        assert rejected.value.reason is reason, (sale.invoiceNo, rejected.value)
        assert not isinstance(rejected.value, DuplicateSale)


async def test_credit_note_offsets_its_sale_and_no_more(cesce: CesceClient) -> None:
    await cesce.sales.declare(ORO, invoice("IT-C1", "1000.00", debtor="CLI-0004"))
    note = await cesce.sales.declare(ORO, invoice("IT-C1-A", "-600.00", debtor="CLI-0004"))
    assert note.tariffed
    assert note.commercialRiskPremium is not None
    assert note.commercialRiskPremium < 0
    with pytest.raises(CesceRejection) as rejected:  # 400 left pending, 500 asked for
        await cesce.sales.declare(ORO, invoice("IT-C1-B", "-500.00", debtor="CLI-0004"))
    assert rejected.value.reason is RejectionReason.NO_PENDING_SALES


async def test_sale_for_a_debtor_without_limit_is_recorded_as_rejected(cesce: CesceClient) -> None:
    answer = await cesce.sales.declare(ORO, invoice("IT-B1", debtor="CLI-BAJA-01"))
    assert answer.rejected
    assert answer.reasonStatusCode == "1"


async def test_modify_then_list_pages_until_empty(scenario_file: Callable[..., Path]) -> None:
    def small_pages(scenario: dict[str, Any]) -> None:
        scenario["settings"]["salesPageSize"] = 4

    config = SandboxConfig(seed=1, scenario=scenario_file(small_pages))
    with serve_in_thread(config) as running:
        async with CesceClient(settings_for(running)) as cesce:
            numbers = [f"IT-L{i:02d}" for i in range(10)]
            for number in numbers:
                await cesce.sales.declare(ORO, invoice(number, debtor="CLI-0002"))
            modified = await cesce.sales.modify(
                ORO,
                SaleRef.by_invoice(numbers[0], invoice(numbers[0]).maturityDate),
                SaleChanges(currencyAmount=Decimal("1500.00")),
            )
            assert modified.countervalueAmount == Decimal("1500.00")
            listed = [sale async for sale in cesce.sales.list(ORO, customer_reference="CLI-0002")]
            assert sorted(sale.invoiceNo for sale in listed) == numbers
            assert {sale.invoiceNo: sale.currencyAmount for sale in listed}[numbers[0]] == Decimal("1500.00")
            pages = running.admin().stats()["byRoute"]["GET /sales/v1/contracts/{contractNo}/sales"]
            assert pages == 3  # 4 + 4 + 2
            assert ledger_counts(running) == [1] * 10


async def test_every_sales_request_matches_the_documented_schema(sandbox: RunningSandbox) -> None:
    schemas = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in CONTRACT_SCHEMAS.glob("*.json")}
    recorder = Recorder()
    async with CesceClient(settings_for(sandbox), transport=recorder) as cesce:
        sale = invoice("IT-S1").model_copy(update={"subsidiaryNo": "1"})
        await cesce.sales.declare(ORO, sale)
        await cesce.sales.modify(
            ORO, SaleRef.by_invoice(sale.invoiceNo, sale.maturityDate), SaleChanges(invoiceNo="IT-S1-B")
        )
        await cesce.sales.declare(ORO, invoice("IT-S2", "-10.00"))
    bodies = {
        request.url.path: json.loads(request.content)
        for request in recorder.requests
        if request.method == "POST" and "/sales/v1/" in request.url.path
    }
    assert len(bodies) == 2
    for path, body in bodies.items():
        schema = schemas["sale_request" if path.endswith("/sales") else "sale_modification_request"]
        jsonschema.validate(body, schema)  # additionalProperties: false everywhere


# --- classifications ------------------------------------------------------------------------------


async def test_pending_classification_followed_until_decided(cesce: CesceClient, sandbox: RunningSandbox) -> None:
    request = ClassificationRequest(
        countryCode="ES",
        taxCode="B11111111",
        customerReference="IT-NEW-1",
        companyName="NUEVA SL",
        creditLimitRequested=Decimal("250000.00"),
        currencyCode="EUR",
        nonPaymentInd="N",
    )
    pending = await cesce.classifications.create(ORO, request)
    assert pending.statusCode == ClassificationStatus.PENDING
    assert pending.endorsementNo
    again = await cesce.classifications.get(ORO, DebtorId.by_customer_reference("IT-NEW-1"))
    assert again.statusCode == ClassificationStatus.PENDING
    assert not [m async for m in cesce.classifications.movements(ORO) if m.taxCode == "B11111111"]

    sandbox.admin().resolve(ORO, pending.endorsementNo, "grant", "180000,00")
    decided = await cesce.classifications.get(ORO, DebtorId.by_endorsement(pending.endorsementNo))
    assert decided.statusCode == ClassificationStatus.IN_FORCE
    assert decided.creditLimitGranted == Decimal("180000.00")
    moved = [m async for m in cesce.classifications.movements(ORO) if m.taxCode == "B11111111"]
    assert [m.creditLimitGranted for m in moved] == [Decimal("180000.00")]


async def test_classification_rules(cesce: CesceClient) -> None:
    granted = await cesce.classifications.create(
        ORO,
        ClassificationRequest(
            countryCode="ES", taxCode="B22222222", creditLimitRequested=Decimal("5000.00"), nonPaymentInd="N"
        ),
    )
    assert granted.statusCode == ClassificationStatus.IN_FORCE
    assert granted.creditLimitGranted == Decimal("5000.00")

    with pytest.raises(CesceRejection) as foreign:
        await cesce.classifications.create(
            CLASSIC,
            ClassificationRequest(
                countryCode="FR", taxCode="FR123", creditLimitRequested=Decimal("5000.00"), nonPaymentInd="N"
            ),
        )
    assert foreign.value.reason is RejectionReason.POLICY_EXCLUDED

    denied = await cesce.classifications.create(
        ORO,
        ClassificationRequest(
            countryCode="ES",
            taxCode="B33333333",
            creditLimitRequested=Decimal("5000.00"),
            nonPaymentInd="Y",
            nonPaymentAmount=Decimal("1200.00"),
        ),
    )
    assert denied.statusCode == ClassificationStatus.REJECTED

    cancelled = await cesce.classifications.cancel(ORO, DebtorId.by_tax_code("ES", "B22222222"))
    assert cancelled.statusCode == ClassificationStatus.CANCELLED
    with pytest.raises(CesceRejection) as nothing:
        await cesce.classifications.get(ORO, DebtorId.by_customer_reference("NOBODY"))
    assert nothing.value.reason is RejectionReason.NO_LIMIT


async def test_pending_request_on_existing_debtor_shows_beside_its_limit(
    cesce: CesceClient, sandbox: RunningSandbox
) -> None:
    current = await cesce.classifications.get(ORO, DebtorId.by_customer_reference("CLI-0001"))
    pending = await cesce.classifications.create(
        ORO,
        ClassificationRequest(
            customerReference="CLI-0001", creditLimitRequested=Decimal("900000.00"), nonPaymentInd="N"
        ),
    )
    assert pending.statusCode == ClassificationStatus.PENDING
    assert pending.endorsementNo is not None
    assert pending.endorsementNo.startswith("300")
    records = [r async for r in cesce.classifications.portfolio(ORO) if r.taxCode == current.taxCode]
    assert sorted(r.endorsementNo or "" for r in records) == sorted(
        [current.endorsementNo or "", pending.endorsementNo]
    )

    sandbox.admin().resolve(ORO, pending.endorsementNo, "grant", "750000,00")
    records = [r async for r in cesce.classifications.portfolio(ORO) if r.taxCode == current.taxCode]
    assert [(r.endorsementNo, r.creditLimitGranted) for r in records] == [(current.endorsementNo, Decimal("750000.00"))]


async def test_portfolio_of_more_than_500_debtors_is_paged_to_the_end(scenario_file: Callable[..., Path]) -> None:
    def many_debtors(scenario: dict[str, Any]) -> None:
        oro = next(c for c in scenario["contracts"] if c["contractNo"] == ORO)
        oro["debtors"] += [
            {
                "countryCode": "ES",
                "taxCode": f"B7{n:07d}",
                "companyName": f"DEUDOR {n}",
                "creditLimitGranted": "1000,00",
                "requestDate": "20240101",
            }
            for n in range(1195)
        ]

    with serve_in_thread(SandboxConfig(scenario=scenario_file(many_debtors))) as running:
        async with CesceClient(settings_for(running)) as cesce:
            records = [record async for record in cesce.classifications.portfolio(ORO)]
        endorsements = [record.endorsementNo for record in records]
        assert len(records) >= 1200
        assert len(set(endorsements)) == len(endorsements)
        assert running.admin().stats()["byRoute"]["GET /classifications/v1/contracts/{contractNo}/portfolio"] == 3


async def test_movements_only_cover_the_last_48_hours(cesce: CesceClient, sandbox: RunningSandbox) -> None:
    current = await cesce.classifications.get(ORO, DebtorId.by_customer_reference("CLI-0005"))
    assert current.endorsementNo is not None
    sandbox.admin().set_limit(ORO, current.endorsementNo, "4000,00")
    moved = [m async for m in cesce.classifications.movements(ORO) if m.endorsementNo == current.endorsementNo]
    assert [m.creditLimitGranted for m in moved] == [Decimal("4000.00")]
    sandbox.admin().advance_clock(49 * 3600)
    sandbox.admin().revoke_tokens()  # the clock jump would expire the token anyway; the client recovers
    assert not [m async for m in cesce.classifications.movements(ORO) if m.endorsementNo == current.endorsementNo]


# --- claims ---------------------------------------------------------------------------------------


async def test_non_payments_share_a_claim_file_with_documents_and_settlements(
    cesce: CesceClient, sandbox: RunningSandbox
) -> None:
    def unpaid(number: str) -> NonPaymentDeclaration:
        return NonPaymentDeclaration(
            customerReference="CLI-0002",
            invoiceNo=number,
            invoiceDate=date.today() - timedelta(days=120),
            maturityDate=date.today() - timedelta(days=60),
            unpaidAmount=Decimal("4321.09"),
            currencyCode="EUR",
        )

    first = await cesce.claims.declare_non_payment(ORO, unpaid("IT-NP1"))
    second = await cesce.claims.declare_non_payment(ORO, unpaid("IT-NP2"))
    assert (first.newClaimFileInd, second.newClaimFileInd) == ("Y", "N")
    assert first.claimFileNo == second.claimFileNo
    files = await cesce.claims.claim_files(ORO, DebtorId.by_customer_reference("CLI-0002"))
    assert [[n.invoiceNo for n in f.nonPayments] for f in files] == [["IT-NP1", "IT-NP2"]]
    assert files[0].nonPayments[0].unpaidAmount == Decimal("4321.09")

    document = first.documents[0]
    sandbox.admin().set_document_status(
        first.claimFileNo, document.documentCode, DocumentStatus.RECEIVED, first.nonPaymentNo
    )
    documents = await cesce.claims.documents(ORO, first.claimFileNo)
    assert (first.nonPaymentNo, document.documentCode, DocumentStatus.RECEIVED) in {
        (d.nonPaymentNo, d.documentCode, d.statusCode) for d in documents
    }

    sandbox.admin().add_settlement(first.claimFileNo, SettlementStatus.PAID, "6000,00", "123,45", "20261001")
    [settlement] = await cesce.claims.settlements(ORO, first.claimFileNo)
    assert settlement.settlementStatusCode == SettlementStatus.PAID
    assert settlement.amtPrinIndemnified + settlement.amtIntIndemnified == Decimal("6123.45")
    assert settlement.paymentDate == date(2026, 10, 1)


# --- tokens ---------------------------------------------------------------------------------------


def grants_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage().split()[4]
        for record in caplog.records
        if record.getMessage().startswith("cesce token obtained by ")
    ]


async def test_expired_token_is_renewed_with_the_refresh_grant(
    cesce: CesceClient, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.cesce")
    await cesce.sales.subsidiaries(ORO)
    sandbox.admin().advance_clock(3601)  # the access token has expired on Cesce's side
    assert len(await cesce.sales.subsidiaries(ORO)) == 3
    assert grants_in(caplog) == ["password", "refresh_token"]
    assert sandbox.admin().stats()["byStatus"].get("401") == 1


async def test_token_renewed_before_it_expires_without_a_401(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.cesce")
    now = [1000.0]
    async with CesceClient(settings_for(sandbox), clock=lambda: now[0]) as cesce:
        await cesce.sales.subsidiaries(ORO)
        now[0] += 3600 - 30  # inside the refresh margin
        await cesce.sales.subsidiaries(ORO)
    assert grants_in(caplog) == ["password", "refresh_token"]
    assert "401" not in sandbox.admin().stats()["byStatus"]


async def test_revoked_token_mid_session_is_recovered(
    cesce: CesceClient, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.cesce")
    await cesce.sales.declare(ORO, invoice("IT-T1"))
    sandbox.admin().revoke_tokens()
    results = await asyncio.gather(*(cesce.sales.declare(ORO, invoice(f"IT-T{n}")) for n in range(2, 12)))
    assert all(result.tariffed for result in results)
    assert grants_in(caplog) == ["password", "refresh_token"]  # ten callers, one renewal


async def test_refused_credentials_raise_an_auth_error_that_names_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    fixed = Credentials("app", SecretStr("the-right-secret"), "user", SecretStr("the-right-password"))
    caplog.set_level(logging.DEBUG)
    with serve_in_thread(SandboxConfig(credentials=fixed)) as running:
        async with CesceClient(settings_for(running)) as cesce:
            with pytest.raises(CesceAuthError) as refused:
                await cesce.sales.subsidiaries(ORO)
    assert "Resource owner denied or not found" in str(refused.value)
    for text in (str(refused.value), repr(refused.value), caplog.text):
        assert CLIENT_SECRET not in text
        assert PASSWORD not in text


# --- faults ---------------------------------------------------------------------------------------


def sleeper(on_wait: Callable[[float], None]) -> Callable[[float], Awaitable[None]]:
    """A retry `sleep` that tells the test how long the client chose to wait, then really waits."""

    async def sleep(seconds: float) -> None:
        on_wait(seconds)
        await asyncio.sleep(seconds)

    return sleep


async def test_429_with_retry_after_is_waited_out(sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(rate_limit=1.0)
    waits: list[float] = []
    async with CesceClient(settings_for(sandbox), sleep=sleeper(waits.append)) as cesce:
        for _ in range(3):
            assert len(await cesce.sales.subsidiaries(ORO)) == 3
    assert sandbox.admin().stats()["faults"]["rateLimited"] >= 1
    assert waits
    assert min(waits) >= 1.0  # Retry-After: 1, whatever the jittered backoff said


async def test_timeouts_are_retried_to_success(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_faults(hang_rate=1.0, hang_seconds=5)
    waits: list[float] = []

    def heal(seconds: float) -> None:
        waits.append(seconds)
        admin.set_faults(hang_rate=0.0)

    async with CesceClient(settings_for(sandbox, timeout_seconds=0.5), sleep=sleeper(heal)) as cesce:
        answer = await cesce.classifications.get(ORO, DebtorId.by_customer_reference("CLI-0001"))
    assert answer.customerReference == "CLI-0001"
    assert len(waits) == 1
    assert admin.stats()["faults"]["hung"] == 1


async def test_lost_answer_to_a_declaration_is_resent_and_caught_as_duplicate(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_faults(drop_rate=1.0)
    settings = settings_for(sandbox)
    async with CesceClient(settings, sleep=sleeper(lambda _: admin.set_faults(drop_rate=0.0))) as cesce:
        with pytest.raises(DuplicateSale):
            await cesce.sales.declare(ORO, invoice("IT-D1"))  # processed, answer lost, resent
        sale = await cesce.sales.get(ORO, invoice_no="IT-D1", maturity_date=invoice("IT-D1").maturityDate)
    assert sale.tariffed
    assert ledger_counts(sandbox) == [1]


async def test_lost_answer_to_a_classification_is_not_resent(sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(drop_rate=1.0)
    async with CesceClient(settings_for(sandbox)) as cesce:
        with pytest.raises(CesceTransientError) as lost:
            await cesce.classifications.create(
                ORO,
                ClassificationRequest(
                    countryCode="ES", taxCode="B44444444", creditLimitRequested=Decimal("10.00"), nonPaymentInd="N"
                ),
            )
    assert lost.value.outcome_unknown
    assert lost.value.attempts == 1
    assert sandbox.admin().ledger()["classificationRequests"] == 1


async def test_retries_exhausted_are_reported_as_transient(sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(error_rate=1.0)
    async with CesceClient(settings_for(sandbox, retry_attempts=4)) as cesce:
        with pytest.raises(CesceTransientError) as failed:
            await cesce.sales.subsidiaries(ORO)
    assert failed.value.attempts == 4
    assert failed.value.error_code == "3"
    assert sandbox.admin().stats()["faults"]["errors"] == 4


async def test_maintenance_is_transient(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_faults(maintenance=True)
    async with CesceClient(settings_for(sandbox), sleep=sleeper(lambda _: admin.set_faults(maintenance=False))) as c:
        assert len(await c.sales.subsidiaries(ORO)) == 3
    assert admin.stats()["faults"]["maintenance"] == 1


async def test_invalid_request_is_refused_without_sending_anything(sandbox: RunningSandbox) -> None:
    recorder = Recorder()
    async with CesceClient(settings_for(sandbox), transport=recorder) as cesce:
        with pytest.raises(CesceValidationError) as refused:
            await cesce.classifications.create(
                ORO,
                ClassificationRequest(
                    countryCode="ES", taxCode="B1", city="X" * 31, creditLimitRequested=Decimal(1), nonPaymentInd="N"
                ),
            )
        assert refused.value.field == "city"
        with pytest.raises(CesceValidationError):
            await cesce.sales.declare("3410915033", invoice("IT-V1"))
    assert recorder.requests == []
