"""Models: wire names, exact Decimal and date conversions both ways, frozen, typed errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tests.unit.cesce.fakes import CLASSIFICATION, SALE, SALE_DECLARED, SALE_MODIFIED, sale_row
from workers import cesce
from workers.cesce.assumptions import ClassificationStatus, DocumentStatus, SettlementStatus
from workers.cesce.errors import CesceValidationError
from workers.cesce.models import DebtorId
from workers.cesce.models.claims import ClaimDocument, ClaimFile, NonPaymentDeclaration, NonPaymentDeclared, Settlement
from workers.cesce.models.classifications import Classification, ClassificationRequest
from workers.cesce.models.sales import (
    Sale,
    SaleChanges,
    SaleDeclaration,
    SaleDeclared,
    SaleListItem,
    SaleModified,
    SaleRef,
    Subsidiary,
)


def test_a_sale_declaration_dumps_to_wire_strings_and_omits_absent_fields() -> None:
    declaration = SaleDeclaration(
        subsidiaryNo="0",
        customerReference="CLI-0001",
        invoiceNo="F-2026-0001",
        invoiceDate=date(2026, 1, 10),
        maturityDate=date(2026, 3, 10),
        currencyAmount=Decimal("123456789012345.15"),
        currencyCode="EUR",
    )

    assert declaration.to_wire() == {
        "subsidiaryNo": "0",
        "customerReference": "CLI-0001",
        "invoiceNo": "F-2026-0001",
        "invoiceDate": "20260110",
        "maturityDate": "20260310",
        "currencyAmount": "123456789012345,15",
        "currencyCode": "EUR",
    }


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal("-1234.5"), "-1234,50"),
        (Decimal(1000), "1000,00"),
        (Decimal("0.01"), "0,01"),
        (Decimal("-0"), "0,00"),
        ("-99,90", "-99,90"),
        (7, "7,00"),
    ],
)
def test_amounts_are_exact_on_the_wire(amount: Decimal | str | int, wire: str) -> None:
    changes = SaleChanges(currencyAmount=amount)  # type: ignore[arg-type]

    assert changes.to_wire() == {"currencyAmount": wire}


def test_wire_strings_are_accepted_when_building_a_request() -> None:
    declaration = SaleDeclaration(
        endorsementNo="7",
        invoiceNo="F-1",
        invoiceDate="20260110",  # type: ignore[arg-type]
        maturityDate="20260310",  # type: ignore[arg-type]
        currencyAmount="1234,50",  # type: ignore[arg-type]
    )

    assert declaration.invoiceDate == date(2026, 1, 10)
    assert declaration.currencyAmount == Decimal("1234.50")


def test_models_are_frozen() -> None:
    sale = SaleDeclared.model_validate(SALE_DECLARED)
    ref = SaleRef.by_reference("200000000001")

    with pytest.raises(ValidationError, match="frozen"):
        sale.statusCode = "9"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        ref.invoiceNo = "F-2"  # type: ignore[misc]


def test_a_model_built_around_validation_still_cannot_send_an_inexact_amount() -> None:
    smuggled = SaleChanges.model_construct(currencyAmount=Decimal("1.005"))

    with pytest.raises(CesceValidationError, match="SaleChanges"):
        smuggled.to_wire()


def test_sale_answers_parse_to_decimals_and_dates() -> None:
    declared = SaleDeclared.model_validate(SALE_DECLARED)

    assert declared.countervalueAmount == Decimal("1234.50")
    assert declared.commercialRiskRate == Decimal("0.13752")
    assert declared.commercialRiskCoverPct == Decimal("95.00")
    assert declared.commercialRiskPremium == Decimal("1.70")
    assert declared.entryDate == date(2026, 1, 15)
    assert declared.tariffed
    assert not declared.rejected


def test_a_rejected_sale_is_an_answer_with_its_reason() -> None:
    declared = SaleDeclared.model_validate(SALE_DECLARED | {"statusCode": "9", "reasonStatusCode": "1"})

    assert declared.rejected
    assert not declared.tariffed
    assert declared.reasonStatusCode == "1"


def test_a_sale_and_a_list_row_parse_every_documented_field() -> None:
    sale = Sale.model_validate(SALE)
    row = SaleListItem.model_validate(sale_row("200000000009", statusCode="9"))

    assert sale.collectedAmount == Decimal("0.00")
    assert sale.maturityDate == date(2026, 3, 10)
    assert row.statusDate == date(2026, 1, 15)
    assert row.cesceCode == "116220000"
    assert row.rejected


def test_a_list_row_requires_the_currency_code() -> None:
    with pytest.raises(ValidationError, match="currencyCode"):
        SaleListItem.model_validate({k: v for k, v in SALE.items() if k != "currencyCode"})


def test_answers_ignore_unknown_fields_and_accept_numeric_codes() -> None:
    modified = SaleModified.model_validate(SALE_MODIFIED | {"statusCode": 5, "newCesceField": "x"})

    assert modified.statusCode == "5"
    assert not hasattr(modified, "newCesceField")
    assert Subsidiary.model_validate({"subsidiaryNo": 0, "subsidiaryName": "Central"}).subsidiaryNo == "0"


def test_answers_refuse_float_amounts() -> None:
    with pytest.raises(ValidationError, match="never floats"):
        SaleModified.model_validate(SALE_MODIFIED | {"countervalueAmount": 2000.0})


def test_a_classification_request_dumps_the_guide_fields() -> None:
    request = ClassificationRequest(
        countryCode="ES",
        taxCode="B12345678",
        customerReference="CLI-0100",
        companyName="Cuadros Eléctricos Ramón SL",
        creditLimitRequested=Decimal("50000"),
        currencyCode="EUR",
        paymentTermsRequested="60",
        nonPaymentInd="Y",
        nonPaymentAmount=Decimal("1500.00"),
    )

    assert request.to_wire() == {
        "countryCode": "ES",
        "taxCode": "B12345678",
        "customerReference": "CLI-0100",
        "companyName": "Cuadros Eléctricos Ramón SL",
        "creditLimitRequested": "50000,00",
        "currencyCode": "EUR",
        "paymentTermsRequested": "60",
        "nonPaymentInd": "Y",
        "nonPaymentAmount": "1500,00",
    }


def test_a_classification_request_needs_the_amount_and_a_y_or_n() -> None:
    with pytest.raises(CesceValidationError, match=r"^creditLimitRequested: "):
        ClassificationRequest(nonPaymentInd="N")  # type: ignore[call-arg]
    with pytest.raises(CesceValidationError, match=r"^nonPaymentInd: "):
        ClassificationRequest(creditLimitRequested=Decimal(1), nonPaymentInd="S")  # type: ignore[arg-type]


def test_a_classification_record_parses_with_its_status() -> None:
    record = Classification.model_validate(CLASSIFICATION)
    pending = Classification.model_validate(
        CLASSIFICATION | {"endorsementNo": "300001", "statusCode": "1", "creditLimitGranted": "0,00"}
    )
    denied = Classification.model_validate({k: v for k, v in CLASSIFICATION.items() if k != "endorsementNo"})

    assert record.creditLimitGranted == Decimal("50000.00")
    assert record.status is ClassificationStatus.IN_FORCE
    assert not record.pending
    assert pending.pending
    assert pending.status is ClassificationStatus.PENDING
    assert denied.endorsementNo is None
    assert Classification.model_validate(CLASSIFICATION | {"statusCode": "77"}).status is None


def test_debtor_id_constructors_use_the_wire_names() -> None:
    assert DebtorId.by_customer_reference("CLI-1").to_wire() == {"customerReference": "CLI-1"}
    assert DebtorId.by_endorsement("7").to_wire() == {"endorsementNo": "7"}
    assert DebtorId.by_tax_code("FR", "FR123").to_wire() == {"countryCode": "FR", "taxCode": "FR123"}


def test_sale_ref_constructors() -> None:
    assert SaleRef.by_reference("200000000001").to_wire() == {"saleCesceReferenceNo": "200000000001"}
    assert SaleRef.by_invoice("F-1", date(2026, 3, 10)).to_wire() == {"invoiceNo": "F-1", "maturityDate": "20260310"}


def test_a_non_payment_declaration_dumps_the_claims_fields() -> None:
    declaration = NonPaymentDeclaration(
        customerReference="CLI-0001",
        invoiceNo="F-1",
        invoiceDate=date(2026, 1, 10),
        maturityDate=date(2026, 3, 10),
        unpaidAmount=Decimal("1234.5"),
        currencyCode="EUR",
    )

    assert declaration.to_wire() == {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": "20260110",
        "maturityDate": "20260310",
        "unpaidAmount": "1234,50",
        "currencyCode": "EUR",
    }


def test_claims_answers_parse_nested_and_immutable() -> None:
    document = {"documentCode": "01", "documentDescription": "Factura", "statusCode": "1", "statusDate": "20260320"}
    declared = NonPaymentDeclared.model_validate(
        {
            "claimFileNo": "9001",
            "nonPaymentNo": "1",
            "newClaimFileInd": "Y",
            "endorsementNo": "7",
            "documents": [document],
        }
    )
    claim_file = ClaimFile.model_validate(
        {
            "claimFileNo": "9001",
            "endorsementNo": "7",
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
    )
    claim_document = ClaimDocument.model_validate(document | {"claimFileNo": "9001", "nonPaymentNo": "1"})

    assert declared.documents[0].status is DocumentStatus.REQUESTED
    assert isinstance(declared.documents, tuple)
    assert claim_file.nonPayments[0].unpaidAmount == Decimal("1234.50")
    assert claim_file.openingDate == date(2026, 3, 20)
    assert claim_document.nonPaymentNo == "1"


def test_a_settlement_adds_principal_and_interest_exactly() -> None:
    settlement = Settlement.model_validate(
        {
            "settlementNo": "1",
            "claimFileNo": "9001",
            "settlementStatusCode": "2",
            "paymentDate": "20260601",
            "amtPrinIndemnified": "1111,11",
            "amtIntIndemnified": "22,22",
            "currencyCode": "EUR",
        }
    )

    assert settlement.total == Decimal("1133.33")
    assert settlement.status is SettlementStatus.PAID
    assert settlement.paymentDate == date(2026, 6, 1)


def test_the_package_exports_its_public_api() -> None:
    for name in cesce.__all__:
        assert getattr(cesce, name) is not None
    assert {"CesceClient", "CesceSettings", "SaleDeclaration", "DebtorId", "CesceValidationError"} <= set(cesce.__all__)
