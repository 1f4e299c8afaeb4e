"""The records the credit-requests worker publishes: results, and the pending requests it follows up.

Both the worker (from an ERP change) and the follow-up (from a pending request it read again) write
a `cesce.results.ClassificationResult`; `RequestFacts` is what they know of the request either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from workers.cesce import Classification
from workers.cesce.assumptions import ClassificationStatus
from workers.credit_requests.plan import debtor_of
from workers.runtime import InputRecord, Output

__all__ = [
    "PENDING_SCHEMA",
    "RESULT_SCHEMA",
    "Outcome",
    "RequestFacts",
    "Stage",
    "outcome_of",
    "pending_record",
    "result",
]

RESULT_SCHEMA: Final = "cesce.results.ClassificationResult"
PENDING_SCHEMA: Final = "cesce.state.PendingClassification"


class Outcome(StrEnum):
    GRANTED = "GRANTED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    CANCELLED = "CANCELLED"
    SUPERSEDED = "SUPERSEDED"
    NO_CHANGE = "NO_CHANGE"
    DELETED_IN_ERP = "DELETED_IN_ERP"
    DEACTIVATED = "DEACTIVATED"
    REACTIVATED = "REACTIVATED"
    PREMIUM_ACCEPTED = "PREMIUM_ACCEPTED"
    PREMIUM_DENIED = "PREMIUM_DENIED"


class Stage(StrEnum):
    ANSWER = "ANSWER"
    FINAL = "FINAL"


_BY_STATUS: Final = {
    ClassificationStatus.PENDING: Outcome.PENDING,
    ClassificationStatus.IN_FORCE: Outcome.GRANTED,
    ClassificationStatus.REJECTED: Outcome.REJECTED,
    ClassificationStatus.CANCELLED: Outcome.CANCELLED,
}


def outcome_of(record: Classification) -> Outcome | None:
    """The outcome a Cesce record means; None for a statusCode the documents do not list."""
    status = record.status
    return None if status is None else _BY_STATUS.get(status)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the worker knows of a request without Cesce: the ERP's side and where it came from."""

    request_id: str
    contract_no: str
    debtor: str
    op: str
    requested: Decimal
    currency: str | None
    country_code: str | None
    tax_code: str | None
    customer_reference: str | None
    endorsement_no: str | None
    payment_terms: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    trace_id: str | None

    @classmethod
    def of_change(cls, record: InputRecord, op: str, row: Mapping[str, Any]) -> RequestFacts:
        source_topic, source_partition, source_offset = record.origin  # the ERP change record
        return cls(
            request_id=row["requestId"],
            contract_no=row["contractNo"],
            debtor=debtor_of(row),
            op=op,
            requested=row["creditLimitRequested"],
            currency=row.get("currencyCode"),
            country_code=row.get("countryCode"),
            tax_code=row.get("taxCode"),
            customer_reference=row.get("customerReference"),
            endorsement_no=row.get("endorsementNo"),
            payment_terms=row.get("paymentTermsRequested"),
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            trace_id=record.trace_id,
        )

    @classmethod
    def of_pending(cls, state: Mapping[str, Any]) -> RequestFacts:
        return cls(
            request_id=state["requestId"],
            contract_no=state["contractNo"],
            debtor=state["debtor"],
            op=state["op"],
            requested=state["creditLimitRequested"],
            currency=state["currencyCode"],
            country_code=state["countryCode"],
            tax_code=state["taxCode"],
            customer_reference=state.get("customerReference"),
            endorsement_no=state["endorsementNo"],
            payment_terms=None,
            source_topic=state["sourceTopic"],
            source_partition=state["sourcePartition"],
            source_offset=state["sourceOffset"],
            trace_id=state.get("traceId"),
        )


def result(
    topic: str,
    facts: RequestFacts,
    outcome: Outcome,
    *,
    stage: Stage = Stage.ANSWER,
    now: datetime,
    record: Classification | None = None,
    already_registered: bool = False,
    action: str | None = None,
) -> Output:
    """A ClassificationResult handled at `now`; Cesce's record, when there is one, wins over what the ERP row said.
    `action` names the row's operation on the limit (CANCEL, ..., ACCEPT_PREMIUM), None for a limit request. A
    record that waits for a premium to be accepted says so (premiumDecisionNeeded, premiumAmount)."""
    value: dict[str, Any] = {
        "outcome": outcome.value,
        "stage": stage.value,
        "alreadyRegistered": already_registered,
        "action": action,
        "premiumDecisionNeeded": False,
        "premiumAmount": None,
        "op": facts.op,
        "requestId": facts.request_id,
        "contractNo": facts.contract_no,
        "debtor": facts.debtor,
        "countryCode": facts.country_code,
        "taxCode": facts.tax_code,
        "customerReference": facts.customer_reference,
        "endorsementNo": facts.endorsement_no,
        "creditLimitRequested": facts.requested,
        "currencyCode": facts.currency or "",
        "paymentTermsRequested": facts.payment_terms,
        "sourceTopic": facts.source_topic,
        "sourcePartition": facts.source_partition,
        "sourceOffset": facts.source_offset,
        "traceId": facts.trace_id,
        "handledAt": now,
    }
    if record is not None:
        value |= {
            "countryCode": record.countryCode,
            "taxCode": record.taxCode,
            "customerReference": record.customerReference or facts.customer_reference,
            "endorsementNo": record.endorsementNo or facts.endorsement_no,
            "cesceCode": record.cesceCode,
            "companyName": record.companyName,
            "statusCode": record.statusCode,
            "reasonStatusCode": record.reasonStatusCode,
            "creditLimitRequested": record.creditLimitRequested,
            "creditLimitGranted": record.creditLimitGranted,
            "currencyCode": record.currencyCode,
            "paymentTermsRequested": record.paymentTermsRequested or facts.payment_terms,
            "paymentTermsGranted": record.paymentTermsGranted,
            "requestDate": record.requestDate,
            "effectiveDate": record.effectiveDate,
            "statusDate": record.statusDate,
            "premiumDecisionNeeded": record.premium_pending,
            "premiumAmount": record.premiumAmount if record.premium_pending else None,
        }
    return Output(topic, facts.debtor, value, schema=RESULT_SCHEMA)


def pending_record(
    topic: str,
    facts: RequestFacts,
    record: Classification,
    *,
    since: datetime,
    checks: int,
    now: datetime,
    interval: timedelta,
) -> Output:
    """The request as the follow-up keeps it (keyed by requestId), due `interval` after `now`."""
    value = {
        "requestId": facts.request_id,
        "contractNo": facts.contract_no,
        "debtor": facts.debtor,
        "endorsementNo": record.endorsementNo or "",
        "countryCode": record.countryCode,
        "taxCode": record.taxCode,
        "customerReference": record.customerReference or facts.customer_reference,
        "creditLimitRequested": record.creditLimitRequested,
        "currencyCode": record.currencyCode,
        "requestDate": record.requestDate,
        "op": facts.op,
        "sourceTopic": facts.source_topic,
        "sourcePartition": facts.source_partition,
        "sourceOffset": facts.source_offset,
        "traceId": facts.trace_id,
        "checks": checks,
        "pendingSince": since,
        "nextCheckAt": now + interval,
    }
    return Output(topic, facts.request_id, value, schema=PENDING_SCHEMA)
