"""A credit-request row that asks to cancel, deactivate or reactivate a limit, or answers a premium: the plan."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.workers.row_states import state_codec
from tests.unit.workers.test_credit_requests_plan import row
from workers.cesce import DebtorId
from workers.credit_requests.plan import (
    ActOnLimit,
    AnswerPremium,
    Classify,
    Deleted,
    LimitAction,
    NoChange,
    PremiumDecision,
    Refuse,
    plan,
    sent,
)


@pytest.mark.parametrize("action", list(LimitAction))
def test_an_update_carrying_a_limit_action_sends_it(action: LimitAction) -> None:
    """003 line 16: "Enable/Disable Classification, POST /contracts/{contractNo}/classifications/activate-deactivate
    This application allows make a state change (Activate or Deactivate) on Classification." and line 18: "Annul
    Classification, POST /contracts/{contractNo}/classifications/cancel This application allows for annul
    classification." """
    decision = plan("u", row(), row(limitAction=action.value))
    assert decision == ActOnLimit(
        "34109150331", DebtorId(customerReference="CLI-9", countryCode="ES", taxCode="B12345674"), action
    )


def test_the_debtor_is_named_by_its_endorsement_no_when_the_row_has_one() -> None:
    """001 lines 420-421: "Se podrá identificar al deudor por cualquiera de los tres medios: endorsementNo,
    customerReference o countryCode + taxCode." """
    decision = plan("u", row(endorsementNo="100023"), row(endorsementNo="100023", limitAction="CANCEL"))
    assert isinstance(decision, ActOnLimit)
    assert decision.debtor == DebtorId(endorsementNo="100023")
    by_tax_code = plan("u", row(customerReference=None), row(customerReference=None, limitAction="CANCEL"))
    assert isinstance(by_tax_code, ActOnLimit)
    assert by_tax_code.debtor == DebtorId(countryCode="ES", taxCode="B12345674")


@pytest.mark.parametrize("op", ["c", "r"])
def test_a_new_row_carrying_an_action_asks_for_it_and_no_limit(op: str) -> None:
    """001 line 419: "Petición para cancelar un límite que tiene crédito en vigor." A row that asks to cancel asks
    for nothing else: no classification request, whatever its amount column says."""
    decision = plan(op, None, row(limitAction="CANCEL", creditLimitRequested=Decimal("0.00")))
    assert isinstance(decision, ActOnLimit)
    assert decision.action is LimitAction.CANCEL
    assert isinstance(plan(op, None, row()), Classify)


def test_a_row_naming_no_debtor_is_refused_before_any_call() -> None:
    nameless = {"countryCode": None, "taxCode": None, "customerReference": None}
    decision = plan("c", None, row(limitAction="DEACTIVATE", **nameless))
    assert isinstance(decision, Refuse)
    assert decision.field == "debtor"
    updated = plan("u", row(**nameless), row(limitAction="DEACTIVATE", **nameless))
    assert isinstance(updated, Refuse)
    assert updated.field == "debtor"


def test_an_action_already_sent_is_not_sent_twice_and_clearing_it_calls_nothing() -> None:
    """The row state keeps the last action sent: the same change again (a redelivery) is NO_CHANGE."""
    done = sent(row(limitAction="DEACTIVATE"))
    assert isinstance(plan("u", done, row(limitAction="DEACTIVATE")), NoChange)
    assert isinstance(plan("u", done, row(limitAction=None)), NoChange)
    again = plan("u", done, row(limitAction="ACTIVATE"))
    assert isinstance(again, ActOnLimit)
    assert again.action is LimitAction.ACTIVATE


@pytest.mark.parametrize(("value", "decision"), [("ACCEPT", PremiumDecision.ACCEPT), ("DENY", PremiumDecision.DENY)])
def test_a_premium_decision_answers_the_premium(value: str, decision: PremiumDecision) -> None:
    """003 line 20: "Accept Deny Premium, POST /contracts/{contractNo}/classifications/accept-deny-premium This
    application allows for accept and deny Premium." """
    answered = plan("u", row(), row(premiumDecision=value))
    assert isinstance(answered, AnswerPremium)
    assert (answered.contract_no, answered.decision) == ("34109150331", decision)


def test_a_premium_is_answered_once() -> None:
    """An answer sent cannot be taken back: the same answer again is NO_CHANGE, another one is refused."""
    accepted = sent(row(premiumDecision="ACCEPT"))
    assert isinstance(plan("u", accepted, row(premiumDecision="ACCEPT")), NoChange)
    refused = plan("u", accepted, row(premiumDecision="DENY"))
    assert isinstance(refused, Refuse)
    assert refused.field == "premiumDecision"
    assert "already answered" in refused.reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limitAction": "SUSPEND"}, "limitAction"),
        ({"premiumDecision": "MAYBE"}, "premiumDecision"),
        ({"limitAction": "CANCEL", "premiumDecision": "ACCEPT"}, "limitAction"),
    ],
)
def test_unknown_values_or_two_operations_at_once_are_refused(changes: dict[str, str], field: str) -> None:
    for decision in (plan("c", None, row(**changes)), plan("u", row(), row(**changes))):
        assert isinstance(decision, Refuse)
        assert decision.field == field


def test_an_action_never_edits_a_sent_request() -> None:
    """An update that changes what the limit request sent is refused first, whatever it also asks."""
    refused = plan("u", row(), row(limitAction="CANCEL", creditLimitRequested=Decimal("70000.00")))
    assert isinstance(refused, Refuse)
    assert refused.field == "creditLimitRequested"


def test_deleting_a_row_cancels_nothing() -> None:
    """Cancelling is an explicit limitAction: a row deleted for housekeeping must not void a cover (assumptions
    "credit-request-actions")."""
    assert isinstance(plan("d", row(limitAction="DEACTIVATE"), None), Deleted)
    assert isinstance(plan("d", row(), None), Deleted)


def test_the_state_keeps_the_last_operation_sent() -> None:
    kept = sent(row(limitAction="CANCEL", premiumDecision=None))
    assert (kept["limitAction"], kept["premiumDecision"]) == ("CANCEL", None)
    codec = state_codec("cesce.state.SentCreditRequest")
    assert codec.decode(codec.encode(kept, "rows"), "rows") == kept
