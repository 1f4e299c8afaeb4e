"""Which Cesce call each ERP unpaid-invoice change needs, and whether Cesce has the invoice already: pure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.workers.row_states import state_codec
from workers.cesce import ClaimFile, NonPayment
from workers.cesce.validation import DEBTOR_FIELD
from workers.non_payments.plan import (
    CESCE_FIELDS,
    AlreadyDeclared,
    Declare,
    Deleted,
    NoChange,
    Refuse,
    debtor_of,
    identity,
    plan,
    recognise,
    sent,
)


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "nonPaymentId": "NP-1",
        "contractNo": "34109150331",
        "endorsementNo": None,
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": date(2026, 1, 10),
        "maturityDate": date(2026, 3, 10),
        "unpaidAmount": Decimal("1234.50"),
        "currencyCode": "EUR",
    }
    return base | changes


def declared(number: str, invoice: str = "F-1", amount: str = "1234.50", **changes: Any) -> NonPayment:
    values: dict[str, Any] = {
        "nonPaymentNo": number,
        "invoiceNo": invoice,
        "invoiceDate": date(2026, 1, 10),
        "maturityDate": date(2026, 3, 10),
        "unpaidAmount": Decimal(amount),
        "currencyCode": "EUR",
        "declarationDate": date(2026, 3, 20),
    }
    return NonPayment(**(values | changes))


def claim_file(number: str, *non_payments: NonPayment) -> ClaimFile:
    return ClaimFile(
        claimFileNo=number,
        endorsementNo="7",
        customerReference="CLI-0001",
        openingDate=date(2026, 3, 20),
        nonPayments=non_payments,
    )


def declaration_of(decision: object) -> Declare:
    assert isinstance(decision, Declare), decision
    return decision


# --- c / r: declare, after the checks Cesce would make ------------------------------------------------


@pytest.mark.parametrize("op", ["c", "r"])
def test_a_new_or_snapshot_row_is_declared_under_its_debtor(op: str) -> None:
    decision = declaration_of(plan(op, None, row()))
    assert decision.contract_no == "34109150331"
    assert decision.declaration.to_wire() == {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": "20260110",
        "maturityDate": "20260310",
        "unpaidAmount": "1234,50",
        "currencyCode": "EUR",
    }
    assert decision.debtor.to_wire() == {"customerReference": "CLI-0001"}


def test_a_debtor_named_by_its_supplement_is_looked_up_by_it() -> None:
    decision = declaration_of(plan("c", None, row(customerReference=None, endorsementNo="123456")))
    assert decision.debtor.to_wire() == {"endorsementNo": "123456"}
    assert decision.declaration.to_wire()["endorsementNo"] == "123456"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"endorsementNo": "7"}, DEBTOR_FIELD),  # both identifiers
        ({"customerReference": None}, DEBTOR_FIELD),  # neither
        ({"customerReference": "C" * 51}, "customerReference"),  # FIELD_MAX_LENGTHS: 50
        ({"customerReference": None, "endorsementNo": "1234567"}, "endorsementNo"),  # 6
        ({"currencyCode": "EURO"}, "currencyCode"),  # 3
        ({"invoiceNo": "  "}, "invoiceNo"),  # a blank value is Cesce's HTTP 500
        ({"contractNo": "3410915033"}, "contractNo"),  # 10 digits
        ({"contractNo": "3410915033 "}, "contractNo"),  # a space (any 3-digit modality is well-formed: 000)
        ({"unpaidAmount": Decimal("0.00")}, "unpaidAmount"),
        ({"unpaidAmount": Decimal("-5.00")}, "unpaidAmount"),
        ({"unpaidAmount": Decimal("1.005")}, "unpaidAmount"),  # the request model: two decimals at most
    ],
)
def test_a_row_cesce_cannot_take_is_refused_before_any_call(changes: dict[str, Any], field: str) -> None:
    decision = plan("c", None, row(**changes))
    assert isinstance(decision, Refuse)
    assert decision.field == field
    assert decision.reason


def test_dates_in_the_wrong_order_are_left_for_cesce_to_refuse() -> None:
    # "fecha embarque > fecha vencimiento." is Cesce's documented rejection, with its own code
    decision = plan("c", None, row(invoiceDate=date(2026, 4, 1)))
    assert isinstance(decision, Declare)


# --- u and d -----------------------------------------------------------------------------------------


def test_delete_makes_no_call() -> None:
    assert plan("d", row(), None) == Deleted()


def test_update_of_nothing_cesce_was_sent_makes_no_call() -> None:
    assert plan("u", row(), row()) == NoChange()
    assert plan("u", row(), row(nonPaymentId="NP-1-renumbered")) == NoChange()  # the ERP's own id is not sent
    assert plan("u", row(unpaidAmount=Decimal("1234.5")), row(unpaidAmount=Decimal("1234.50"))) == NoChange()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contractNo", "38100029218"),
        ("endorsementNo", "7"),
        ("customerReference", "CLI-0002"),
        ("invoiceNo", "F-1B"),
        ("invoiceDate", date(2026, 1, 11)),
        ("maturityDate", date(2026, 4, 10)),
        ("unpaidAmount", Decimal("1000.00")),
        ("currencyCode", "USD"),
    ],
)
def test_an_update_of_what_cesce_was_sent_is_refused_naming_the_field(field: str, value: Any) -> None:
    decision = plan("u", row(), row(**{field: value}))
    assert isinstance(decision, Refuse)
    assert decision.field == field
    assert "cannot be modified through the Claims API" in decision.reason


def test_every_field_of_the_declaration_is_compared() -> None:
    sent = set(declaration_of(plan("c", None, row(customerReference=None, endorsementNo="7"))).declaration.to_wire())
    assert sent | {"customerReference", "contractNo"} == set(CESCE_FIELDS)


def test_an_update_naming_several_fields_names_the_first_and_lists_all() -> None:
    decision = plan("u", row(), row(invoiceNo="F-2", unpaidAmount=Decimal("1.00")))
    assert isinstance(decision, Refuse)
    assert decision.field == "invoiceNo"
    assert "unpaidAmount changed" in decision.reason


def test_an_update_without_its_before_image_is_refused() -> None:
    decision = plan("u", None, row())
    assert isinstance(decision, Refuse)
    assert decision.field == "before"


@pytest.mark.parametrize(("op", "before", "after"), [("x", None, row()), ("c", row(), None), ("u", row(), None)])
def test_a_change_that_is_not_one_of_the_four_is_refused(op: str, before: Any, after: Any) -> None:
    decision = plan(op, before, after)
    assert isinstance(decision, Refuse)
    assert decision.field == "op"


def test_the_debtor_is_the_customer_reference_else_the_supplement() -> None:
    assert debtor_of(row()) == "CLI-0001"
    assert debtor_of(row(customerReference=None, endorsementNo="7")) == "7"


# --- the lookup before a declaration -------------------------------------------------------------------


def test_an_invoice_in_no_claim_file_is_not_declared() -> None:
    what = declaration_of(plan("c", None, row())).declaration
    assert recognise([], what) is None
    assert recognise([claim_file("9001", declared("1", invoice="F-0"))], what) is None
    assert recognise([claim_file("9001", declared("1", maturityDate=date(2026, 3, 11)))], what) is None


def test_the_same_invoice_maturity_and_amount_is_already_declared() -> None:
    what = declaration_of(plan("c", None, row())).declaration
    first, second = declared("1", invoice="F-0"), declared("2")
    found = recognise([claim_file("9000"), claim_file("9001", first, second)], what)
    assert isinstance(found, AlreadyDeclared)
    assert (found.claim_file.claimFileNo, found.non_payment.nonPaymentNo) == ("9001", "2")
    assert not found.opened_file


def test_a_files_first_non_payment_is_the_declaration_that_opened_it() -> None:
    what = declaration_of(plan("c", None, row())).declaration
    found = recognise([claim_file("9001", declared("1"), declared("2", invoice="F-2"))], what)
    assert isinstance(found, AlreadyDeclared)
    assert found.opened_file
    # by declaration date, then by number as a number ("10" after "9"), not by list order
    later = [declared("10", invoice="F-x"), declared("9"), declared("11", invoice="F-y")]
    found = recognise([claim_file("9001", *later)], what)
    assert isinstance(found, AlreadyDeclared)
    assert found.opened_file
    earlier = declared("12", invoice="F-z", declarationDate=date(2026, 3, 19))
    found = recognise([claim_file("9001", *later, earlier)], what)
    assert isinstance(found, AlreadyDeclared)
    assert not found.opened_file


def test_an_exact_match_wins_over_the_same_invoice_with_another_amount() -> None:
    what = declaration_of(plan("c", None, row())).declaration
    found = recognise([claim_file("9001", declared("1", amount="99.00"), declared("2"))], what)
    assert isinstance(found, AlreadyDeclared)
    assert found.non_payment.nonPaymentNo == "2"


def test_the_same_invoice_declared_with_another_amount_is_refused() -> None:
    what = declaration_of(plan("c", None, row())).declaration
    refused = recognise([claim_file("9001", declared("1", amount="1000.00"))], what)
    assert isinstance(refused, Refuse)
    assert refused.field == "unpaidAmount"
    assert "claim file 9001, non-payment 1" in refused.reason
    assert "cannot be modified" in refused.reason


def test_a_non_payments_identity_is_its_id_and_the_state_keeps_what_was_declared() -> None:
    assert identity(row()) == "NP-1"
    kept = sent(row())
    assert kept == row()
    codec = state_codec("cesce.state.SentNonPayment")
    assert codec.decode(codec.encode(kept, "rows"), "rows") == kept
