"""What the client refuses to send: the pure checks, then the client proving nothing leaves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.unit.cesce.fakes import CONTRACT, make_settings, no_network
from workers.cesce.catalogue import FIELD_MAX_LENGTHS
from workers.cesce.client import CesceClient
from workers.cesce.errors import CesceValidationError
from workers.cesce.models import DebtorId
from workers.cesce.models.claims import NonPaymentDeclaration
from workers.cesce.models.classifications import ClassificationRequest
from workers.cesce.models.sales import SaleChanges, SaleDeclaration, SaleRef
from workers.cesce.validation import (
    DEBTOR_FIELD,
    check_classification_request,
    check_contract_no,
    check_debtor_id,
    check_fields,
    check_sale_amount,
    check_sale_changes,
    check_sale_ref,
    check_single_debtor,
    check_year_month,
)


def refused(field: str) -> Any:
    return pytest.raises(CesceValidationError, match=f"^{field}: ")


# --- pure checks --------------------------------------------------------------------------------


@pytest.mark.parametrize("contract_no", ["34109150331", "38100029218", "34209150331", "35100000025", "99999999999"])
def test_documented_contract_numbers_pass(contract_no: str) -> None:
    """000 line 60: "incluyendo Modalidad (341 para Máster Oro Integral o 381 para Póliza Clásica)": examples, not
    the list (001 line 413 names "pólizas de modalidad PPC"): any 3-digit modality of 11 digits is well-formed."""
    assert check_contract_no(contract_no) == contract_no


@pytest.mark.parametrize(
    "contract_no", ["", "3410915033", "341091503310", "341 0915033", "3410915033a", "34109150331\n"]
)
def test_malformed_contract_numbers_are_refused(contract_no: str) -> None:
    with refused("contractNo") as error:
        check_contract_no(contract_no, operation="sales.get")

    assert error.value.field == "contractNo"
    assert error.value.operation == "sales.get"


@pytest.mark.parametrize(("field", "limit"), sorted(FIELD_MAX_LENGTHS.items()))
def test_every_documented_length_limit_applies_wherever_the_field_appears(field: str, limit: int) -> None:
    check_fields({"generalData": {field: "x" * limit}})
    for body in (
        {"generalData": {field: "x" * (limit + 1)}},
        {"newData": {field: "x" * (limit + 1)}},
        {field: "x" * 999},
    ):
        with refused(field) as error:
            check_fields(body)
        assert f"at most {limit}" in error.value.problem


@pytest.mark.parametrize("blank", ["", " ", "\t", "   \n"])
def test_blank_values_are_refused_at_any_depth(blank: str) -> None:
    for body in (
        {"client": {"languageCode": blank}},
        {"generalData": {"invoiceNo": blank}},
        {"sale": {"invoiceNo": "F1"}, "newData": {"currencyCode": blank}},
        {"result": [{"documentCode": blank}]},
    ):
        with pytest.raises(CesceValidationError, match="blank"):
            check_fields(body)


def test_fields_without_a_documented_limit_may_be_long() -> None:
    check_fields({"generalData": {"invoiceNo": "F" * 500, "creditLimitRequested": "123456789012345,15"}})


@pytest.mark.parametrize(
    "data",
    [{}, {"endorsementNo": "1", "customerReference": "CLI-1"}, {"endorsementNo": None, "customerReference": None}],
)
def test_a_sale_or_non_payment_names_exactly_one_debtor_identifier(data: dict[str, Any]) -> None:
    with refused(DEBTOR_FIELD):
        check_single_debtor(data)


@pytest.mark.parametrize("data", [{"endorsementNo": "1"}, {"customerReference": "CLI-1"}])
def test_one_debtor_identifier_passes(data: dict[str, str]) -> None:
    check_single_debtor(data)


def test_a_modification_may_leave_the_debtor_alone_but_not_name_two() -> None:
    check_single_debtor({}, required=False)
    with refused(DEBTOR_FIELD):
        check_single_debtor({"endorsementNo": "1", "customerReference": "CLI-1"}, required=False)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "debtor"),
        ({"countryCode": "ES"}, "taxCode"),
        ({"taxCode": "B123"}, "countryCode"),
        ({"customerReference": "CLI-1", "countryCode": "ES"}, "taxCode"),
    ],
)
def test_a_debtor_id_needs_one_complete_means(data: dict[str, str], field: str) -> None:
    with refused(field):
        check_debtor_id(data)


@pytest.mark.parametrize(
    "data",
    [
        {"customerReference": "CLI-1"},
        {"endorsementNo": "7"},
        {"countryCode": "ES", "taxCode": "B123"},
        {"customerReference": "CLI-1", "endorsementNo": "7", "countryCode": "ES", "taxCode": "B123"},
    ],
)
def test_any_complete_means_identifies_a_debtor(data: dict[str, str]) -> None:
    check_debtor_id(data)


def test_some_reads_cannot_find_a_debtor_by_tax_code() -> None:
    with refused("countryCode"):
        check_debtor_id({"countryCode": "ES", "taxCode": "B123"}, tax_code_allowed=False)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({}, "nonPaymentInd"),
        ({"nonPaymentInd": " "}, "nonPaymentInd"),
        ({"nonPaymentInd": "S"}, "nonPaymentInd"),
        ({"nonPaymentInd": "y"}, "nonPaymentInd"),
        ({"nonPaymentInd": "Y"}, "nonPaymentAmount"),
        ({"nonPaymentInd": "Y", "nonPaymentAmount": "0,00"}, "nonPaymentAmount"),
        ({"nonPaymentInd": "N", "nonPaymentAmount": "150,00"}, "nonPaymentAmount"),
        ({"nonPaymentInd": "Y", "nonPaymentAmount": "1.500,00"}, "nonPaymentAmount"),
    ],
)
def test_non_payment_indicator_rules(extra: dict[str, str], field: str) -> None:
    with refused(field):
        check_classification_request({"endorsementNo": "7", "creditLimitRequested": "1000,00", **extra})


@pytest.mark.parametrize(
    "extra",
    [
        {"nonPaymentInd": "N"},
        {"nonPaymentInd": "N", "nonPaymentAmount": "0,00"},
        {"nonPaymentInd": "Y", "nonPaymentAmount": "1500,00"},
    ],
)
def test_valid_non_payment_indicators(extra: dict[str, str]) -> None:
    check_classification_request({"endorsementNo": "7", "creditLimitRequested": "1000,00", **extra})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "invoiceNo"),
        ({"invoiceNo": "F1"}, "maturityDate"),
        ({"maturityDate": "20260101"}, "invoiceNo"),
        ({"saleCesceReferenceNo": "200000000001", "invoiceNo": "F1"}, "saleCesceReferenceNo"),
    ],
)
def test_a_sale_is_identified_one_way(data: dict[str, str], field: str) -> None:
    with refused(field):
        check_sale_ref(data)


def test_a_modification_must_change_something() -> None:
    with refused("newData"):
        check_sale_changes({})
    check_sale_changes({"currencyAmount": "10,00"})


@pytest.mark.parametrize("amount", ["0,00", "-0,00", "0", "-0", "0,0"])
def test_a_sale_of_zero_is_refused_whatever_its_sign(amount: str) -> None:
    # our assumption (workers.cesce.assumptions, "zero-amount"): Cesce answers 422 'currencyAmount' is invalid.
    with refused("currencyAmount") as error:
        check_sale_amount({"currencyAmount": amount})
    assert "zero" in str(error.value)


@pytest.mark.parametrize("amount", ["0,01", "-0,01", "1234,50", "-99,90"])
def test_a_sale_or_credit_note_of_any_other_amount_passes(amount: str) -> None:
    check_sale_amount({"currencyAmount": amount})


def test_a_modification_that_leaves_the_amount_alone_passes() -> None:
    check_sale_amount({"invoiceNo": "F-2"})


@pytest.mark.parametrize("value", ["202613", "202600", "2026-01", "26001", "2026011"])
def test_invoice_year_month_is_yyyymm(value: str) -> None:
    with refused("invoiceYearMonth"):
        check_year_month(value)
    check_year_month("202601")


# --- the models refuse inexact values when they are built ---------------------------------------

SALE_FIELDS: dict[str, Any] = {
    "endorsementNo": "7",
    "invoiceNo": "F-1",
    "invoiceDate": date(2026, 1, 10),
    "maturityDate": date(2026, 3, 10),
    "currencyAmount": Decimal("100.00"),
}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currencyAmount": Decimal("100.005")}, "currencyAmount"),
        ({"currencyAmount": 100.5}, "currencyAmount"),
        ({"currencyAmount": "100.50"}, "currencyAmount"),
        ({"currencyAmount": Decimal("NaN")}, "currencyAmount"),
        ({"invoiceDate": "20260230"}, "invoiceDate"),
        ({"maturityDate": "2026-03-10"}, "maturityDate"),
        ({"invoiceNo": 12345}, "invoiceNo"),
        ({"unknownField": "x"}, "unknownField"),
    ],
)
def test_a_request_model_refuses_inexact_values_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with refused(field) as error:
        SaleDeclaration(**(SALE_FIELDS | changes))

    assert error.value.field == field


# --- the client sends nothing when a check fails ------------------------------------------------


def sale(**changes: Any) -> SaleDeclaration:
    return SaleDeclaration(**(SALE_FIELDS | changes))


def classification(**changes: Any) -> ClassificationRequest:
    fields: dict[str, Any] = {"endorsementNo": "7", "creditLimitRequested": Decimal(1000), "nonPaymentInd": "N"}
    return ClassificationRequest(**(fields | changes))


def non_payment(**changes: Any) -> NonPaymentDeclaration:
    fields: dict[str, Any] = {
        "endorsementNo": "7",
        "invoiceNo": "F-1",
        "invoiceDate": date(2026, 1, 10),
        "maturityDate": date(2026, 3, 10),
        "unpaidAmount": Decimal("100.00"),
        "currencyCode": "EUR",
    }
    return NonPaymentDeclaration(**(fields | changes))


Call = Callable[[CesceClient], Awaitable[object]]


async def collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.sales.declare("3410915033", sale()), "contractNo"),
        (lambda c: c.sales.declare(CONTRACT, sale(customerReference="CLI-1")), DEBTOR_FIELD),
        (lambda c: c.sales.declare(CONTRACT, sale(endorsementNo=None)), DEBTOR_FIELD),
        (lambda c: c.sales.declare(CONTRACT, sale(invoiceNo=" ")), "invoiceNo"),
        (lambda c: c.sales.declare(CONTRACT, sale(endorsementNo="1234567")), "endorsementNo"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyCode="EURO")), "currencyCode"),
        (lambda c: c.sales.declare(CONTRACT, sale(taxCodeTransferor="")), "taxCodeTransferor"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyAmount=Decimal(0))), "currencyAmount"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyAmount=Decimal("-0"))), "currencyAmount"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyAmount=Decimal("-0.00"))), "currencyAmount"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyAmount=Decimal("-0E+2"))), "currencyAmount"),
        (lambda c: c.sales.declare(CONTRACT, sale(currencyAmount="0,00")), "currencyAmount"),
        (
            lambda c: c.sales.modify(CONTRACT, SaleRef.by_reference("1"), SaleChanges(currencyAmount=Decimal("-0.00"))),
            "currencyAmount",
        ),
        (lambda c: c.sales.get(CONTRACT), "invoiceNo"),
        (lambda c: c.sales.get(CONTRACT, invoice_no="F-1"), "maturityDate"),
        (lambda c: c.sales.get("9999999999", sale_cesce_reference_no="1"), "contractNo"),
        (lambda c: c.sales.modify(CONTRACT, SaleRef.by_reference("1"), SaleChanges()), "newData"),
        (lambda c: c.sales.modify(CONTRACT, SaleRef(), SaleChanges(invoiceNo="F-2")), "invoiceNo"),
        (
            lambda c: c.sales.modify(
                CONTRACT, SaleRef.by_reference("1"), SaleChanges(endorsementNo="1", customerReference="CLI-1")
            ),
            DEBTOR_FIELD,
        ),
        (lambda c: collect(c.sales.list(CONTRACT, customer_reference="C" * 51)), "customerReference"),
        (lambda c: collect(c.sales.list(CONTRACT, invoice_year_month="2026-01")), "invoiceYearMonth"),
        (lambda c: collect(c.sales.list("123")), "contractNo"),
        (lambda c: c.sales.subsidiaries("1234567890X"), "contractNo"),
        (lambda c: c.classifications.create(CONTRACT, classification(nonPaymentInd="Y")), "nonPaymentAmount"),
        (lambda c: c.classifications.create(CONTRACT, classification(endorsementNo=None)), "debtor"),
        (lambda c: c.classifications.create(CONTRACT, classification(countryCode="ESP", taxCode="B1")), "countryCode"),
        (lambda c: c.classifications.create(CONTRACT, classification(email="a" * 101)), "email"),
        (lambda c: c.classifications.create(CONTRACT, classification(companyName="")), "companyName"),
        (lambda c: c.classifications.get(CONTRACT, DebtorId()), "debtor"),
        (lambda c: c.classifications.get(CONTRACT, DebtorId(taxCode="B1")), "countryCode"),
        (lambda c: c.classifications.cancel(CONTRACT, DebtorId(customerReference=" ")), "customerReference"),
        (lambda c: collect(c.classifications.portfolio("0")), "contractNo"),
        (lambda c: collect(c.classifications.movements("")), "contractNo"),
        (lambda c: c.claims.declare_non_payment(CONTRACT, non_payment(customerReference="CLI-1")), DEBTOR_FIELD),
        (lambda c: c.claims.declare_non_payment(CONTRACT, non_payment(currencyCode="")), "currencyCode"),
        (lambda c: c.claims.claim_files(CONTRACT, DebtorId.by_tax_code("ES", "B1")), "countryCode"),
        (lambda c: c.claims.claim_files(CONTRACT, " "), "claimFileNo"),
        (lambda c: c.claims.documents("3410915033X", "1"), "contractNo"),
        (lambda c: c.claims.settlements(CONTRACT, ""), "claimFileNo"),
    ],
)
async def test_a_refused_request_is_never_sent(call: Call, field: str) -> None:
    async with CesceClient(make_settings(), transport=httpx.MockTransport(no_network)) as client:
        with refused(field) as error:
            await call(client)

    assert error.value.field == field
