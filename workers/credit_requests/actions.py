"""The operations a credit-request row may ask on the debtor's limit, beyond a limit request (003):

- cancel (POST .../classifications/cancel: 001 "Petición para cancelar un límite que tiene crédito
  en vigor."), deactivate and reactivate (POST .../classifications/activate-deactivate: 001 "Solo se
  utiliza para pólizas de modalidad PPC."; Cesce refuses it on other policies, a business dead letter
  with its errorCode);
- accept or deny the premium Cesce asks on a classification (POST .../accept-deny-premium).

Like a limit request, an operation is never sent blindly a second time: the debtor is read first (for
a premium, the row's own request is looked up as a limit request is: a known debtor's request waiting
for its premium is its 300xxx record, which the individual read does not show), and an operation
whose effect Cesce's record already shows (a crash between Cesce's answer and the commit, a new row
delivered twice) is published from that record with ``alreadyRegistered`` and not sent.
`already_done` is that pure decision.
"""

from __future__ import annotations

from typing import Protocol

from workers.cesce import Classification, ClassificationsOperations, DebtorId
from workers.cesce.assumptions import ClassificationStatus
from workers.credit_requests.plan import ActOnLimit, AnswerPremium, LimitAction, PremiumDecision
from workers.credit_requests.results import Outcome

__all__ = [
    "ClassificationActions",
    "HasClassificationActions",
    "Operation",
    "action_name",
    "action_outcome",
    "already_done",
    "send",
]


class ClassificationActions(ClassificationsOperations, Protocol):
    """The Classifications API calls of the credit-requests worker: its limit requests' and the operations'."""

    async def cancel(self, contract_no: str, debtor: DebtorId) -> Classification: ...

    async def set_active(self, contract_no: str, debtor: DebtorId, *, active: bool) -> Classification: ...

    async def answer_premium(self, contract_no: str, debtor: DebtorId, *, accept: bool) -> Classification: ...


class HasClassificationActions(Protocol):
    """A client with the whole Classifications API (`CesceClient`, or a test's holder of a fake)."""

    @property
    def classifications(self) -> ClassificationActions: ...


Operation = ActOnLimit | AnswerPremium

_OUTCOMES = {
    LimitAction.CANCEL: Outcome.CANCELLED,
    LimitAction.DEACTIVATE: Outcome.DEACTIVATED,
    LimitAction.ACTIVATE: Outcome.REACTIVATED,
    PremiumDecision.ACCEPT: Outcome.PREMIUM_ACCEPTED,
    PremiumDecision.DENY: Outcome.PREMIUM_DENIED,
}
_NAMES = {
    LimitAction.CANCEL: "CANCEL",
    LimitAction.DEACTIVATE: "DEACTIVATE",
    LimitAction.ACTIVATE: "ACTIVATE",
    PremiumDecision.ACCEPT: "ACCEPT_PREMIUM",
    PremiumDecision.DENY: "DENY_PREMIUM",
}


def _asked(operation: Operation) -> LimitAction | PremiumDecision:
    return operation.action if isinstance(operation, ActOnLimit) else operation.decision


def action_outcome(operation: Operation) -> Outcome:
    """The result's outcome once Cesce did what the row asked."""
    return _OUTCOMES[_asked(operation)]


def action_name(operation: Operation) -> str:
    """The result's ``action``: CANCEL, DEACTIVATE, ACTIVATE, ACCEPT_PREMIUM or DENY_PREMIUM."""
    return _NAMES[_asked(operation)]


def already_done(operation: Operation, record: Classification) -> bool:
    """Whether Cesce's record already shows what the operation asks (then it is not sent again).

    For a limit action `record` is the debtor's (the individual read); for a premium decision, the record of the
    row's own request (`workers.credit_requests.lookup.find_registered`). A cancelled limit is statusCode 4
    (ANULADA); a deactivated one a limit in force with activeInd N, an active one with activeInd Y (shown on
    PPC-modality policies only: elsewhere nothing shows, the operation is sent and Cesce refuses it). A premium is
    answered when the request no longer waits for it: accepted, the limit is in force; denied, it was not granted.
    A record that still waits, or shows nothing of the operation, has it sent: Cesce's refusal is its own to give.
    """
    status = record.status
    if isinstance(operation, ActOnLimit):
        if operation.action is LimitAction.CANCEL:
            return status is ClassificationStatus.CANCELLED
        shows = "Y" if operation.action is LimitAction.ACTIVATE else "N"
        return status is ClassificationStatus.IN_FORCE and record.activeInd == shows
    if record.premium_pending:
        return False
    if operation.decision is PremiumDecision.ACCEPT:
        return status is ClassificationStatus.IN_FORCE
    return status is ClassificationStatus.REJECTED


async def send(api: ClassificationActions, operation: Operation) -> Classification:
    """The operation's call; Cesce's record as it answers it."""
    if isinstance(operation, AnswerPremium):
        accept = operation.decision is PremiumDecision.ACCEPT
        return await api.answer_premium(operation.contract_no, operation.debtor, accept=accept)
    if operation.action is LimitAction.CANCEL:
        return await api.cancel(operation.contract_no, operation.debtor)
    active = operation.action is LimitAction.ACTIVATE
    return await api.set_active(operation.contract_no, operation.debtor, active=active)
