"""Sale modification (POST .../sale) over HTTP: the windows of guide 4.2, on the guide's own dates."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    DUPLICATE_SALE_DESCRIPTION,
    MSG_BOTH_IDENTIFIERS,
    MSG_MODIFICATION_NOT_ALLOWED,
    MSG_MODIFICATION_WINDOW,
    MSG_SALE_NOT_FOUND,
)
from workers.sandbox import RunningSandbox
from workers.sandbox.openapi import schema

pytestmark = pytest.mark.integration

ORO, EXPIRED = "34109150331", "34100000017"
MODIFY = f"/sales/v1/contracts/{ORO}/sale"


def declare(api: Any, invoice_date: str, maturity_date: str = "20230731", **general: str) -> str:
    response = api.sale(invoiceNo=f"F-{invoice_date}", invoiceDate=invoice_date, maturityDate=maturity_date, **general)
    assert response.status_code == 201, response.text
    reference: str = response.json()["generalData"]["saleCesceReferenceNo"]
    return reference


def modify(api: Any, reference: str, **new: str) -> Any:
    body = {"client": {"languageCode": "ES"}, "sale": {"saleCesceReferenceNo": reference}, "newData": new}
    jsonschema.validate(body, schema("sale_modification_request"))
    return api.http.post(MODIFY, json=body)


def read(api: Any, reference: str) -> dict[str, Any]:
    general: dict[str, Any] = api.get(MODIFY, saleCesceReferenceNo=reference).json()["generalData"]
    return general


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Any:
    return sandbox.admin()


def test_on_30_april_2023_april_and_march_sales_change_in_every_field(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    for invoice_date in ("20230405", "20230301"):
        reference = declare(api, invoice_date)
        response = modify(
            api, reference, currencyAmount="2000,00", maturityDate="20230831", invoiceNo=f"N-{invoice_date}"
        )
        assert response.status_code == 200, response.text
        jsonschema.validate(response.json(), schema("sale_modification_response"))
        result = response.json()["result"]
        assert result["statusCode"] == cat.SALE_TARIFFED
        assert result["countervalueAmount"] == "2000,00"
        assert result["commercialRiskPremium"] == "2,75"
        sale = read(api, reference)
        assert (sale["invoiceNo"], sale["maturityDate"], sale["currencyAmount"]) == (
            f"N-{invoice_date}",
            "20230831",
            "2000,00",
        )


def test_on_30_april_2023_a_february_sale_may_not_change(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230228")
    response = modify(api, reference, currencyAmount="2000,00")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, MSG_MODIFICATION_WINDOW)


@pytest.mark.parametrize("today", ["20230401", "20230410"])
def test_in_the_first_d_days_a_february_sale_changes_in_all_fields_but_maturity(
    api: Any, admin: Any, today: str
) -> None:
    admin.set_today(today)
    reference = declare(api, "20230215")
    assert (
        modify(api, reference, currencyAmount="1500,00", invoiceNo="F-NEW", invoiceDate="20230220").status_code == 200
    )
    refused = modify(api, reference, maturityDate="20230801")
    assert api.error_of(refused) == (400, cat.ERROR_CODE_SALE_REJECTED, MSG_MODIFICATION_NOT_ALLOWED)
    january = declare(api, "20230131")
    assert api.error_of(modify(api, january, currencyAmount="5,00"))[2] == MSG_MODIFICATION_WINDOW


def test_from_day_d_plus_one_a_february_sale_may_not_change(api: Any, admin: Any) -> None:
    admin.set_today("20230411")
    reference = declare(api, "20230215")
    assert api.error_of(modify(api, reference, currencyAmount="1500,00"))[2] == MSG_MODIFICATION_WINDOW
    march = declare(api, "20230315")
    assert modify(api, march, maturityDate="20230901").status_code == 200


def test_sending_the_maturity_it_already_has_is_not_a_change(api: Any, admin: Any) -> None:
    admin.set_today("20230405")
    reference = declare(api, "20230215", maturity_date="20230515")
    assert modify(api, reference, maturityDate="20230515", currencyAmount="999,00").status_code == 200


def test_the_invoice_date_may_move_only_within_its_month(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    assert api.error_of(modify(api, reference, invoiceDate="20230331"))[2] == MSG_MODIFICATION_NOT_ALLOWED
    assert modify(api, reference, invoiceDate="20230430").status_code == 200
    assert read(api, reference)["invoiceDate"] == "20230430"


def test_all_or_nothing(api: Any, admin: Any) -> None:
    admin.set_today("20230405")
    reference = declare(api, "20230215")
    before = read(api, reference)
    refused = modify(api, reference, currencyAmount="777,00", maturityDate="20230901")
    assert api.error_of(refused)[2] == MSG_MODIFICATION_NOT_ALLOWED
    assert read(api, reference) == before
    assert admin.ledger()["sales"][0]["modifications"] == 0


def test_a_sale_of_a_debtor_with_a_claim_file_may_not_change(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    declaration = {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-OLD",
        "invoiceDate": "20230101",
        "maturityDate": "20230301",
        "unpaidAmount": "100,00",
        "currencyCode": "EUR",
    }
    assert api.post(f"/claims/v1/contracts/{ORO}/non-payment-declaration", generalData=declaration).status_code == 201
    assert api.error_of(modify(api, reference, currencyAmount="1,00"))[2] == MSG_MODIFICATION_NOT_ALLOWED
    other_debtor = declare(api, "20230411", customerReference="CLI-0002")
    assert modify(api, other_debtor, currencyAmount="1,00").status_code == 200


def test_a_modification_that_would_duplicate_another_sale_is_refused(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    declare(api, "20230410")
    other = declare(api, "20230411")
    refused = modify(api, other, invoiceNo="F-20230410", invoiceDate="20230410")
    assert api.error_of(refused) == (400, cat.ERROR_CODE_SALE_REJECTED, DUPLICATE_SALE_DESCRIPTION)
    assert admin.ledger()["duplicateAttempts"] == 1


def test_the_sale_keeps_its_reference_and_is_tariffed_again(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    result = modify(api, reference, customerReference="NOBODY").json()["result"]
    assert (result["statusCode"], result["reasonStatusCode"], result["commercialRiskPremium"]) == (
        cat.SALE_REJECTED,
        "1",
        "0,00",
    )
    sale = read(api, reference)
    assert sale["saleCesceReferenceNo"] == reference
    assert sale["customerReference"] == "NOBODY"
    back = modify(api, reference, endorsementNo="2").json()["result"]
    assert back["statusCode"] == cat.SALE_TARIFFED
    assert "customerReference" not in read(api, reference)
    ledger = admin.ledger()
    assert [s["modifications"] for s in ledger["sales"]] == [2]
    assert ledger["sales"][0]["endorsementNo"] == "2"


def test_a_sale_is_found_by_invoice_and_maturity_too(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    body = {
        "client": {"languageCode": "ES"},
        "sale": {"invoiceNo": "F-20230410", "maturityDate": "20230731"},
        "newData": {"currencyAmount": "10,00"},
    }
    assert api.http.post(MODIFY, json=body).status_code == 200
    assert read(api, reference)["currencyAmount"] == "10,00"


def test_a_sale_cannot_turn_into_a_credit_note(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    assert api.error_of(modify(api, reference, currencyAmount="-10,00"))[2] == MSG_MODIFICATION_NOT_ALLOWED


def test_unknown_sale_and_identification_errors(api: Any, admin: Any) -> None:
    admin.set_today("20230430")
    reference = declare(api, "20230410")
    assert api.error_of(modify(api, "200000000999", currencyAmount="1,00")) == (404, "4", MSG_SALE_NOT_FOUND)
    both = modify(api, reference, endorsementNo="1", customerReference="CLI-0001")
    assert api.error_of(both) == (400, "2", MSG_BOTH_IDENTIFIERS)
    unknown_field = api.http.post(
        MODIFY, json={"client": {"languageCode": "ES"}, "sale": {"saleCesceReferenceNo": reference, "x": "1"}}
    )
    assert api.error_of(unknown_field) == (422, "422", "'x' is invalid.")
    no_sale = api.http.post(MODIFY, json={"client": {"languageCode": "ES"}, "newData": {}})
    assert api.error_of(no_sale) == (422, "422", "'sale' is missing.")


def test_a_sale_of_an_expired_policy_may_not_change(api: Any, admin: Any) -> None:
    admin.set_today("20220601")
    response = api.sale(EXPIRED, customerReference="CLI-X-0001", invoiceDate="20220601", maturityDate="20220801")
    assert response.status_code == 201
    admin.set_today("20230102")
    api.login()
    body = {
        "client": {"languageCode": "ES"},
        "sale": {"saleCesceReferenceNo": response.json()["generalData"]["saleCesceReferenceNo"]},
        "newData": {"currencyAmount": "1,00"},
    }
    refused = api.http.post(f"/sales/v1/contracts/{EXPIRED}/sale", json=body)
    assert api.error_of(refused) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_EXPIRED_POLICY)
