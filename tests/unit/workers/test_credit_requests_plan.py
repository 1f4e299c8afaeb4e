"""What an ERP credit-request change asks of Cesce, decided without sockets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.workers.row_states import state_codec
from workers.credit_requests.plan import Classify, Deleted, NoChange, Refuse, debtor_of, identity, plan, sent


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "requestId": "SOL-1",
        "contractNo": "34109150331",
        "requestDate": date(2026, 11, 20),
        "countryCode": "ES",
        "taxCode": "B12345674",
        "customerReference": "CLI-9",
        "endorsementNo": None,
        "companyName": "DEUDOR SL",
        "creditLimitRequested": Decimal("50000.00"),
        "currencyCode": "EUR",
        "nonPaymentInd": "N",
        "nonPaymentAmount": None,
    }
    return base | changes


@pytest.mark.parametrize("op", ["c", "r"])
def test_a_new_request_is_classified_with_the_rows_identification(op: str) -> None:
    decision = plan(op, None, row())
    assert isinstance(decision, Classify)
    assert decision.contract_no == "34109150331"
    assert decision.since == date(2026, 11, 20)
    assert decision.request.to_wire() == {
        "countryCode": "ES",
        "taxCode": "B12345674",
        "customerReference": "CLI-9",
        "companyName": "DEUDOR SL",
        "creditLimitRequested": "50000,00",
        "currencyCode": "EUR",
        "nonPaymentInd": "N",
    }


def test_a_known_debtor_is_named_by_its_endorsement_no_alone() -> None:
    decision = plan("c", None, row(endorsementNo="100023"))
    assert isinstance(decision, Classify)
    wire = decision.request.to_wire()
    assert wire["endorsementNo"] == "100023"
    assert not {"countryCode", "taxCode", "customerReference"} & wire.keys()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"nonPaymentInd": "Y"}, "nonPaymentAmount"),
        ({"nonPaymentInd": "N", "nonPaymentAmount": Decimal("10.00")}, "nonPaymentAmount"),
        ({"nonPaymentInd": "S"}, "nonPaymentInd"),
        ({"companyName": "X" * 101}, "companyName"),
        ({"countryCode": None, "customerReference": None}, "countryCode"),
        ({"countryCode": None, "taxCode": None, "customerReference": None}, "debtor"),
        ({"creditLimitRequested": Decimal("1.001")}, "creditLimitRequested"),
    ],
)
def test_broken_rules_are_refused_before_any_call_with_the_field_named(changes: dict[str, Any], field: str) -> None:
    decision = plan("c", None, row(**changes))
    assert isinstance(decision, Refuse)
    assert decision.field == field


def test_updates_change_nothing_sent_or_are_refused() -> None:
    assert isinstance(plan("u", row(), row(internalNote="x")), NoChange)
    refused = plan("u", row(), row(creditLimitRequested=Decimal("60000.00")))
    assert isinstance(refused, Refuse)
    assert refused.field == "creditLimitRequested"
    assert "new request" in refused.reason
    assert isinstance(plan("u", None, row()), Refuse)


def test_a_delete_calls_nothing() -> None:
    assert isinstance(plan("d", row(), None), Deleted)


def test_the_debtor_key() -> None:
    assert debtor_of(row()) == "CLI-9"
    assert debtor_of(row(customerReference=None, endorsementNo="77")) == "77"
    assert debtor_of(row(customerReference=None)) == "ES:B12345674"


def test_a_requests_identity_is_its_request_id_and_the_state_keeps_all_of_it() -> None:
    assert identity(row()) == "SOL-1"
    kept = sent(row())
    codec = state_codec("cesce.state.SentCreditRequest")
    assert codec.decode(codec.encode(kept, "rows"), "rows") == kept
    assert {name: kept[name] for name in row()} == row()
