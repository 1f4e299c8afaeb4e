"""client.claims: non-payment declaration, claim files, documents and settlements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.unit.cesce.fakes import CONTRACT, FakeCesce, answer
from workers.cesce.assumptions import DocumentStatus, SettlementStatus
from workers.cesce.client import CesceClient
from workers.cesce.errors import CesceProtocolError
from workers.cesce.models import DebtorId
from workers.cesce.models.claims import NonPaymentDeclaration

BASE = f"/claims/v1/contracts/{CONTRACT}"

DOCUMENT = {"documentCode": "01", "documentDescription": "Factura", "statusCode": "1", "statusDate": "20260320"}
CLAIM_FILE = {
    "claimFileNo": "9001",
    "endorsementNo": "7",
    "customerReference": "CLI-0001",
    "openingDate": "20260320",
    "nonPayments": [
        {
            "nonPaymentNo": "1",
            "invoiceNo": "F-1",
            "invoiceDate": "20260110",
            "maturityDate": "20260310",
            "unpaidAmount": "1234,50",
            "currencyCode": "EUR",
            "declarationDate": "20260320",
        }
    ],
}
SETTLEMENT = {
    "settlementNo": "1",
    "claimFileNo": "9001",
    "settlementStatusCode": "1",
    "amtPrinIndemnified": "1000,00",
    "amtIntIndemnified": "0,00",
    "currencyCode": "EUR",
}


async def test_declare_non_payment_posts_the_invoice_and_returns_the_file(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "POST",
        f"{BASE}/non-payment-declaration",
        answer(
            201,
            generalData={
                "claimFileNo": "9001",
                "nonPaymentNo": "1",
                "newClaimFileInd": "Y",
                "endorsementNo": "7",
                "documents": [DOCUMENT, DOCUMENT | {"documentCode": "02"}],
            },
        ),
    )

    declared = await client.claims.declare_non_payment(
        CONTRACT,
        NonPaymentDeclaration(
            customerReference="CLI-0001",
            invoiceNo="F-1",
            invoiceDate=date(2026, 1, 10),
            maturityDate=date(2026, 3, 10),
            unpaidAmount=Decimal("1234.50"),
            currencyCode="EUR",
        ),
    )

    assert fake.bodies() == [
        {
            "client": {"languageCode": "ES"},
            "generalData": {
                "customerReference": "CLI-0001",
                "invoiceNo": "F-1",
                "invoiceDate": "20260110",
                "maturityDate": "20260310",
                "unpaidAmount": "1234,50",
                "currencyCode": "EUR",
            },
        }
    ]
    assert declared.newClaimFileInd == "Y"
    assert [d.documentCode for d in declared.documents] == ["01", "02"]


@pytest.mark.parametrize(
    ("key", "params"),
    [
        (DebtorId.by_endorsement("7"), {"endorsementNo": "7"}),
        (DebtorId.by_customer_reference("CLI-0001"), {"customerReference": "CLI-0001"}),
        ("9001", {"claimFileNo": "9001"}),
    ],
)
async def test_claim_files_by_debtor_or_number(
    fake: FakeCesce, client: CesceClient, key: DebtorId | str, params: dict[str, str]
) -> None:
    fake.route("GET", f"{BASE}/claim-files", answer(result=[CLAIM_FILE]))

    files = await client.claims.claim_files(CONTRACT, key)

    assert fake.query() == {"languageCode": "ES", **params}
    assert files[0].claimFileNo == "9001"
    assert files[0].nonPayments[0].unpaidAmount == Decimal("1234.50")


async def test_documents_of_a_claim_file(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "GET",
        f"{BASE}/documents",
        answer(result=[DOCUMENT | {"claimFileNo": "9001", "nonPaymentNo": "1", "statusCode": "4"}]),
    )

    documents = await client.claims.documents(CONTRACT, "9001")

    assert fake.query() == {"languageCode": "ES", "claimFileNo": "9001"}
    assert documents[0].status is DocumentStatus.VALIDATED
    assert documents[0].statusDate == date(2026, 3, 20)


@pytest.mark.parametrize(("claim_file_no", "params"), [(None, {}), ("9001", {"claimFileNo": "9001"})])
async def test_settlements_of_the_policy_or_of_one_file(
    fake: FakeCesce, client: CesceClient, claim_file_no: str | None, params: dict[str, str]
) -> None:
    fake.route("GET", f"{BASE}/settlements", answer(result=[SETTLEMENT]))

    settlements = await client.claims.settlements(CONTRACT, claim_file_no)

    assert fake.query() == {"languageCode": "ES", **params}
    assert settlements[0].status is SettlementStatus.IN_PROGRESS
    assert settlements[0].paymentDate is None
    assert settlements[0].total == Decimal("1000.00")


async def test_an_answer_without_a_result_list_is_a_protocol_error(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/settlements", answer(result={"settlementNo": "1"}))

    with pytest.raises(CesceProtocolError, match="result"):
        await client.claims.settlements(CONTRACT)
