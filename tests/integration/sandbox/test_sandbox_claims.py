"""Claims API over HTTP: non-payments open or join a claim file; documents and settlements."""

from __future__ import annotations

from typing import Any

import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import MSG_BOTH_IDENTIFIERS, MSG_NO_IDENTIFIER, DocumentStatus, SettlementStatus
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

ORO, EXPIRED = "34109150331", "34100000017"
BASE = f"/claims/v1/contracts/{ORO}"


def declare(api: Any, contract: str = ORO, **general: str) -> Any:
    data = {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": "20250101",
        "maturityDate": "20250301",
        "unpaidAmount": "1500,50",
        "currencyCode": "EUR",
    } | general
    if "endorsementNo" in general and "customerReference" not in general:
        del data["customerReference"]
    return api.post(f"/claims/v1/contracts/{contract}/non-payment-declaration", generalData=data)


def test_the_first_non_payment_opens_a_claim_file_and_later_ones_join_it(api: Any, sandbox: RunningSandbox) -> None:
    first = declare(api)
    assert first.status_code == 201
    general = first.json()["generalData"]
    assert first.json()["error"] == {"errorCode": "0", "errorDescription": ""}
    assert (general["newClaimFileInd"], general["nonPaymentNo"], general["endorsementNo"]) == ("Y", "1", "1")
    assert [(d["documentCode"], d["documentDescription"], d["statusCode"]) for d in general["documents"]] == [
        ("01", "Factura", DocumentStatus.REQUESTED.value),
        ("02", "Reclamación de pago al deudor", DocumentStatus.REQUESTED.value),
    ]
    second = declare(api, endorsementNo="1", invoiceNo="F-2").json()["generalData"]
    assert (second["claimFileNo"], second["newClaimFileInd"], second["nonPaymentNo"]) == (
        general["claimFileNo"],
        "N",
        "2",
    )
    other_debtor = declare(api, customerReference="CLI-0002").json()["generalData"]
    assert other_debtor["newClaimFileInd"] == "Y"
    assert other_debtor["claimFileNo"] != general["claimFileNo"]
    assert sandbox.admin().ledger()["nonPaymentDeclarations"] == 3


def test_a_repeated_declaration_is_a_second_non_payment(api: Any) -> None:
    first = declare(api).json()["generalData"]
    again = declare(api).json()["generalData"]
    assert (again["claimFileNo"], again["nonPaymentNo"]) == (first["claimFileNo"], "2")


def test_claim_files_list_their_non_payments(api: Any) -> None:
    claim_file = declare(api).json()["generalData"]["claimFileNo"]
    declare(api, invoiceNo="F-2", unpaidAmount="20,00")
    declare(api, customerReference="CLI-0003")
    files = api.get(f"{BASE}/claim-files", customerReference="CLI-0001").json()["result"]
    assert len(files) == 1
    assert files[0]["claimFileNo"] == claim_file
    assert files[0]["customerReference"] == "CLI-0001"
    assert files[0]["endorsementNo"] == "1"
    assert [(n["nonPaymentNo"], n["invoiceNo"], n["unpaidAmount"]) for n in files[0]["nonPayments"]] == [
        ("1", "F-1", "1500,50"),
        ("2", "F-2", "20,00"),
    ]
    assert len(api.get(f"{BASE}/claim-files").json()["result"]) == 2
    assert api.get(f"{BASE}/claim-files", endorsementNo="3").json()["result"][0]["endorsementNo"] == "3"
    assert api.get(f"{BASE}/claim-files", claimFileNo=claim_file).json()["result"][0]["claimFileNo"] == claim_file
    assert api.get(f"{BASE}/claim-files", customerReference="NOBODY").json()["result"] == []


def test_document_statuses_change_through_the_admin_api(api: Any, sandbox: RunningSandbox) -> None:
    claim_file = declare(api).json()["generalData"]["claimFileNo"]
    declare(api, invoiceNo="F-2")
    admin = sandbox.admin()
    assert admin.set_document_status(claim_file, "01", DocumentStatus.RECEIVED.value, non_payment_no="1") == {
        "changed": 1
    }
    assert admin.set_document_status(claim_file, "02", DocumentStatus.VALIDATED.value) == {"changed": 2}
    documents = api.get(f"{BASE}/documents", claimFileNo=claim_file).json()["result"]
    assert [(d["nonPaymentNo"], d["documentCode"], d["statusCode"]) for d in documents] == [
        ("1", "01", "3"),
        ("1", "02", "4"),
        ("2", "01", "1"),
        ("2", "02", "4"),
    ]
    assert all(d["claimFileNo"] == claim_file and len(d["statusDate"]) == 8 for d in documents)


def test_documents_need_a_claim_file_number(api: Any) -> None:
    assert api.error_of(api.get(f"{BASE}/documents")) == (422, "422", "'claimFileNo' is missing.")
    assert api.get(f"{BASE}/documents", claimFileNo="123").json()["result"] == []


def test_settlements_show_status_payment_date_and_amounts(api: Any, sandbox: RunningSandbox) -> None:
    claim_file = declare(api).json()["generalData"]["claimFileNo"]
    other = declare(api, customerReference="CLI-0002").json()["generalData"]["claimFileNo"]
    admin = sandbox.admin()
    admin.add_settlement(claim_file, SettlementStatus.IN_PROGRESS.value, "1000,00", "12,34")
    admin.add_settlement(claim_file, SettlementStatus.PAID.value, "425,50", "0,00", payment_date="20250615")
    admin.add_settlement(other, SettlementStatus.PAID.value, "1,00", "0,00", payment_date="20250616")
    settlements = api.get(f"{BASE}/settlements", claimFileNo=claim_file).json()["result"]
    assert settlements == [
        {
            "settlementNo": "1",
            "claimFileNo": claim_file,
            "settlementStatusCode": "1",
            "amtPrinIndemnified": "1000,00",
            "amtIntIndemnified": "12,34",
            "currencyCode": "EUR",
        },
        {
            "settlementNo": "2",
            "claimFileNo": claim_file,
            "settlementStatusCode": "2",
            "paymentDate": "20250615",
            "amtPrinIndemnified": "425,50",
            "amtIntIndemnified": "0,00",
            "currencyCode": "EUR",
        },
    ]
    assert len(api.get(f"{BASE}/settlements").json()["result"]) == 3


@pytest.mark.parametrize(
    ("general", "expected"),
    [
        ({"customerReference": "NOBODY"}, (400, "2", cat.MSG_NO_LIMIT)),
        ({"endorsementNo": "8"}, (400, "2", cat.MSG_NO_LIMIT)),  # debtor 8 is in another contract
        ({"endorsementNo": "1", "customerReference": "CLI-0001"}, (400, "2", MSG_BOTH_IDENTIFIERS)),
        ({"unpaidAmount": "0,00"}, (422, "422", "'unpaidAmount' is invalid.")),
        ({"invoiceDate": "20250302"}, (400, "1522", cat.MSG_DATE_ORDER)),
        ({"currencyCode": " "}, (500, "3", cat.MSG_SERVICE_UNAVAILABLE)),
    ],
    ids=["unknown-debtor", "other-contract", "both-identifiers", "zero-amount", "date-order", "blank"],
)
def test_refused_declarations(api: Any, sandbox: RunningSandbox, general: dict[str, str], expected: Any) -> None:
    assert api.error_of(declare(api, **general)) == expected
    assert sandbox.admin().ledger()["claimFiles"] == []


def test_a_declaration_needs_one_identifier(api: Any) -> None:
    data = {"invoiceNo": "F-1", "invoiceDate": "20250101", "maturityDate": "20250301", "unpaidAmount": "1,00"}
    response = api.post(f"{BASE}/non-payment-declaration", generalData=data | {"currencyCode": "EUR"})
    assert api.error_of(response) == (400, "2", MSG_NO_IDENTIFIER)
    missing = api.post(f"{BASE}/non-payment-declaration", generalData={"customerReference": "CLI-0001"})
    assert api.error_of(missing) == (422, "422", "'invoiceNo' is missing.")


def test_an_expired_policy_takes_no_declaration(api: Any) -> None:
    response = declare(api, EXPIRED, customerReference="CLI-X-0001")
    assert api.error_of(response) == (400, "1522", cat.MSG_EXPIRED_POLICY)
