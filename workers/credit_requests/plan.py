"""Which Cesce call an ERP credit-request change needs: a pure decision, tested without sockets.

- ``c`` / ``r`` (a new request row, or a snapshot read of one): ask Cesce for the limit, once the
  request passes every documented rule (field lengths, the nonPaymentInd / nonPaymentAmount rule,
  the debtor's identification). The handler looks the request up at Cesce before it sends it.
- ``u``: a request already went to Cesce when its row was created. The new row is compared with
  what was sent (the worker's row state), else with Debezium's before-image; with neither, the
  update is refused naming ``before``. If nothing Cesce was sent changed: no call (NO_CHANGE). If
  it did, the change is refused with the field named: a request Cesce has registered cannot be
  edited, and the ERP asks again with a new request row (assumptions "credit-request-update").
- ``d``: no call; the result says the row was deleted in the ERP (deleting a request row does not
  cancel a limit Cesce granted: a row deleted for housekeeping must not void a cover; cancelling is
  the explicit limitAction CANCEL, below).

A row may also ask for an operation on the debtor's limit (003's operations; assumptions
"credit-request-actions"): ``limitAction`` CANCEL (annul a limit in force), DEACTIVATE or ACTIVATE
(PPC-modality policies only), or answer a premium Cesce asks to be accepted, ``premiumDecision``
ACCEPT or DENY. A new row carrying one asks for that and no limit; an update carrying a value other
than the one last sent (the row state, else the before-image) sends it, once: the same value again,
or the column cleared, is NO_CHANGE. A premium is answered once: another answer is refused naming
``premiumDecision``. One thing per change: a row carrying both is refused.

The debtor is named the way the guide allows (3.1.1, 3.2.1; assumptions "credit-request-identity"):
a debtor with an endorsementNo is named by it alone (customerReference can only be attached at a
debtor's first classification, and countryCode + taxCode would be redundant); otherwise by what the
row has, countryCode + taxCode for a new debtor, with its customerReference.

`identity` is a row's identity when the change does not carry the ERP's key (no ``cesce.row-key``
header): its requestId, the ERP's own id. `sent` is what the row state keeps of a request sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

from workers.cesce import CesceValidationError, DebtorId
from workers.cesce.models.classifications import ClassificationRequest
from workers.cesce.validation import check_classification_request, check_debtor_id, check_fields
from workers.change_plans import Deleted, NoChange, Refuse, by_op

__all__ = [
    "ACTION_FIELDS",
    "REQUEST_FIELDS",
    "ActOnLimit",
    "AnswerPremium",
    "Classify",
    "Deleted",
    "LimitAction",
    "NoChange",
    "Plan",
    "PremiumDecision",
    "Refuse",
    "debtor_id",
    "debtor_of",
    "identity",
    "plan",
    "sent",
]

_IDENTITY: Final = ("countryCode", "taxCode", "customerReference", "endorsementNo")
REQUEST_FIELDS: Final = (
    *_IDENTITY,
    "contractNo",
    "companyName",
    "address",
    "city",
    "state",
    "postalCode",
    "phoneNo",
    "email",
    "creditLimitRequested",
    "currencyCode",
    "paymentTermsRequested",
    "paymentMethodRequestedCode",
    "nonPaymentInd",
    "nonPaymentAmount",
    "otherComments",
)
"""Every row field that is sent to Cesce with a limit request; a change to any other column needs no call."""

ACTION_FIELDS: Final = ("limitAction", "premiumDecision")
"""The row's operations on the debtor's limit, each sent once; the row state keeps the last value sent."""


class LimitAction(StrEnum):
    """``limitAction``: 003's operations on a limit (001 lines 411-422)."""

    CANCEL = "CANCEL"  # POST .../classifications/cancel: "cancelar un límite que tiene crédito en vigor"
    DEACTIVATE = "DEACTIVATE"  # POST .../classifications/activate-deactivate, PPC-modality policies only
    ACTIVATE = "ACTIVATE"  # the same, back in force


class PremiumDecision(StrEnum):
    """``premiumDecision``: 003's accept-deny-premium."""

    ACCEPT = "ACCEPT"
    DENY = "DENY"


@dataclass(frozen=True, slots=True)
class Classify:
    contract_no: str
    request: ClassificationRequest
    since: date
    """The ERP's requestDate: a Cesce record of this debtor requested on or after it, for the same amount, is
    this request already registered."""


@dataclass(frozen=True, slots=True)
class ActOnLimit:
    """Cancel, deactivate or reactivate the debtor's limit."""

    contract_no: str
    debtor: DebtorId
    action: LimitAction


@dataclass(frozen=True, slots=True)
class AnswerPremium:
    """Accept or deny the premium Cesce asks on the debtor's classification."""

    contract_no: str
    debtor: DebtorId
    decision: PremiumDecision
    since: date
    """The row's requestDate: the request whose premium is answered is the row's own (as `Classify.since`)."""


Plan = Classify | ActOnLimit | AnswerPremium | NoChange | Deleted | Refuse


def debtor_of(row: Mapping[str, Any]) -> str:
    """The debtor as the ERP names it (the record key): customerReference, endorsementNo, or country:taxCode."""
    named = row.get("customerReference") or row.get("endorsementNo")
    if named:
        return str(named)
    return f"{row.get('countryCode') or ''}:{row.get('taxCode') or ''}"


def identity(row: Mapping[str, Any]) -> str:
    """The request's identity: the ERP's requestId."""
    return str(row["requestId"])


def sent(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the row state keeps of a request sent to Cesce (``cesce.state.SentCreditRequest``): all of it, with
    the last limitAction and premiumDecision sent."""
    return {name: row.get(name) for name in ("requestId", "requestDate", *REQUEST_FIELDS, *ACTION_FIELDS)}


def debtor_id(row: Mapping[str, Any]) -> DebtorId:
    """The debtor an operation is about, named as a limit request names it (endorsementNo alone when the row has
    one); CesceValidationError when the row names none (001: "Se podrá identificar al deudor por cualquiera de los
    tres medios: endorsementNo, customerReference o countryCode + taxCode.")."""
    names = ("endorsementNo",) if row.get("endorsementNo") else ("customerReference", "countryCode", "taxCode")
    debtor = DebtorId(**{name: row[name] for name in names if row.get(name)})
    check_debtor_id(debtor.to_wire())
    return debtor


def classification_request(row: Mapping[str, Any]) -> ClassificationRequest:
    """The Classifications API's generalData for a row; CesceValidationError names a field that breaks a rule."""
    values = {name: row.get(name) for name in REQUEST_FIELDS if name != "contractNo"}
    if values["endorsementNo"]:
        for name in ("countryCode", "taxCode", "customerReference"):
            values[name] = None
    request = ClassificationRequest(**{name: value for name, value in values.items() if value is not None})
    wire = request.to_wire()
    check_fields(wire)
    check_classification_request(wire)
    return request


def plan(op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Plan:
    return by_op(op, before, after, create=_create, update=_update)


def _create(row: Mapping[str, Any]) -> Plan:
    asked = _asked(row)
    if isinstance(asked, Refuse):
        return asked
    if asked is not None:
        return _operation(row, asked)
    return Classify(row["contractNo"], classification_request(row), row["requestDate"])


def _update(before: Mapping[str, Any], after: Mapping[str, Any]) -> Plan:
    for name in REQUEST_FIELDS:
        if before.get(name) != after.get(name):
            return Refuse(
                name,
                f"{name} changed from {before.get(name)!r} to {after.get(name)!r} after the request was sent to "
                "Cesce; a registered request cannot be edited: ask again with a new request row",
            )
    asked = _asked(after)
    if isinstance(asked, Refuse):
        return asked
    if isinstance(asked, PremiumDecision) and before.get("premiumDecision") not in (None, asked):
        return Refuse(
            "premiumDecision",
            f"premiumDecision changed from {before.get('premiumDecision')!r} to {asked.value!r}: the premium was "
            "already answered, and an answer sent to Cesce cannot be taken back",
        )
    if asked is None or before.get(_field_of(asked)) == asked:
        return NoChange()  # nothing asked, or asked already: each value is sent once
    try:
        return _operation(after, asked)
    except CesceValidationError as exc:
        return Refuse(exc.field, str(exc))


def _field_of(asked: LimitAction | PremiumDecision) -> str:
    return "limitAction" if isinstance(asked, LimitAction) else "premiumDecision"


def _asked(row: Mapping[str, Any]) -> LimitAction | PremiumDecision | Refuse | None:
    """The operation the row asks for, if any; a refusal for an unknown value or for both at once."""
    action, decision = row.get("limitAction"), row.get("premiumDecision")
    if action and decision:
        return Refuse("limitAction", "a row asks for a limitAction or answers a premium, not both in one change")
    try:
        if action:
            return LimitAction(action)
        if decision:
            return PremiumDecision(decision)
    except ValueError:
        field, allowed = ("limitAction", LimitAction) if action else ("premiumDecision", PremiumDecision)
        return Refuse(field, f"{field} {action or decision!r} is none of {', '.join(allowed)}")
    return None


def _operation(row: Mapping[str, Any], asked: LimitAction | PremiumDecision) -> ActOnLimit | AnswerPremium:
    if isinstance(asked, LimitAction):
        return ActOnLimit(row["contractNo"], debtor_id(row), asked)
    return AnswerPremium(row["contractNo"], debtor_id(row), asked, row["requestDate"])
