"""The demo's first part: a scripted client session against the sandbox, one step per documented rule.

Each step is checked against the answer the documents promise; it prints what it sent and what
came back.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal

from pydantic import SecretStr

from workers.cesce import (
    CesceClient,
    CesceError,
    CesceRejection,
    CesceSettings,
    ClassificationRequest,
    DebtorId,
    DuplicateSale,
    NonPaymentDeclaration,
    RejectionReason,
    SaleDeclaration,
)
from workers.cesce.assumptions import ClassificationStatus
from workers.cesce.catalogue import CLASSIFICATION_PENDING, SALE_REJECTED, SALE_TARIFFED
from workers.cesce.codecs import encode_amount, spanish_today
from workers.demo.report import Report
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["client_session"]

MASTER = "34109150331"  # Máster Oro Integral: credit notes, foreign debtors
CLASSIC = "38100029218"  # Póliza Clásica: domestic only, no credit-note supplement
EXPIRED = "34100000017"


class _GrantLog(logging.Handler):
    """Collects which OAuth2 grants the client used (the client logs each one, never the token)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.grants: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("cesce token obtained by "):
            self.grants.append(record.getMessage().split()[4])


def _euros(value: Decimal) -> str:
    return f"{encode_amount(value)} EUR"


async def _rejected(call: Awaitable[object]) -> CesceRejection | None:
    try:
        await call
    except CesceRejection as rejection:
        return rejection
    return None


async def _session(cesce: CesceClient, admin: SandboxAdmin, grants: _GrantLog, report: Report) -> None:
    today = spanish_today()
    due = today + timedelta(days=60)
    run = secrets.token_hex(2).upper()  # invoice numbers of this run

    def sale(invoice: str, amount: str, *, debtor: str = "CLI-0001", when: date = today) -> SaleDeclaration:
        return SaleDeclaration(
            customerReference=debtor,
            invoiceNo=f"DEMO-{run}-{invoice}",
            invoiceDate=when,
            maturityDate=due,
            currencyAmount=Decimal(amount),
            currencyCode="EUR",
        )

    first = sale("0001", "12500.00")
    declared = await cesce.sales.declare(MASTER, first)
    report.add(
        grants.grants == ["password"],
        "OAuth2 token (grant_type=password)",
        f"grants used so far: {', '.join(grants.grants)}",
    )
    report.add(
        declared.statusCode == SALE_TARIFFED,
        "sale declared -> statusCode 5 TARIFICADA",
        f"{first.invoiceNo} {_euros(first.currencyAmount)}: saleCesceReferenceNo {declared.saleCesceReferenceNo}, "
        f"premium {_euros(declared.commercialRiskPremium or Decimal(0))}",
    )

    try:
        await cesce.sales.declare(MASTER, first)
        report.add(False, "same sale again -> refused as duplicate", "Cesce accepted it a second time")
    except DuplicateSale as duplicate:
        existing = await cesce.sales.get(MASTER, invoice_no=first.invoiceNo, maturity_date=first.maturityDate)
        report.add(
            existing.saleCesceReferenceNo == declared.saleCesceReferenceNo,
            "same sale again -> refused as duplicate",
            f"errorCode {duplicate.error_code} {duplicate.error_description!r}; read back: "
            f"saleCesceReferenceNo {existing.saleCesceReferenceNo}",
        )

    other = await cesce.sales.declare(MASTER, first.model_copy(update={"currencyAmount": Decimal("12500.01")}))
    report.add(
        other.saleCesceReferenceNo != declared.saleCesceReferenceNo,
        "one cent different -> a different sale",
        f"saleCesceReferenceNo {other.saleCesceReferenceNo}",
    )

    credit = await cesce.sales.declare(MASTER, sale("0001-A", "-2500.00"))
    report.add(
        credit.statusCode == SALE_TARIFFED and (credit.commercialRiskPremium or 0) < 0,
        "credit note after its sale -> TARIFICADA",
        f"premium {_euros(credit.commercialRiskPremium or Decimal(0))} (negative: returned)",
    )

    cancelled = await cesce.sales.declare(MASTER, sale("0002", "900.00", debtor="CLI-BAJA-01"))
    report.add(
        cancelled.statusCode == SALE_REJECTED,
        "debtor with no limit in force -> statusCode 9",
        f"RECHAZADA, reasonStatusCode {cancelled.reasonStatusCode}",
    )

    expected_rejections: list[tuple[str, RejectionReason, Callable[[], Awaitable[object]]]] = [
        (
            "expired policy -> 1522",
            RejectionReason.EXPIRED_POLICY,
            lambda: cesce.sales.declare(EXPIRED, sale("0003", "100.00", debtor="CLI-X-0001")),
        ),
        (
            "credit note, no supplement -> 1522",
            RejectionReason.NOT_IN_POLICY_CONDITIONS,
            lambda: cesce.sales.declare(CLASSIC, sale("0004", "-100.00", debtor="CLI-C-0001")),
        ),
        (
            "credit note, no pending sales -> rejected",
            RejectionReason.NO_PENDING_SALES,
            lambda: cesce.sales.declare(MASTER, sale("0005", "-100.00", debtor="CLI-0003")),
        ),
        (
            "foreign debtor, domestic-only policy -> 2809",
            RejectionReason.POLICY_EXCLUDED,
            lambda: cesce.sales.declare(CLASSIC, sale("0006", "100.00", debtor="CLI-FR-01")),
        ),
        (
            "invoiceDate after maturityDate -> rejected",
            RejectionReason.DATE_ORDER,
            lambda: cesce.sales.declare(MASTER, sale("0007", "100.00", when=due + timedelta(days=1))),
        ),
        (
            "classification of an unknown debtor -> 2",
            RejectionReason.NO_LIMIT,
            lambda: cesce.classifications.get(MASTER, DebtorId.by_customer_reference("NOBODY")),
        ),
    ]
    for rule, reason, call in expected_rejections:
        rejection = await _rejected(call())
        report.add(
            rejection is not None and rejection.reason is reason,
            rule,
            "accepted" if rejection is None else f"errorCode {rejection.error_code} {rejection.error_description!r}",
        )

    tax_code = f"B9{secrets.randbelow(10**7):07d}"
    pending = await cesce.classifications.create(
        MASTER,
        ClassificationRequest(
            countryCode="ES",
            taxCode=tax_code,
            customerReference=f"DEMO-{run}",
            companyName="NUEVO CLIENTE DEMO SL",
            creditLimitRequested=Decimal("250000.00"),
            currencyCode="EUR",
            nonPaymentInd="N",
        ),
    )
    report.add(
        pending.statusCode == CLASSIFICATION_PENDING,
        "large credit request -> EN TRÁMITE (statusCode 1)",
        f"endorsementNo {pending.endorsementNo}, requested {_euros(pending.creditLimitRequested)}",
    )
    admin.resolve(MASTER, pending.endorsementNo or "", "grant", "200000,00")
    decided = await cesce.classifications.get(MASTER, DebtorId.by_tax_code("ES", tax_code))
    report.add(
        decided.statusCode == ClassificationStatus.IN_FORCE,
        "... decided by Cesce's risk desk",
        f"statusCode {decided.statusCode}, granted {_euros(decided.creditLimitGranted)}",
    )

    debtors = [record async for record in cesce.classifications.portfolio(MASTER)]
    report.add(
        any(record.taxCode == tax_code for record in debtors),
        "portfolio, paged by nextEndorsementNo",
        f"{len(debtors)} debtors on {MASTER}, the new one included",
    )

    revoked = admin.revoke_tokens()
    subsidiaries = await cesce.sales.subsidiaries(MASTER)
    report.add(
        grants.grants[-1:] == ["refresh_token"],
        "token revoked -> 401 -> renewed, call repeated",
        f"{revoked} token(s) revoked; grants used: {', '.join(grants.grants)}; {len(subsidiaries)} subsidiaries read",
    )

    claims = []
    for invoice in ("0010", "0011"):
        claims.append(
            await cesce.claims.declare_non_payment(
                MASTER,
                NonPaymentDeclaration(
                    customerReference="CLI-0002",
                    invoiceNo=f"DEMO-{run}-{invoice}",
                    invoiceDate=today - timedelta(days=90),
                    maturityDate=today - timedelta(days=30),
                    unpaidAmount=Decimal("3100.45"),
                    currencyCode="EUR",
                ),
            )
        )
    report.add(
        [c.newClaimFileInd for c in claims] == ["Y", "N"] and claims[0].claimFileNo == claims[1].claimFileNo,
        "two non-payments, one debtor -> one claim file",
        f"claimFileNo {claims[0].claimFileNo}; documents requested: "
        + ", ".join(d.documentDescription for d in claims[0].documents),
    )


async def client_session(base_url: str, admin: SandboxAdmin, report: Report) -> None:
    """Run the scripted session; every step adds a row to `report`."""
    grants = _GrantLog()
    auth_log = logging.getLogger("workers.cesce.auth")
    auth_log.addHandler(grants)
    auth_log.setLevel(logging.INFO)
    settings = CesceSettings(
        base_url=base_url,
        client_id="demo-app",
        client_secret=SecretStr(secrets.token_urlsafe(16)),
        username="demo",
        password=SecretStr(secrets.token_urlsafe(16)),
        retry_backoff_base_seconds=0.05,
        retry_backoff_max_seconds=0.5,
    )
    try:
        async with CesceClient(settings) as cesce:
            await _session(cesce, admin, grants, report)
    except CesceError as error:
        report.add(False, "the session ended early", repr(error))
    finally:
        auth_log.removeHandler(grants)
