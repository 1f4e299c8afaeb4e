"""Classification requests (guide 3.1) and their lifecycle: granted, EN TRÁMITE, denied, cancelled.

How a request is decided (the documents leave the thresholds to Cesce; these are the sandbox's):
- nonPaymentInd Y: denied (statusCode 3, reasonStatusCode 1), the guide's example of a debtor
  "que ya tiene incidencias en pagos". A denial generates no supplement: a new debtor gets no
  endorsementNo and stays out of the portfolio; on a debtor that has a supplement the limit in
  force is untouched. Either way the denial is a movement.
- creditLimitRequested <= autoGrantThreshold: granted in full at once (statusCode 2).
- above: EN TRÁMITE (statusCode 1). A new debtor gets its endorsementNo at once (the request
  number) and a pending record; a debtor with a supplement gets a separate request numbered
  300001, 300002... shown beside its limit in the portfolio. Pending requests resolve after
  pendingResolveSeconds (granted in full) or through the admin API; a 300xxx request is then
  unified into the debtor's supplement, and its number keeps naming that debtor.

customerReference is recorded only until the debtor first holds a limit (guide 3.1.1: "solo se
puede asociar por API en la primera clasificación").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    ERROR_CODE_IDENTIFICATION,
    MSG_CLASSIFICATION_NOT_CANCELLABLE,
    MSG_NO_IDENTIFIER,
    ClassificationStatus,
)
from workers.cesce.codecs import decode_amount
from workers.sandbox.clock import MADRID
from workers.sandbox.debtors import by_endorsement, by_reference, identify_from, record_wire
from workers.sandbox.fields import Field, Kind
from workers.sandbox.state import Classification, Contract, Debtor, Denial, Ledger
from workers.sandbox.wire import ApiError, invalid, missing

__all__ = [
    "IDENTIFICATION_FIELDS",
    "REASON_DENIED",
    "REASON_NONE",
    "REQUEST_FIELDS",
    "Decision",
    "cancel",
    "current_record",
    "decide",
    "resolve_due",
    "resolve_request",
    "set_limit",
    "submit",
]

REASON_NONE: Final = "0"
REASON_DENIED: Final = "1"  # the sandbox's only reason: non-payments known to the insured

IDENTIFICATION_FIELDS: Final = (
    Field("countryCode", Kind.COUNTRY),
    Field("taxCode"),
    Field("customerReference"),
    Field("endorsementNo", Kind.DIGITS),
)
# Guide 3.1.2, "Longitud máxima de campos en POST Clasificación" (lengths from the catalogue).
REQUEST_FIELDS: Final = (
    *IDENTIFICATION_FIELDS,
    Field("companyName"),
    Field("address"),
    Field("city"),
    Field("state"),
    Field("postalCode"),
    Field("phoneNo"),
    Field("email"),
    Field("pdfInd", Kind.FLAG),
    Field("creditLimitRequested", Kind.AMOUNT, required=True),
    Field("currencyCode"),
    Field("paymentTermsRequested", Kind.DIGITS),
    Field("paymentMethodRequestedCode"),
    Field("nonPaymentInd", Kind.FLAG, required=True),
    Field("nonPaymentAmount", Kind.AMOUNT),
    Field("otherPartiesInvolved"),
    Field("otherPaymentTerms"),
    Field("otherComments"),
    Field("additionalInformationInd", Kind.FLAG),
    Field("additionalInformation"),
    Field("durationCoverage"),
    Field("takerCode"),
    Field("policyHolderTaxCode"),
    Field("coverDuration"),
    Field("coverCost"),
    Field("operationExpenses"),
)


class Decision(StrEnum):
    GRANT = "grant"
    PENDING = "pending"
    DENY = "deny"


def decide(non_payment: bool, requested: Decimal, threshold: Decimal) -> Decision:
    """The sandbox's automatic answer to a request."""
    if non_payment:
        return Decision.DENY
    return Decision.GRANT if requested <= threshold else Decision.PENDING


def submit(ledger: Ledger, contract: Contract, data: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """POST .../classifications -> the record of this request."""
    if data.get("nonPaymentInd") == "Y" and "nonPaymentAmount" not in data:
        raise missing("nonPaymentAmount")
    requested = decode_amount(data["creditLimitRequested"])
    if requested <= 0:
        raise invalid("creditLimitRequested")
    debtor = identify_from(ledger, contract.contract_no, data, requests=True)
    if debtor is None:
        debtor = _new_debtor(ledger, contract, data, now)
    elif not debtor.supplement:
        _update_identity(debtor, data)
    decision = decide(data["nonPaymentInd"] == "Y", requested, ledger.settings.auto_grant_threshold)
    record = Classification(
        endorsement_no=None,
        status=ClassificationStatus.PENDING,
        reason=REASON_NONE,
        requested=requested,
        granted=Decimal(0),
        currency=data.get("currencyCode", contract.currency),
        payment_terms_requested=data.get("paymentTermsRequested"),
        payment_terms_granted=None,
        request_date=_day(now),
        effective_date=None,
        requested_at=now,
        status_at=now,
    )
    if decision is Decision.DENY:
        record.status, record.reason = ClassificationStatus.REJECTED, REASON_DENIED
        if debtor.supplement:
            ledger.denials.append(Denial(debtor, record))
            return record_wire(debtor, record)
        record.endorsement_no = debtor.endorsement_no
    elif decision is Decision.GRANT:
        _grant(record, requested, now)
        record.endorsement_no = debtor.endorsement_no or ledger.new_endorsement_no()
        if debtor.pending is not None and debtor.pending.endorsement_no is not None:
            debtor.former_requests.add(debtor.pending.endorsement_no)  # superseded: its number names the debtor
        debtor.supplement, debtor.pending = True, None
    elif debtor.supplement:
        record.endorsement_no = debtor.pending.endorsement_no if debtor.pending else ledger.new_pending_no()
        debtor.pending = record
        return record_wire(debtor, record)
    else:
        record.endorsement_no = debtor.endorsement_no or ledger.new_endorsement_no()
    debtor.record = record
    return record_wire(debtor, record)


def current_record(ledger: Ledger, contract: Contract, ids: Mapping[str, str]) -> dict[str, Any]:
    """GET .../classifications: the record in force or last state; a 300xxx number while pending
    names the pending request."""
    _require_identification(ids)
    debtor = identify_from(ledger, contract.contract_no, ids, requests=True)
    if debtor is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    by_number = (
        "customerReference" not in ids or by_reference(ledger, contract.contract_no, ids["customerReference"]) is None
    )
    if by_number and debtor.pending is not None and ids.get("endorsementNo") == str(debtor.pending.endorsement_no):
        return record_wire(debtor, debtor.pending)
    return record_wire(debtor, debtor.record)


def cancel(ledger: Ledger, contract: Contract, ids: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """POST .../classifications/cancel: a limit in force becomes ANULADA (statusCode 4)."""
    _require_identification(ids)
    debtor = identify_from(ledger, contract.contract_no, ids, requests=False)
    if debtor is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    if debtor.record.status is not ClassificationStatus.IN_FORCE:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, MSG_CLASSIFICATION_NOT_CANCELLABLE)
    _cancel(debtor.record, now)
    return record_wire(debtor, debtor.record)


def resolve_due(ledger: Ledger, now: datetime) -> None:
    """Grant in full every pending request older than pendingResolveSeconds, as of when it fell due."""
    seconds = ledger.settings.pending_resolve_seconds
    if seconds is None:
        return
    delay = timedelta(seconds=seconds)
    for debtor in ledger.debtors:
        for record in (debtor.record, debtor.pending):
            if (
                record is not None
                and record.status is ClassificationStatus.PENDING
                and record.requested_at + delay <= now
            ):
                _resolve(
                    ledger, debtor, record, Decision.GRANT, granted=record.requested, at=record.requested_at + delay
                )


def resolve_request(
    ledger: Ledger, contract_no: str, number: int, decision: Decision, *, granted: Decimal | None, now: datetime
) -> dict[str, Any]:
    """The admin's decision on a pending request (a new debtor's own number, or a 300xxx)."""
    debtor = by_endorsement(ledger, contract_no, number, requests=True)
    record = None
    if debtor is not None:
        record = debtor.pending if debtor.pending and debtor.pending.endorsement_no == number else debtor.record
    if debtor is None or record is None or record.status is not ClassificationStatus.PENDING:
        raise LookupError(f"no pending request {number} in contract {contract_no}")
    chosen = granted if granted is not None else record.requested
    return _resolve(ledger, debtor, record, decision, granted=chosen, at=now)


def set_limit(ledger: Ledger, contract_no: str, number: int, granted: Decimal, now: datetime) -> dict[str, Any]:
    """Cesce changes a limit on its own (the admin API): 0 cancels it. Always a movement."""
    debtor = by_endorsement(ledger, contract_no, number)
    if debtor is None or debtor.endorsement_no is None:
        raise LookupError(f"no debtor {number} in contract {contract_no}")
    if granted > 0:
        _grant(debtor.record, granted, now)
        debtor.supplement = True
    elif debtor.supplement:
        _cancel(debtor.record, now)
    else:
        raise LookupError(f"debtor {number} has never held a limit to cancel")
    return record_wire(debtor, debtor.record)


def _resolve(
    ledger: Ledger, debtor: Debtor, record: Classification, decision: Decision, *, granted: Decimal, at: datetime
) -> dict[str, Any]:
    unified = record is debtor.pending
    if unified:
        debtor.pending = None
        if record.endorsement_no is not None:
            debtor.former_requests.add(record.endorsement_no)
    if decision is Decision.DENY:
        record.status, record.reason, record.granted, record.status_at = (
            ClassificationStatus.REJECTED,
            REASON_DENIED,
            Decimal(0),
            at,
        )
        if unified:
            record.endorsement_no = None
            ledger.denials.append(Denial(debtor, record))
        return record_wire(debtor, record)
    if unified:
        record.endorsement_no = debtor.endorsement_no
        debtor.record = record
    _grant(debtor.record, granted, at)
    debtor.supplement = True
    return record_wire(debtor, debtor.record)


def _grant(record: Classification, granted: Decimal, at: datetime) -> None:
    record.status, record.reason, record.granted = ClassificationStatus.IN_FORCE, REASON_NONE, granted
    record.payment_terms_granted = record.payment_terms_requested
    record.effective_date = _day(at)
    record.status_at = at


def _cancel(record: Classification, at: datetime) -> None:
    record.status, record.reason, record.granted, record.status_at = (
        ClassificationStatus.CANCELLED,
        REASON_NONE,
        Decimal(0),
        at,
    )


def _new_debtor(ledger: Ledger, contract: Contract, data: Mapping[str, str], now: datetime) -> Debtor:
    for name in ("countryCode", "taxCode"):
        if name not in data:
            raise missing(name)
    if data["countryCode"] != "ES" and not contract.foreign_debtors:
        raise ApiError(400, cat.ERROR_CODE_POLICY_EXCLUDED, cat.MSG_POLICY_EXCLUDED)
    debtor = Debtor(
        contract_no=contract.contract_no,
        country_code=data["countryCode"],
        tax_code=data["taxCode"],
        customer_reference=data.get("customerReference"),
        company_name=data.get("companyName"),
        cesce_code=ledger.new_cesce_code(),
        record=Classification(
            endorsement_no=None,
            status=ClassificationStatus.PENDING,
            reason=REASON_NONE,
            requested=Decimal(0),
            granted=Decimal(0),
            currency=contract.currency,
            payment_terms_requested=None,
            payment_terms_granted=None,
            request_date=_day(now),
            effective_date=None,
            requested_at=now,
            status_at=now,
        ),
    )
    ledger.debtors.append(debtor)
    return debtor


def _update_identity(debtor: Debtor, data: Mapping[str, str]) -> None:
    """A debtor that never held a limit is still at its first classification."""
    if "customerReference" in data:
        debtor.customer_reference = data["customerReference"]
    if "companyName" in data:
        debtor.company_name = data["companyName"]


def _require_identification(ids: Mapping[str, str]) -> None:
    if not ({"customerReference", "endorsementNo"} & ids.keys() or {"countryCode", "taxCode"} <= ids.keys()):
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_NO_IDENTIFIER)


def _day(at: datetime) -> date:
    return at.astimezone(MADRID).date()
