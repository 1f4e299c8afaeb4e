"""Classification requests (guide 3.1) and their lifecycle: granted, EN TRÁMITE, denied, cancelled,
deactivated and activated (PPC policies), waiting for a premium to be accepted.

How a request is decided (the documents leave the thresholds to Cesce; these are the sandbox's):
- nonPaymentInd Y: denied (statusCode 3, reasonStatusCode 1), the guide's example of a debtor
  "que ya tiene incidencias en pagos". The request is numbered all the same (000: "se genera un
  número para esa solicitud"): a new debtor's request takes a new endorsementNo, a known debtor's a
  300xxx number. A denial generates no supplement: a new debtor stays out of the portfolio; on a
  debtor that has a supplement the limit in force is untouched. Either way the denial is a movement.
- creditLimitRequested <= autoGrantThreshold: granted in full at once (statusCode 2); on a contract
  with a premiumAcceptanceThreshold, a request above it instead waits EN TRÁMITE for the insured to
  accept or deny its premium (`answer_premium`, assumptions "accept-deny-premium").
- above: EN TRÁMITE (statusCode 1). A new debtor gets its endorsementNo at once (the request
  number) and a pending record; a debtor with a supplement gets a separate request numbered
  300001, 300002... shown beside its limit in the portfolio. Pending requests resolve after
  pendingResolveSeconds (granted in full) or through the admin API; a 300xxx request is then
  unified into the debtor's supplement, and its number keeps naming that debtor.

customerReference is recorded only until the debtor first holds a limit (guide 3.1.1: "solo se
puede asociar por API en la primera clasificación").

On a PPC-modality policy a limit in force can be deactivated and activated again (`set_active`, guide
3.1: "Solo se utiliza para pólizas de modalidad PPC"); other policies refuse it (1522).
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
    MSG_LIMIT_NOT_IN_FORCE,
    MSG_NO_IDENTIFIER,
    MSG_NO_PREMIUM_PENDING,
    ClassificationStatus,
)
from workers.cesce.codecs import decode_amount
from workers.sandbox.clock import MADRID
from workers.sandbox.debtors import by_endorsement, by_reference, identify_from, record_wire
from workers.sandbox.fields import Field, Kind
from workers.sandbox.sales_rules import premium
from workers.sandbox.state import Classification, Contract, Debtor, Denial, Ledger
from workers.sandbox.wire import ApiError, invalid, missing

__all__ = [
    "ACTIVATION_FIELDS",
    "IDENTIFICATION_FIELDS",
    "PREMIUM_ANSWER_FIELDS",
    "REASON_DENIED",
    "REASON_NONE",
    "REQUEST_FIELDS",
    "Decision",
    "answer_premium",
    "cancel",
    "current_record",
    "decide",
    "resolve_due",
    "resolve_request",
    "set_active",
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
# The bodies of activate-deactivate and accept-deny-premium (assumptions "activate-deactivate", "accept-deny-premium").
ACTIVATION_FIELDS: Final = (*IDENTIFICATION_FIELDS, Field("activeInd", Kind.FLAG, required=True))
PREMIUM_ANSWER_FIELDS: Final = (*IDENTIFICATION_FIELDS, Field("acceptPremiumInd", Kind.FLAG, required=True))
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
    PREMIUM = "premium"  # granted once the insured accepts its premium


def decide(
    non_payment: bool, requested: Decimal, threshold: Decimal, premium_threshold: Decimal | None = None
) -> Decision:
    """The sandbox's automatic answer to a request."""
    if non_payment:
        return Decision.DENY
    if requested > threshold:
        return Decision.PENDING
    if premium_threshold is not None and requested > premium_threshold:
        return Decision.PREMIUM
    return Decision.GRANT


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
    ledger.watch(debtor)  # this request may leave it pending
    decision = decide(
        data["nonPaymentInd"] == "Y",
        requested,
        ledger.settings.auto_grant_threshold,
        contract.premium_acceptance_threshold,
    )
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
    if decision is Decision.PREMIUM:
        record.premium = premium(requested, contract.commercial_rate)
    if decision is Decision.DENY:
        record.status, record.reason = ClassificationStatus.REJECTED, REASON_DENIED
        if debtor.supplement:
            # numbered like any request (000), its own 300xxx; the limit in force is untouched
            record.endorsement_no = ledger.new_pending_no()
            debtor.former_requests.add(record.endorsement_no)
            ledger.denials.append(Denial(debtor, record))
            return record_wire(debtor, record)
        record.endorsement_no = _request_no(ledger, debtor)
    elif decision is Decision.GRANT:
        _grant(record, requested, now)
        record.endorsement_no = debtor.endorsement_no if debtor.supplement else _request_no(ledger, debtor)
        if debtor.pending is not None and debtor.pending.endorsement_no is not None:
            debtor.former_requests.add(debtor.pending.endorsement_no)  # superseded: its number names the debtor
        debtor.supplement, debtor.pending, debtor.deactivated = True, None, False
    elif debtor.supplement:
        record.endorsement_no = debtor.pending.endorsement_no if debtor.pending else ledger.new_pending_no()
        debtor.pending = record
        return record_wire(debtor, record)
    else:
        record.endorsement_no = _request_no(ledger, debtor)
    debtor.record = record
    return record_wire(debtor, record)


def _request_no(ledger: Ledger, debtor: Debtor) -> int:
    """The number of a new request of a debtor with no supplement: its request still EN TRÁMITE keeps its number
    (the new request replaces it), a new one otherwise; a denied request's number keeps naming the debtor."""
    number = debtor.endorsement_no
    if number is not None and debtor.record.status is ClassificationStatus.PENDING:
        return number
    if number is not None:
        debtor.former_requests.add(number)
    return ledger.new_endorsement_no()


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
    debtor.deactivated = False
    return record_wire(debtor, debtor.record)


def set_active(
    ledger: Ledger, contract: Contract, ids: Mapping[str, str], active: bool, now: datetime
) -> dict[str, Any]:
    """POST .../classifications/activate-deactivate: "Solo se utiliza para pólizas de modalidad PPC" (guide 3.1).

    Another policy refuses it as outside its conditions (1522). Deactivating a deactivated limit, or activating an
    active one, changes nothing; a change is a movement (statusDate), statusCode staying EN VIGOR."""
    _require_identification(ids)
    if not contract.ppc:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS)
    debtor = identify_from(ledger, contract.contract_no, ids, requests=False)
    if debtor is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    if debtor.record.status is not ClassificationStatus.IN_FORCE:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, MSG_LIMIT_NOT_IN_FORCE)
    if debtor.deactivated == active:
        debtor.deactivated = not active
        debtor.record.status_at = now
    return record_wire(debtor, debtor.record)


def answer_premium(
    ledger: Ledger, contract: Contract, ids: Mapping[str, str], accept: bool, now: datetime
) -> dict[str, Any]:
    """POST .../classifications/accept-deny-premium: accepted, the limit is in force; denied, it is not granted."""
    _require_identification(ids)
    debtor = identify_from(ledger, contract.contract_no, ids, requests=True)
    if debtor is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    record = next((r for r in (debtor.pending, debtor.record) if r is not None and _awaits_premium(r)), None)
    if record is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, MSG_NO_PREMIUM_PENDING)
    record.premium = None
    return _resolve(
        ledger, debtor, record, Decision.GRANT if accept else Decision.DENY, granted=record.requested, at=now
    )


def _awaits_premium(record: Classification) -> bool:
    return record.premium is not None and record.status is ClassificationStatus.PENDING


def resolve_due(ledger: Ledger, now: datetime) -> None:
    """Grant in full every pending request older than pendingResolveSeconds, as of when it fell due."""
    seconds = ledger.settings.pending_resolve_seconds
    if seconds is None:
        return
    delay = timedelta(seconds=seconds)
    for debtor in ledger.watched():
        for record in (debtor.record, debtor.pending):
            if (
                record is not None
                and record.status is ClassificationStatus.PENDING
                and record.premium is None  # waits for the insured, not for Cesce
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
    record.premium = None
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
        debtor.deactivated = False
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
    debtor.supplement, debtor.deactivated = True, False
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
        ppc=contract.ppc,
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
    ledger.add_debtor(debtor)
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
