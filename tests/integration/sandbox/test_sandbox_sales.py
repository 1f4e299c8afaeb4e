"""Sales API over HTTP: declaration rules, the duplicate rule, credit notes, reads and lists."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    DUPLICATE_SALE_DESCRIPTION,
    MSG_BOTH_IDENTIFIERS,
    MSG_NO_IDENTIFIER,
    MSG_SALE_NOT_FOUND,
)
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.openapi import schema

pytestmark = pytest.mark.integration

ORO, CLASICA, EXPIRED = "34109150331", "38100029218", "34100000017"
SALES = f"/sales/v1/contracts/{ORO}/sales"


def test_a_sale_to_a_debtor_in_force_is_tariffed_with_premiums_in_the_seed_schema(api: Any) -> None:
    response = api.sale(currencyAmount="1234,55")
    assert response.status_code == 201
    body = response.json()
    jsonschema.validate(body, schema("sale_response"))
    general = body["generalData"]
    assert body["error"] == {"errorCode": "0", "errorDescription": ""}
    assert (general["statusCode"], general["reasonStatusCode"]) == (cat.SALE_TARIFFED, "0")
    assert general["countervalueAmount"] == "1234,55"
    assert general["commercialRiskRate"] == "0,13752"
    assert general["commercialRiskCoverPct"] == "95,00"
    # 1234.55 x 0.13752 % = 1.6977... -> 1.70
    assert general["commercialRiskPremium"] == "1,70"
    assert general["politicalRiskPremium"] == "0,00"
    assert len(general["saleCesceReferenceNo"]) == 12
    assert general["saleCesceReferenceNo"].isdigit()


def test_premiums_round_half_to_even(api: Any) -> None:
    # rates are per cent: 5000 x 0.13752 % = 6.876 -> 6.88; 6250 -> 8.595 -> 8.60 (to the even 0);
    # 18750 -> 25.785 exactly: half-even gives 25.78 where half-up would give 25.79
    expected = {"5000,00": "6,88", "6250,00": "8,60", "18750,00": "25,78", "1,00": "0,00"}
    for number, (value, premium) in enumerate(expected.items()):
        general = api.sale(invoiceNo=f"R-{number}", currencyAmount=value).json()["generalData"]
        assert general["commercialRiskPremium"] == premium, value


def test_a_foreign_debtor_pays_political_risk_premium_too(api: Any) -> None:
    general = api.sale(customerReference="CLI-FR-01", currencyAmount="1000,00").json()["generalData"]
    assert general["politicalRiskRate"] == "0,02150"
    assert general["politicalRiskPremium"] == "0,22"  # 0.215 -> the even 2
    assert general["politicalRiskCoverPct"] == "90,00"


def test_an_amount_in_another_currency_is_valued_in_the_contract_currency(api: Any) -> None:
    general = api.sale(currencyAmount="1000,00", currencyCode="USD").json()["generalData"]
    assert general["countervalueAmount"] == "920,00"
    assert general["currencyContractCode"] == "EUR"
    assert general["commercialRiskPremium"] == "1,27"  # 920 x 0.13752 % = 1.265184


def test_a_repeated_sale_is_refused_as_duplicate_and_counted(api: Any, sandbox: RunningSandbox) -> None:
    first = api.sale()
    again = api.sale()
    assert first.status_code == 201
    assert api.error_of(again) == (400, cat.ERROR_CODE_SALE_REJECTED, DUPLICATE_SALE_DESCRIPTION)
    ledger = sandbox.admin().ledger()
    assert len(ledger["sales"]) == 1
    assert ledger["duplicateAttempts"] == 1
    assert ledger["byDuplicateKey"] == [
        {
            "contractNo": ORO,
            "invoiceNo": "F-0001",
            "invoiceDate": "20300110",
            "maturityDate": "20300410",
            "debtor": "endorsementNo:1",
            "currencyAmount": "1000,00",
            "count": 1,
        }
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"invoiceNo": "F-0002"},
        {"invoiceDate": "20300111"},
        {"maturityDate": "20300411"},
        {"customerReference": "CLI-0002"},
        {"currencyAmount": "1000,01"},
    ],
    ids=["invoiceNo", "invoiceDate", "maturityDate", "debtor", "amount"],
)
def test_changing_any_field_of_the_duplicate_key_makes_a_new_sale(api: Any, change: dict[str, str]) -> None:
    first = api.sale().json()["generalData"]
    second = api.sale(**change)
    assert second.status_code == 201
    assert second.json()["generalData"]["saleCesceReferenceNo"] != first["saleCesceReferenceNo"]


def test_fields_outside_the_key_do_not_make_a_new_sale(api: Any) -> None:
    assert api.sale().status_code == 201
    assert api.error_of(api.sale(subsidiaryNo="1", currencyCode="EUR"))[2] == DUPLICATE_SALE_DESCRIPTION


def test_the_same_sale_named_by_endorsement_number_is_a_duplicate(api: Any) -> None:
    assert api.sale(customerReference="CLI-0001", currencyAmount="10,00").status_code == 201
    assert api.error_of(api.sale(endorsementNo="1", currencyAmount="10,00"))[2] == DUPLICATE_SALE_DESCRIPTION


@pytest.mark.parametrize(
    "debtor",
    [{"customerReference": "UNKNOWN-9"}, {"customerReference": "CLI-BAJA-01"}, {"endorsementNo": "999"}],
    ids=["unknown", "cancelled", "unknown-number"],
)
def test_a_sale_to_a_debtor_without_limit_is_rejected_but_recorded(
    api: Any, sandbox: RunningSandbox, debtor: dict[str, str]
) -> None:
    response = api.sale(**debtor)
    assert response.status_code == 201
    general = response.json()["generalData"]
    assert (general["statusCode"], general["reasonStatusCode"]) == (cat.SALE_REJECTED, "1")
    assert general["commercialRiskPremium"] == "0,00"
    assert len(general["saleCesceReferenceNo"]) == 12
    assert api.error_of(api.sale(**debtor))[2] == DUPLICATE_SALE_DESCRIPTION
    assert [s["statusCode"] for s in sandbox.admin().ledger()["sales"]] == [cat.SALE_REJECTED]


def test_a_sale_to_a_debtor_whose_request_is_pending_is_rejected(api: Any) -> None:
    pending = api.classify(countryCode="ES", taxCode="B99000001", creditLimitRequested="500000,00").json()
    number = pending["generalData"]["endorsementNo"]
    assert api.sale(endorsementNo=number).json()["generalData"]["statusCode"] == cat.SALE_REJECTED


@pytest.mark.parametrize(
    ("debtor", "description"),
    [({}, MSG_NO_IDENTIFIER), ({"endorsementNo": "1"}, MSG_BOTH_IDENTIFIERS)],
    ids=["neither", "both"],
)
def test_exactly_one_identifier(api: Any, sandbox: RunningSandbox, debtor: dict[str, str], description: str) -> None:
    data = {"invoiceNo": "F-1", "invoiceDate": "20300110", "maturityDate": "20300410", "currencyAmount": "5,00"}
    if debtor:
        data |= {"customerReference": "CLI-0001", **debtor}
    response = api.post(SALES, generalData=data)
    assert api.error_of(response) == (400, "2", description)
    assert set(response.json()) == {"error"}
    assert sandbox.admin().ledger()["sales"] == []


def test_invoice_date_after_maturity_date_is_refused(api: Any) -> None:
    response = api.sale(invoiceDate="20300411", maturityDate="20300410")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_DATE_ORDER)


def test_a_credit_note_needs_the_supplement(api: Any) -> None:
    response = api.sale(CLASICA, customerReference="CLI-C-0001", currencyAmount="-10,00")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS)


def test_a_credit_note_within_pending_sales_is_tariffed_with_a_negative_premium(api: Any) -> None:
    api.sale(invoiceNo="F-1", currencyAmount="600,00")
    api.sale(invoiceNo="F-2", currencyAmount="400,00")
    response = api.sale(invoiceNo="A-1", currencyAmount="-1000,00")
    assert response.status_code == 201
    general = response.json()["generalData"]
    assert general["statusCode"] == cat.SALE_TARIFFED
    assert general["countervalueAmount"] == "-1000,00"
    assert general["commercialRiskPremium"] == "-1,38"
    # nothing is left to offset
    refused = api.sale(invoiceNo="A-2", currencyAmount="-0,01")
    assert api.error_of(refused) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NO_PENDING_SALES)


def test_a_credit_note_larger_than_the_pending_sales_is_refused(api: Any) -> None:
    api.sale(currencyAmount="100,00")
    refused = api.sale(invoiceNo="A-1", currencyAmount="-100,01")
    assert api.error_of(refused)[2] == cat.MSG_NO_PENDING_SALES


def test_matured_sales_no_longer_back_a_credit_note(api: Any, sandbox: RunningSandbox) -> None:
    sandbox.admin().set_today("20300301")
    api.login()
    api.sale(invoiceDate="20300110", maturityDate="20300310", currencyAmount="100,00")
    assert (
        api.sale(invoiceNo="A-1", invoiceDate="20300301", maturityDate="20300310", currencyAmount="-1,00").status_code
        == 201
    )
    sandbox.admin().set_today("20300311")
    api.login()
    refused = api.sale(invoiceNo="A-2", invoiceDate="20300311", maturityDate="20300410", currencyAmount="-1,00")
    assert api.error_of(refused)[2] == cat.MSG_NO_PENDING_SALES


def test_a_credit_note_for_a_debtor_without_sales_is_refused(api: Any) -> None:
    assert api.error_of(api.sale(customerReference="CLI-0003", currencyAmount="-5,00"))[2] == cat.MSG_NO_PENDING_SALES


def test_an_expired_policy_takes_no_sales(api: Any) -> None:
    response = api.sale(EXPIRED, customerReference="CLI-X-0001")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_EXPIRED_POLICY)


def test_a_renewed_policy_takes_sales_again_and_an_expired_one_refuses_them(api: Any, sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    renewed = admin.set_policy_period(EXPIRED, valid_to="20991231")
    assert renewed == {"contractNo": EXPIRED, "validFrom": "20180101", "validTo": "20991231", "inForce": True}
    assert api.sale(EXPIRED, customerReference="CLI-X-0001").status_code == 201
    assert admin.set_policy_period(ORO, valid_from="20200101", valid_to="20201231")["inForce"] is False
    assert api.error_of(api.sale(ORO)) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_EXPIRED_POLICY)
    for contract, body, status in [
        ("99999999999", {"validTo": "20991231"}, 404),
        (ORO, {}, 422),
        (ORO, {"validFrom": "20300101", "validTo": "20291231"}, 422),
        (ORO, {"validTo": "2099-12-31"}, 422),
    ]:
        url = f"{sandbox.base_url}/sandbox-admin/contracts/{contract}/period"
        assert httpx.post(url, json=body).status_code == status, body


def test_an_expired_policy_can_still_be_read(api: Any) -> None:
    assert api.get(f"/sales/v1/contracts/{EXPIRED}/subsidiaries").status_code == 200


@pytest.mark.parametrize("contract", ["3410915033", "34109150331X", "341 0915033", "%20"])
def test_a_malformed_contract_number_is_refused(api: Any, contract: str) -> None:
    response = api.sale(contract)
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_CONTRACT_REQUIRED)


def test_a_missing_contract_number_is_refused(api: Any) -> None:
    response = api.post("/sales/v1/contracts//sales", generalData={})
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_CONTRACT_REQUIRED)


@pytest.mark.parametrize("contract", ["34199999999", "12309150331"])
def test_an_unknown_contract_is_forbidden(api: Any, contract: str) -> None:
    """000 line 60: 341 and 381 are examples of modalities: any well-formed number is a policy, unknown here."""
    response = api.sale(contract)
    assert api.error_of(response) == (403, cat.ERROR_CODE_UNAUTHORIZED_CONTRACT, cat.MSG_UNAUTHORIZED_CONTRACT)


def test_a_debtor_classified_abroad_cannot_be_sold_to_on_a_domestic_policy(api: Any) -> None:
    response = api.sale(CLASICA, customerReference="CLI-FR-01")
    assert api.error_of(response) == (400, cat.ERROR_CODE_POLICY_EXCLUDED, cat.MSG_POLICY_EXCLUDED)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"client": {"languageCode": "ES"}}, "'generalData' is missing."),
        ({"generalData": {}}, "'client' is missing."),
        ({"client": {}, "generalData": {}}, "'languageCode' is missing."),
        (
            {"client": {"languageCode": "ES"}, "generalData": {"customerReference": "CLI-0001"}},
            "'invoiceNo' is missing.",
        ),
        ({"client": {"languageCode": "ES"}, "generalData": {}, "extra": 1}, "'extra' is invalid."),
        ({"client": {"languageCode": "ES", "country": "ES"}, "generalData": {}}, "'country' is invalid."),
    ],
)
def test_body_structure_errors(api: Any, body: dict[str, Any], message: str) -> None:
    response = api.http.post(SALES, json=body)
    assert api.error_of(response) == (422, "422", message)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currencyAmount", "1.000,00"),
        ("currencyAmount", "10,001"),
        ("currencyAmount", "0,00"),
        ("currencyAmount", 1000),
        ("invoiceDate", "2030-01-10"),
        ("maturityDate", "20300231"),
        ("endorsementNo", "1234567"),
        ("customerReference", "X" * 51),
        ("currencyCode", "EURO"),
        ("currencyCode", "XYZ"),
        ("subsidiaryNo", "7"),
        ("unexpected", "1"),
        ("acquisitionDate", "20300110"),
        ("taxCodeTransferor", "B96578323"),
    ],
)
def test_invalid_fields_are_422(api: Any, field: str, value: Any) -> None:
    response = api.sale(**{field: value})
    assert api.error_of(response) == (422, "422", f"'{field}' is invalid.")


@pytest.mark.parametrize("value", ["", " ", "   "])
def test_a_blank_field_is_a_500(api: Any, sandbox: RunningSandbox, value: str) -> None:
    response = api.sale(invoiceNo=value)
    assert api.error_of(response) == (500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
    assert sandbox.admin().ledger()["sales"] == []


def test_a_body_that_is_not_json_is_422(api: Any) -> None:
    response = api.http.post(SALES, content=b"not json", headers={"Content-Type": "application/json"})
    assert api.error_of(response) == (422, "422", "'body' is invalid.")


def test_a_sale_is_read_back_by_reference_and_by_invoice_and_maturity(api: Any) -> None:
    created = api.sale(subsidiaryNo="2", currencyAmount="250,00").json()["generalData"]
    by_reference = api.get(f"/sales/v1/contracts/{ORO}/sale", saleCesceReferenceNo=created["saleCesceReferenceNo"])
    by_invoice = api.get(f"/sales/v1/contracts/{ORO}/sale", invoiceNo="F-0001", maturityDate="20300410")
    assert by_reference.status_code == by_invoice.status_code == 200
    assert by_reference.json() == by_invoice.json()
    jsonschema.validate(by_reference.json(), schema("sale_get_response"))
    general = by_reference.json()["generalData"]
    assert general["customerReference"] == "CLI-0001"
    assert "endorsementNo" not in general
    assert general["subsidiaryNo"] == "2"
    assert general["currencyAmount"] == "250,00"
    assert general["collectedAmount"] == "0,00"
    assert general["commercialRiskPremium"] == created["commercialRiskPremium"]
    assert general["entryDate"] == created["entryDate"]


def test_the_latest_of_several_sales_with_the_same_invoice_and_maturity_is_returned(api: Any) -> None:
    api.sale(currencyAmount="100,00")
    latest = api.sale(currencyAmount="200,00").json()["generalData"]["saleCesceReferenceNo"]
    general = api.get(f"/sales/v1/contracts/{ORO}/sale", invoiceNo="F-0001", maturityDate="20300410").json()
    assert general["generalData"]["saleCesceReferenceNo"] == latest
    assert general["generalData"]["currencyAmount"] == "200,00"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"saleCesceReferenceNo": "299999999999"}, (404, cat.ERROR_CODE_NOT_FOUND, MSG_SALE_NOT_FOUND)),
        ({"invoiceNo": "NOPE", "maturityDate": "20300410"}, (404, cat.ERROR_CODE_NOT_FOUND, MSG_SALE_NOT_FOUND)),
        ({"invoiceNo": "F-0001"}, (422, "422", "'maturityDate' is missing.")),
        ({}, (422, "422", "'saleCesceReferenceNo' is missing.")),
        ({"saleCesceReferenceNo": "123"}, (422, "422", "'saleCesceReferenceNo' is invalid.")),
        ({"saleCesceReferenceNo": " "}, (500, "3", cat.MSG_SERVICE_UNAVAILABLE)),
    ],
)
def test_reading_a_sale_that_cannot_be_found(api: Any, params: dict[str, str], expected: tuple[int, str, str]) -> None:
    api.sale()
    assert api.error_of(api.get(f"/sales/v1/contracts/{ORO}/sale", **params)) == expected


def test_a_get_without_language_code_is_422(api: Any) -> None:
    response = api.http.get(f"/sales/v1/contracts/{ORO}/subsidiaries")
    assert api.error_of(response) == (422, "422", "'languageCode' is missing.")


def test_subsidiaries_are_listed(api: Any) -> None:
    response = api.get(f"/sales/v1/contracts/{ORO}/subsidiaries", initialValue="")
    jsonschema.validate(response.json(), schema("subsidiaries_response"))
    assert response.json()["paginationData"] == {"initialValue": ""}
    assert [s["subsidiaryNo"] for s in response.json()["result"]] == ["0", "1", "2"]
    assert response.json()["result"][0]["subsidiaryName"] == "Central"


def test_the_sales_list_filters_by_debtor_month_and_status(api: Any) -> None:
    api.sale(invoiceNo="A", invoiceDate="20300110")
    api.sale(invoiceNo="B", invoiceDate="20300215", maturityDate="20300415", customerReference="CLI-0002")
    api.sale(invoiceNo="C", invoiceDate="20300120", customerReference="UNKNOWN")
    api.sale(invoiceNo="D", invoiceDate="20300125", endorsementNo="1")

    def listed(**params: str) -> list[str]:
        response = api.get(SALES, **params)
        assert response.status_code == 200
        jsonschema.validate(response.json(), schema("sales_list_response"))
        return [item["invoiceNo"] for item in response.json()["result"]]

    assert listed() == ["A", "B", "C", "D"]
    assert listed(customerReference="CLI-0001") == ["A", "D"]
    assert listed(endorsementNo="1") == ["A", "D"]
    assert listed(endorsementNo="2") == ["B"]
    assert listed(customerReference="UNKNOWN") == ["C"]
    assert listed(invoiceYearMonth="203001") == ["A", "C", "D"]
    assert listed(statusCode=cat.SALE_REJECTED) == ["C"]
    assert listed(invoiceYearMonth="203001", statusCode=cat.SALE_TARIFFED, endorsementNo="1") == ["A", "D"]
    item = api.get(SALES, endorsementNo="1").json()["result"][0]
    assert item["cesceCode"].isdigit()
    assert item["statusDate"] == item["entryDate"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"recentMovementsInd": "S"}, "recentMovementsInd"), ({"invoiceYearMonth": "203013"}, "invoiceYearMonth")],
)
def test_the_sales_list_refuses_bad_filters(api: Any, params: dict[str, str], field: str) -> None:
    assert api.error_of(api.get(SALES, **params)) == (422, "422", f"'{field}' is invalid.")


def test_recent_movements_cover_today_and_the_two_days_before(api: Any, sandbox: RunningSandbox) -> None:
    admin = sandbox.admin()
    admin.set_today("20230803")
    api.sale(invoiceNo="OLD", invoiceDate="20230801", maturityDate="20231001")
    admin.set_today("20230805")
    api.sale(invoiceNo="NEW", invoiceDate="20230801", maturityDate="20231001")
    assert [s["invoiceNo"] for s in api.get(SALES, recentMovementsInd="Y").json()["result"]] == ["OLD", "NEW"]
    admin.set_today("20230806")
    assert [s["invoiceNo"] for s in api.get(SALES, recentMovementsInd="Y").json()["result"]] == ["NEW"]
    assert [s["invoiceNo"] for s in api.get(SALES, recentMovementsInd="N").json()["result"]] == ["OLD", "NEW"]


def test_the_sales_list_pages_with_an_opaque_cursor(scenario_file: Any, connect: Any) -> None:
    path = scenario_file(lambda scenario: scenario["settings"].update(salesPageSize=3))
    with serve_in_thread(SandboxConfig(scenario=path)) as running:
        api = connect(running)
        for number in range(7):
            api.sale(invoiceNo=f"P-{number}")
        seen: list[str] = []
        cursor = ""
        sizes = []
        while True:
            body = api.get(SALES, initialValue=cursor).json()
            sizes.append(len(body["result"]))
            seen += [item["invoiceNo"] for item in body["result"]]
            cursor = body["paginationData"]["initialValue"]
            if not cursor:
                break
    assert sizes == [3, 3, 1]
    assert seen == [f"P-{n}" for n in range(7)]


def test_a_factoring_policy_requires_acquisition_date_and_takes_the_transferor(
    scenario_file: Any, connect: Any
) -> None:
    def add_factoring(scenario: dict[str, Any]) -> None:
        contract = dict(scenario["contracts"][0], contractNo="34100000025", factoring="withRecourse", debtors=[])
        scenario["contracts"].append(contract)

    with serve_in_thread(SandboxConfig(scenario=scenario_file(add_factoring))) as running:
        api = connect(running)
        general = {"contract": "34100000025", "customerReference": "X", "taxCodeTransferor": "B96578323"}
        missing = api.sale(**general)
        accepted = api.sale(**general, acquisitionDate="20300105")
    assert api.error_of(missing) == (422, "422", "'acquisitionDate' is missing.")
    assert accepted.status_code == 201


def test_unknown_paths_and_wrong_methods_answer_in_cesce_format(api: Any) -> None:
    assert api.error_of(api.http.get("/sales/v1/contracts/34109150331/nothing")) == (404, "4", cat.MSG_NOT_FOUND)
    assert api.error_of(api.http.get("/nowhere")) == (404, "4", cat.MSG_NOT_FOUND)
    assert api.error_of(api.http.delete(SALES)) == (405, "25", "Method Not Allowed")
    assert api.error_of(api.http.get(f"{SALES}/")) == (404, "4", cat.MSG_NOT_FOUND)


def test_amounts_are_exact_decimals_end_to_end(api: Any) -> None:
    general = api.sale(currencyAmount="123456789012345,15").json()["generalData"]
    assert general["countervalueAmount"] == "123456789012345,15"
    expected = (Decimal("123456789012345.15") * Decimal("0.13752") / 100).quantize(Decimal("0.01"))
    assert general["commercialRiskPremium"] == f"{expected:f}".replace(".", ",")
