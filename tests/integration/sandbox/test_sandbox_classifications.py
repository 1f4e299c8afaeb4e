"""Classifications API over HTTP: requests, EN TRÁMITE, identification, cancel, portfolio, movements."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import MSG_CLASSIFICATION_NOT_CANCELLABLE, MSG_NO_IDENTIFIER
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread

pytestmark = pytest.mark.integration

ORO, CLASICA, EXPIRED = "34109150331", "38100029218", "34100000017"
BASE = f"/classifications/v1/contracts/{ORO}"
FIRST_NEW = "11"  # the default scenario numbers its debtors 1..10


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Any:
    return sandbox.admin()


def record(api: Any, contract: str = ORO, **ids: str) -> dict[str, Any]:
    response = api.get(f"/classifications/v1/contracts/{contract}/classifications", **ids)
    assert response.status_code == 200, response.text
    general: dict[str, Any] = response.json()["generalData"]
    return general


def numbers(api: Any, kind: str, **params: str) -> list[tuple[str, str]]:
    body = api.get(f"{BASE}/{kind}", **params).json()
    return [(r.get("endorsementNo", "-"), r["statusCode"]) for r in body["result"]]


def test_a_new_debtor_up_to_the_threshold_is_granted_at_once(api: Any, admin: Any) -> None:
    response = api.classify(
        countryCode="ES", taxCode="B11111111", customerReference="NEW-1", companyName="NUEVA SL",
        creditLimitRequested="100000,00", paymentTermsRequested="60",
    )  # fmt: skip
    assert response.status_code == 201
    general = response.json()["generalData"]
    assert response.json()["error"] == {"errorCode": "0", "errorDescription": ""}
    assert general["endorsementNo"] == FIRST_NEW
    assert (general["statusCode"], general["creditLimitGranted"]) == ("2", "100000,00")
    assert general["paymentTermsGranted"] == "60"
    assert general["effectiveDate"] == general["requestDate"] == general["statusDate"]
    assert record(api, customerReference="NEW-1") == general
    assert admin.ledger()["classificationRequests"] == 1
    # the next new debtor gets the next number
    assert api.classify(countryCode="ES", taxCode="B22222222").json()["generalData"]["endorsementNo"] == "12"


def test_a_new_debtor_above_the_threshold_is_pending_with_its_number(api: Any, admin: Any) -> None:
    response = api.classify(countryCode="ES", taxCode="B11111111", creditLimitRequested="100000,01")
    general = response.json()["generalData"]
    assert (general["endorsementNo"], general["statusCode"], general["creditLimitGranted"]) == (FIRST_NEW, "1", "0,00")
    assert "effectiveDate" not in general
    assert record(api, endorsementNo=FIRST_NEW)["statusCode"] == "1"
    assert (FIRST_NEW, "1") in numbers(api, "portfolio")
    assert numbers(api, "movements") == []
    resolved = admin.resolve(ORO, FIRST_NEW, "grant", "75000,00")
    assert (resolved["statusCode"], resolved["creditLimitGranted"]) == ("2", "75000,00")
    assert record(api, taxCode="B11111111", countryCode="ES")["creditLimitGranted"] == "75000,00"
    assert numbers(api, "movements") == [(FIRST_NEW, "2")]


def test_a_pending_new_debtor_that_is_rejected_leaves_the_portfolio(api: Any, admin: Any) -> None:
    api.classify(countryCode="ES", taxCode="B11111111", creditLimitRequested="500000,00")
    rejected = admin.resolve(ORO, FIRST_NEW, "reject")
    assert (rejected["statusCode"], rejected["creditLimitGranted"]) == ("3", "0,00")
    assert FIRST_NEW not in [n for n, _ in numbers(api, "portfolio")]
    assert numbers(api, "movements") == [(FIRST_NEW, "3")]
    assert record(api, endorsementNo=FIRST_NEW)["statusCode"] == "3"


def test_pending_requests_resolve_by_themselves_after_the_configured_time(api: Any, admin: Any) -> None:
    api.classify(countryCode="ES", taxCode="B11111111", creditLimitRequested="500000,00")
    admin.advance_clock(3599)
    api.login()
    assert record(api, endorsementNo=FIRST_NEW)["statusCode"] == "1"
    admin.advance_clock(2)
    api.login()
    general = record(api, endorsementNo=FIRST_NEW)
    assert (general["statusCode"], general["creditLimitGranted"]) == ("2", "500000,00")


def test_an_existing_debtor_gets_a_300xxx_request_beside_its_limit_until_resolved(api: Any, admin: Any) -> None:
    response = api.classify(customerReference="CLI-0001", creditLimitRequested="150000,00")
    pending = response.json()["generalData"]
    assert (pending["endorsementNo"], pending["statusCode"], pending["creditLimitRequested"]) == (
        "300001",
        "1",
        "150000,00",
    )
    assert pending["customerReference"] == "CLI-0001"
    portfolio = numbers(api, "portfolio")
    assert ("1", "2") in portfolio
    assert portfolio[-1] == ("300001", "1")
    assert record(api, customerReference="CLI-0001")["creditLimitGranted"] == "50000,00"
    assert record(api, endorsementNo="300001")["statusCode"] == "1"
    assert numbers(api, "movements") == []
    # a second request while one is pending replaces it under the same number
    again = api.classify(endorsementNo="1", creditLimitRequested="160000,00").json()["generalData"]
    assert (again["endorsementNo"], again["creditLimitRequested"]) == ("300001", "160000,00")

    admin.resolve(ORO, "300001", "grant", "120000,00")
    portfolio = numbers(api, "portfolio")
    assert "300001" not in [n for n, _ in portfolio]
    assert ("1", "2") in portfolio
    unified = record(api, endorsementNo="300001")
    assert (unified["endorsementNo"], unified["creditLimitGranted"], unified["creditLimitRequested"]) == (
        "1",
        "120000,00",
        "160000,00",
    )
    assert numbers(api, "movements") == [("1", "2")]
    # the next request on another debtor gets the next 300xxx number
    assert api.classify(endorsementNo="2", creditLimitRequested="999999,00").json()["generalData"]["endorsementNo"] == (
        "300002"
    )


def test_a_rejected_300xxx_request_leaves_the_limit_and_shows_as_a_denial(api: Any, admin: Any) -> None:
    api.classify(customerReference="CLI-0001", creditLimitRequested="150000,00")
    admin.resolve(ORO, "300001", "reject")
    assert record(api, customerReference="CLI-0001")["creditLimitGranted"] == "50000,00"
    assert numbers(api, "movements") == [("-", "3")]


def test_an_existing_debtor_up_to_the_threshold_gets_its_new_limit_at_once(api: Any) -> None:
    general = api.classify(endorsementNo="1", creditLimitRequested="60000,00").json()["generalData"]
    assert (general["endorsementNo"], general["statusCode"], general["creditLimitGranted"]) == ("1", "2", "60000,00")
    assert numbers(api, "movements") == [("1", "2")]


def test_non_payment_y_needs_the_amount(api: Any) -> None:
    response = api.classify(countryCode="ES", taxCode="B11111111", nonPaymentInd="Y")
    assert api.error_of(response) == (422, "422", "'nonPaymentAmount' is missing.")


@pytest.mark.parametrize("value", [" ", ""])
def test_a_blank_non_payment_indicator_is_a_500(api: Any, value: str) -> None:
    response = api.classify(countryCode="ES", taxCode="B11111111", nonPaymentInd=value)
    assert api.error_of(response) == (500, "3", cat.MSG_SERVICE_UNAVAILABLE)


def test_missing_non_payment_indicator_is_422(api: Any) -> None:
    response = api.post(
        f"{BASE}/classifications", generalData={"countryCode": "ES", "taxCode": "B1", "creditLimitRequested": "1,00"}
    )
    assert api.error_of(response) == (422, "422", "'nonPaymentInd' is missing.")


def test_known_non_payments_deny_the_request_without_a_supplement(api: Any) -> None:
    """000 line 11: "se genera un número para esa solicitud. Las solicitudes finalmente clasificadas generan un
    suplemento con ese mismo número, mientras que las denegadas no llegan a generar dicho suplemento ni se muestran
    en la tabla de cartera de Cesnet." """
    response = api.classify(
        countryCode="ES", taxCode="B11111111", customerReference="BAD-1", nonPaymentInd="Y", nonPaymentAmount="1500,00"
    )
    general = response.json()["generalData"]
    assert response.status_code == 201
    assert general["endorsementNo"] == FIRST_NEW  # the request's number
    assert (general["statusCode"], general["creditLimitGranted"]) == ("3", "0,00")
    assert FIRST_NEW not in [r[0] for r in numbers(api, "portfolio")]
    assert numbers(api, "movements") == [(FIRST_NEW, "3")]
    assert record(api, customerReference="BAD-1")["statusCode"] == "3"
    # a later request with no non-payments classifies it, with a number of its own and the reference
    granted = api.classify(countryCode="ES", taxCode="B11111111", customerReference="GOOD-1").json()["generalData"]
    assert (granted["endorsementNo"], granted["statusCode"], granted["customerReference"]) == ("12", "2", "GOOD-1")


def test_known_non_payments_on_an_existing_debtor_leave_its_limit(api: Any) -> None:
    """000 line 11: the denied request is numbered (a 300xxx request number) and generates no supplement."""
    response = api.classify(endorsementNo="2", nonPaymentInd="Y", nonPaymentAmount="10,00").json()["generalData"]
    assert response["statusCode"] == "3"
    assert response["endorsementNo"] == "300001"
    assert record(api, endorsementNo="2")["statusCode"] == "2"


def test_identification_precedence_customer_reference_then_endorsement_then_tax_code(api: Any) -> None:
    assert (
        record(api, customerReference="CLI-0002", endorsementNo="3", countryCode="ES", taxCode="B12345674")[
            "endorsementNo"
        ]
        == "2"
    )
    assert (
        record(api, customerReference="NOBODY", endorsementNo="3", countryCode="ES", taxCode="B12345674")[
            "endorsementNo"
        ]
        == "3"
    )
    assert (
        record(api, customerReference="NOBODY", endorsementNo="999", countryCode="ES", taxCode="B12345674")[
            "endorsementNo"
        ]
        == "1"
    )
    # a request follows the same precedence: CLI-0003 wins over the tax code of debtor 1
    general = api.classify(customerReference="CLI-0003", countryCode="ES", taxCode="B12345674").json()["generalData"]
    assert general["endorsementNo"] == "3"


def test_customer_reference_is_kept_only_from_the_first_classification(api: Any) -> None:
    api.classify(countryCode="ES", taxCode="B11111111", customerReference="FIRST")
    again = api.classify(countryCode="ES", taxCode="B11111111", customerReference="SECOND").json()["generalData"]
    assert again["customerReference"] == "FIRST"
    assert record(api, customerReference="FIRST")["endorsementNo"] == FIRST_NEW
    assert api.error_of(api.get(f"{BASE}/classifications", customerReference="SECOND"))[1] == "2"


@pytest.mark.parametrize(("given", "missing"), [({"taxCode": "B1"}, "countryCode"), ({"countryCode": "ES"}, "taxCode")])
def test_a_new_debtor_needs_country_and_tax_code(api: Any, given: dict[str, str], missing: str) -> None:
    response = api.classify(customerReference="NEW", **given)
    assert api.error_of(response) == (422, "422", f"'{missing}' is missing.")


def test_a_foreign_debtor_is_excluded_from_a_domestic_policy(api: Any) -> None:
    response = api.classify(CLASICA, countryCode="FR", taxCode="FR123")
    assert api.error_of(response) == (400, cat.ERROR_CODE_POLICY_EXCLUDED, cat.MSG_POLICY_EXCLUDED)
    assert api.classify(ORO, countryCode="FR", taxCode="FR123").status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [("taxCode", "X" * 21), ("countryCode", "ESP"), ("countryCode", "es"), ("email", "a" * 101), ("pdfInd", "S"),
     ("creditLimitRequested", "0,00"), ("creditLimitRequested", "1000"), ("endorsementNo", "1234567")],
)  # fmt: skip
def test_field_limits_and_formats(api: Any, field: str, value: str) -> None:
    data = {"countryCode": "ES", "taxCode": "B11111111", "creditLimitRequested": "1000,00"} | {field: value}
    if field == "creditLimitRequested" and value == "1000":
        data[field] = "1.000"
    response = api.classify(**data)
    assert api.error_of(response) == (422, "422", f"'{field}' is invalid.")


def test_an_expired_policy_takes_no_classification(api: Any) -> None:
    response = api.classify(EXPIRED, countryCode="ES", taxCode="B11111111")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_EXPIRED_POLICY)


def test_reading_nothing_and_reading_without_identification(api: Any) -> None:
    assert api.error_of(api.get(f"{BASE}/classifications", customerReference="NOBODY")) == (400, "2", cat.MSG_NO_LIMIT)
    assert api.error_of(api.get(f"{BASE}/classifications", countryCode="ES")) == (400, "2", MSG_NO_IDENTIFIER)


def test_cancel_a_limit_in_force(api: Any) -> None:
    url = f"{BASE}/classifications/cancel"
    response = api.post(url, generalData={"customerReference": "CLI-0004"})
    assert response.status_code == 200
    general = response.json()["generalData"]
    assert (general["endorsementNo"], general["statusCode"], general["creditLimitGranted"]) == ("4", "4", "0,00")
    assert numbers(api, "movements") == [("4", "4")]
    assert ("4", "4") in numbers(api, "portfolio")
    assert api.error_of(api.post(url, generalData={"endorsementNo": "4"})) == (
        400,
        "2",
        MSG_CLASSIFICATION_NOT_CANCELLABLE,
    )
    assert api.error_of(api.post(url, generalData={"customerReference": "NOBODY"})) == (400, "2", cat.MSG_NO_LIMIT)
    assert api.error_of(api.post(url, generalData={})) == (400, "2", MSG_NO_IDENTIFIER)
    # a sale to the cancelled debtor is rejected
    assert api.sale(customerReference="CLI-0004").json()["generalData"]["statusCode"] == cat.SALE_REJECTED


def test_movements_show_only_the_last_48_hours(api: Any, admin: Any) -> None:
    admin.set_limit(ORO, "5", "20000,00")
    assert numbers(api, "movements") == [("5", "2")]
    admin.advance_clock(47 * 3600)
    api.login()
    assert numbers(api, "movements") == [("5", "2")]
    admin.advance_clock(2 * 3600)
    api.login()
    assert numbers(api, "movements") == []
    assert record(api, endorsementNo="5")["creditLimitGranted"] == "20000,00"


def test_cesce_cancelling_a_limit_is_a_movement(api: Any, admin: Any) -> None:
    admin.set_limit(ORO, "3", cancel=True)
    admin.set_limit(ORO, "4", "0,00")
    assert numbers(api, "movements") == [("3", "4"), ("4", "4")]
    assert record(api, endorsementNo="3")["statusCode"] == "4"
    assert (record(api, endorsementNo="4")["statusCode"], record(api, endorsementNo="4")["creditLimitGranted"]) == (
        "4",
        "0,00",
    )
    # and reinstating one
    assert admin.set_limit(ORO, "3", "5000,00")["statusCode"] == "2"


def test_admin_refuses_what_it_cannot_do(sandbox: RunningSandbox) -> None:
    base = f"{sandbox.base_url}/sandbox-admin"
    not_pending = httpx.post(
        f"{base}/classifications/resolve", json={"contractNo": ORO, "endorsementNo": "1", "decision": "grant"}
    )
    assert not_pending.status_code == 409
    bad_decision = httpx.post(
        f"{base}/classifications/resolve", json={"contractNo": ORO, "endorsementNo": "1", "decision": "maybe"}
    )
    assert bad_decision.status_code == 422
    unknown = httpx.post(
        f"{base}/limits", json={"contractNo": ORO, "endorsementNo": "999", "creditLimitGranted": "1,00"}
    )
    assert unknown.status_code == 409
    both = httpx.post(f"{base}/clock", json={"advanceSeconds": 1, "today": "20230101"})
    assert both.status_code == 422
    assert "now" in httpx.get(f"{base}/clock").json()


def test_the_portfolio_lists_in_force_cancelled_and_pending_of_its_contract_only(api: Any) -> None:
    assert numbers(api, "portfolio") == [
        ("1", "2"),
        ("2", "2"),
        ("3", "2"),
        ("4", "2"),
        ("5", "2"),
        ("6", "2"),
        ("7", "4"),
    ]
    assert numbers(api, "portfolio", nextEndorsementNo="") == numbers(api, "portfolio", nextEndorsementNo="0")
    body = api.get(f"/classifications/v1/contracts/{CLASICA}/portfolio").json()
    assert [r["endorsementNo"] for r in body["result"]] == ["8", "9"]
    assert body["paginationData"] == {"nextEndorsementNo": "0"}


def test_the_portfolio_pages_by_500_with_next_endorsement_number(scenario_file: Any, connect: Any) -> None:
    def many_debtors(scenario: dict[str, Any]) -> None:
        debtors = [
            {"countryCode": "ES", "taxCode": f"B{n:08d}", "creditLimitGranted": "1000,00", "requestDate": "20230102"}
            for n in range(1100)
        ]
        scenario["contracts"] = [dict(scenario["contracts"][1], debtors=debtors)]

    with serve_in_thread(SandboxConfig(scenario=scenario_file(many_debtors))) as running:
        api = connect(running)
        url = f"/classifications/v1/contracts/{CLASICA}/portfolio"
        pages, cursors, cursor = [], [], ""
        while True:
            body = api.get(url, **({"nextEndorsementNo": cursor} if cursor else {})).json()
            pages.append([int(r["endorsementNo"]) for r in body["result"]])
            cursor = body["paginationData"]["nextEndorsementNo"]
            cursors.append(cursor)
            if cursor == "0":
                break
        from_middle = api.get(url, nextEndorsementNo="750").json()
    assert [len(p) for p in pages] == [500, 500, 100]
    assert cursors == ["501", "1001", "0"]
    assert [n for page in pages for n in page] == list(range(1, 1101))
    assert [int(r["endorsementNo"]) for r in from_middle["result"]] == list(range(750, 1101))
    assert from_middle["paginationData"]["nextEndorsementNo"] == "0"


def test_a_debtor_of_another_contract_is_not_found(api: Any) -> None:
    assert api.error_of(api.get(f"{BASE}/classifications", customerReference="CLI-C-0001"))[1] == "2"
    assert record(api, CLASICA, customerReference="CLI-C-0001")["endorsementNo"] == "8"
