"""Classification decisions and the portfolio/movements pages on a ledger, without HTTP."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from workers.cesce.assumptions import ClassificationStatus
from workers.sandbox import classifications as cls
from workers.sandbox import portfolio as pf
from workers.sandbox.debtors import by_endorsement, identify
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Ledger
from workers.sandbox.wire import ApiError

ORO = "34109150331"
NOW = datetime(2023, 4, 30, 10, tzinfo=UTC)


@pytest.fixture
def ledger() -> Ledger:
    return load_ledger(read_scenario(None))


def submit(ledger: Ledger, when: datetime = NOW, **data: str) -> dict[str, Any]:
    fields = {"creditLimitRequested": "1000,00", "nonPaymentInd": "N"} | data
    return cls.submit(ledger, ledger.contracts[ORO], fields, when)


@pytest.mark.parametrize(
    ("non_payment", "requested", "decision"),
    [
        (False, "100000.00", cls.Decision.GRANT),
        (False, "100000.01", cls.Decision.PENDING),
        (True, "1.00", cls.Decision.DENY),
        (True, "999999.00", cls.Decision.DENY),
    ],
)
def test_decide(non_payment: bool, requested: str, decision: cls.Decision) -> None:
    assert cls.decide(non_payment, Decimal(requested), Decimal("100000.00")) is decision


def test_identification_precedence(ledger: Ledger) -> None:
    def number(**ids: Any) -> int | None:
        found = identify(ledger, ORO, **ids)
        return None if found is None else found.endorsement_no

    assert number(customer_reference="CLI-0002", endorsement_no="3", country_code="ES", tax_code="B12345674") == 2
    assert number(customer_reference="NONE", endorsement_no="3", country_code="ES", tax_code="B12345674") == 3
    assert number(customer_reference="NONE", endorsement_no="99", country_code="ES", tax_code="B12345674") == 1
    assert number(country_code="ES") is None
    assert number(endorsement_no="8") is None  # another contract's debtor


def test_a_new_debtor_granted_pending_and_denied(ledger: Ledger) -> None:
    """000 line 11: "Al realizar una solicitud individual de clasificación, se genera un número para esa solicitud."
    A denial is numbered too; it generates no supplement, so it stays out of the portfolio."""
    granted = submit(ledger, countryCode="ES", taxCode="A1")
    pending = submit(ledger, countryCode="ES", taxCode="A2", creditLimitRequested="200000,00")
    denied = submit(ledger, countryCode="ES", taxCode="A3", nonPaymentInd="Y", nonPaymentAmount="5,00")
    assert (granted["endorsementNo"], granted["statusCode"]) == ("11", "2")
    assert (pending["endorsementNo"], pending["statusCode"]) == ("12", "1")
    assert denied["endorsementNo"] == "13"
    assert (denied["statusCode"], denied["reasonStatusCode"]) == ("3", cls.REASON_DENIED)
    assert 13 not in [number for number, _, _ in pf.portfolio(ledger, ORO)]
    assert submit(ledger, countryCode="ES", taxCode="A4")["endorsementNo"] == "14"


def test_pending_requests_resolve_when_due_as_of_when_they_fell_due(ledger: Ledger) -> None:
    submit(ledger, countryCode="ES", taxCode="A1", creditLimitRequested="200000,00")
    submit(ledger, endorsementNo="1", creditLimitRequested="300000,00")
    cls.resolve_due(ledger, NOW + timedelta(seconds=3599))
    assert [d.record.status for d in ledger.debtors if d.endorsement_no in (1, 11)] == [
        ClassificationStatus.IN_FORCE,
        ClassificationStatus.PENDING,
    ]
    assert ledger.debtors[0].pending is not None
    cls.resolve_due(ledger, NOW + timedelta(days=5))
    first, new = ledger.debtors[0], ledger.debtors[-1]
    assert first.pending is None
    assert (first.record.granted, first.record.endorsement_no) == (Decimal("300000.00"), 1)
    assert first.record.status_at == NOW + timedelta(seconds=3600)
    assert 300001 in first.former_requests
    assert new.record.status is ClassificationStatus.IN_FORCE


def test_no_automatic_resolution_when_the_setting_is_null(ledger: Ledger) -> None:
    ledger.settings = dataclasses.replace(ledger.settings, pending_resolve_seconds=None)
    submit(ledger, countryCode="ES", taxCode="A1", creditLimitRequested="200000,00")
    cls.resolve_due(ledger, NOW + timedelta(days=365))
    assert ledger.debtors[-1].record.status is ClassificationStatus.PENDING


def test_resolve_request_refuses_what_is_not_pending(ledger: Ledger) -> None:
    with pytest.raises(LookupError):
        cls.resolve_request(ledger, ORO, 1, cls.Decision.GRANT, granted=None, now=NOW)
    with pytest.raises(LookupError):
        cls.resolve_request(ledger, ORO, 300001, cls.Decision.GRANT, granted=None, now=NOW)


def test_cancel_only_a_limit_in_force(ledger: Ledger) -> None:
    cancelled = cls.cancel(ledger, ledger.contracts[ORO], {"endorsementNo": "2"}, NOW)
    assert (cancelled["statusCode"], cancelled["creditLimitGranted"]) == ("4", "0,00")
    with pytest.raises(ApiError) as again:
        cls.cancel(ledger, ledger.contracts[ORO], {"endorsementNo": "2"}, NOW)
    assert again.value.code == "2"


def test_movements_window_is_48_hours_and_excludes_pending(ledger: Ledger) -> None:
    submit(ledger, countryCode="ES", taxCode="A1")
    submit(ledger, countryCode="ES", taxCode="A2", creditLimitRequested="200000,00")
    submit(ledger, NOW - timedelta(hours=48, seconds=1), countryCode="ES", taxCode="A3")
    submit(ledger, NOW - timedelta(hours=48), countryCode="ES", taxCode="A4")
    recent = pf.movements(ledger, ORO, NOW)
    assert sorted(number or 0 for number, _, _ in recent) == [11, 14]


def test_pages_start_at_the_cursor_and_name_the_next_page(ledger: Ledger) -> None:
    for n in range(7):
        submit(ledger, countryCode="ES", taxCode=f"P{n}")
    entries = pf.portfolio(ledger, ORO)
    records, following = pf.page(entries, 0, 5)
    assert [r["endorsementNo"] for r in records] == ["1", "2", "3", "4", "5"]
    assert following == "6"
    records, following = pf.page(entries, 6, 5)
    assert [r["endorsementNo"] for r in records] == ["6", "7", "11", "12", "13"]
    assert following == "14"
    records, following = pf.page(entries, 14, 5)
    assert [r["endorsementNo"] for r in records] == ["14", "15", "16", "17"]
    assert following == "0"
    assert pf.page(entries, 999, 5) == ([], "0")


def test_known_debtors_denials_come_first_on_the_first_page_only(ledger: Ledger) -> None:
    """000 line 11: every request is numbered; a known debtor's denial by its 300xxx request number, which is not a
    supplement to page by: it comes first on the first page. A new debtor's denial pages by its own number."""
    submit(ledger, countryCode="ES", taxCode="A1")
    submit(ledger, countryCode="ES", taxCode="D1", nonPaymentInd="Y", nonPaymentAmount="1,00")
    submit(ledger, endorsementNo="1", nonPaymentInd="Y", nonPaymentAmount="1,00")
    entries = pf.movements(ledger, ORO, NOW)
    first, _ = pf.page(entries, 0, 500)
    assert [r.get("endorsementNo") for r in first] == ["300001", "11", "12"]
    assert [first[0]["taxCode"], first[2]["taxCode"]] == ["B12345674", "D1"]
    later, _ = pf.page(entries, 5, 500)
    assert [r.get("endorsementNo") for r in later] == ["11", "12"]


def test_only_debtors_that_may_hold_a_pending_request_are_looked_at(ledger: Ledger) -> None:
    """Issue 18: `resolve_due` ran on every request over every debtor (12% of the sandbox's CPU with 300 debtors).
    It looks at the debtors a request or a scenario may have left pending, and forgets those that are not."""
    assert ledger.watched() == []  # the default scenario's debtors hold no pending request
    submit(ledger, countryCode="ES", taxCode="A1")  # granted at once: looked at once, then forgotten
    submit(ledger, countryCode="ES", taxCode="A2", creditLimitRequested="200000,00")
    submit(ledger, endorsementNo="1", creditLimitRequested="300000,00")  # a supplement's request, pending
    assert [d.tax_code for d in ledger.watched()] == ["A2", ledger.debtors[0].tax_code]
    cls.resolve_due(ledger, NOW + timedelta(days=5))
    assert ledger.watched() == []
    assert ledger.debtors[-1].record.status is ClassificationStatus.IN_FORCE


def test_a_pending_request_of_the_scenario_is_resolved_when_due(tmp_path: Path) -> None:
    """A scenario's debtor in EN TRÁMITE (statusCode 1) is looked at from the start."""
    debtor = {"countryCode": "ES", "taxCode": "B1", "statusCode": "1", "creditLimitRequested": "10,00"}
    contract = {"contractNo": "38100000001", "name": "X", "validFrom": "20200101", "validTo": "20301231"}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"contracts": [dict(contract, debtors=[dict(debtor, requestDate="20230101")])]}))
    ledger = load_ledger(read_scenario(path))
    assert [d.tax_code for d in ledger.watched()] == ["B1"]
    cls.resolve_due(ledger, NOW)
    assert ledger.debtors[0].record.status is ClassificationStatus.IN_FORCE
    assert ledger.watched() == []


def test_a_debtor_found_by_its_number_is_found_again_in_one_look_while_it_keeps_it(ledger: Ledger) -> None:
    """Issue 18: a sale named its debtor by scanning the contract's debtors; the one found is remembered, and
    checked before it is used again (a number can move: a request's 300xxx, a denial's)."""
    first = by_endorsement(ledger, ORO, 3)
    assert first is not None
    assert ledger.numbered[(ORO, 3)] is first
    assert by_endorsement(ledger, ORO, 3) is first
    first.record.endorsement_no = 9999  # the number moved: the remembered debtor is not taken
    assert by_endorsement(ledger, ORO, 3) is None
    assert by_endorsement(ledger, ORO, 9999) is first


def test_a_debtor_found_by_its_customer_reference_is_found_again_while_it_keeps_it(ledger: Ledger) -> None:
    found = identify(ledger, ORO, customer_reference="CLI-0002")
    assert found is not None
    assert ledger.referenced[(ORO, "CLI-0002")] is found
    assert identify(ledger, ORO, customer_reference="CLI-0002") is found
    found.customer_reference = "CLI-9999"
    assert identify(ledger, ORO, customer_reference="CLI-0002") is None
    assert identify(ledger, ORO, customer_reference="CLI-9999") is found
