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
  cancel a limit Cesce granted).

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
from typing import Any, Final

from workers.cesce.models.classifications import ClassificationRequest
from workers.cesce.validation import check_classification_request, check_fields
from workers.change_plans import Deleted, NoChange, Refuse, by_op

__all__ = [
    "REQUEST_FIELDS",
    "Classify",
    "Deleted",
    "NoChange",
    "Plan",
    "Refuse",
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
"""Every row field that is sent to Cesce; a change to any other column needs no call."""


@dataclass(frozen=True, slots=True)
class Classify:
    contract_no: str
    request: ClassificationRequest
    since: date
    """The ERP's requestDate: a Cesce record of this debtor requested on or after it, for the same amount, is
    this request already registered."""


Plan = Classify | NoChange | Deleted | Refuse


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
    """What the row state keeps of a request sent to Cesce (``cesce.state.SentCreditRequest``): all of it."""
    return {name: row.get(name) for name in ("requestId", "requestDate", *REQUEST_FIELDS)}


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
    return by_op(
        op,
        before,
        after,
        create=lambda row: Classify(row["contractNo"], classification_request(row), row["requestDate"]),
        update=_update,
    )


def _update(before: Mapping[str, Any], after: Mapping[str, Any]) -> Plan:
    for name in REQUEST_FIELDS:
        if before.get(name) != after.get(name):
            return Refuse(
                name,
                f"{name} changed from {before.get(name)!r} to {after.get(name)!r} after the request was sent to "
                "Cesce; a registered request cannot be edited: ask again with a new request row",
            )
    return NoChange()
