"""Following a claim file: what is known of it, what changed since, when to stop. Pure.

The known state (a ``cesce.state.ClaimFileWatch`` record) is the file's documents, by non-payment
and document code, and its settlements, by settlementNo, as last read. A poll compares Cesce's
current lists with it:

- a document that is new (requested for a non-payment declared since), or whose statusCode
  changed: one DOCUMENT_STATUS update;
- a settlement that is new, or whose settlementStatusCode changed: one SETTLEMENT update, with
  principal + interest summed exactly;

and the current lists become the known state, due again one interval later. A file is followed
until it is settled (`is_settled`): a settlement paid, none still in progress, and every document
received or validated (none requested, claimed, or in a status we do not know); then the record is
replaced by a tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from workers.cesce import ClaimDocument, RequestedDocument, Settlement
from workers.cesce.assumptions import DocumentStatus, SettlementStatus

__all__ = [
    "DELIVERED_DOCUMENTS",
    "UPDATE_SCHEMA",
    "WATCH_SCHEMA",
    "ClaimFileRef",
    "Poll",
    "UpdateKind",
    "first_watch",
    "is_settled",
    "known_document",
    "known_settlement",
    "poll",
    "watch_key",
]

WATCH_SCHEMA: Final = "cesce.state.ClaimFileWatch"
UPDATE_SCHEMA: Final = "cesce.results.ClaimUpdate"
DELIVERED_DOCUMENTS: Final = frozenset({DocumentStatus.RECEIVED.value, DocumentStatus.VALIDATED.value})
"""Document statuses that wait for no one; any other (requested, claimed, unknown) keeps the file followed."""


class UpdateKind(StrEnum):
    """``kind`` of a ``cesce.results.ClaimUpdate``."""

    DOCUMENT_STATUS = "DOCUMENT_STATUS"
    """A document is new or its statusCode changed."""
    SETTLEMENT = "SETTLEMENT"
    """A settlement is new or its settlementStatusCode changed."""


@dataclass(frozen=True, slots=True)
class ClaimFileRef:
    """Which claim file, and whose: the fields every watch record and claim update repeats."""

    contract_no: str
    claim_file_no: str
    debtor: str
    endorsement_no: str
    customer_reference: str | None

    @classmethod
    def of(cls, watch: Mapping[str, Any]) -> ClaimFileRef:
        return cls(
            watch["contractNo"],
            watch["claimFileNo"],
            watch["debtor"],
            watch["endorsementNo"],
            watch["customerReference"],
        )

    @property
    def key(self) -> str:
        return watch_key(self.contract_no, self.claim_file_no)

    def fields(self) -> dict[str, Any]:
        return {
            "contractNo": self.contract_no,
            "claimFileNo": self.claim_file_no,
            "debtor": self.debtor,
            "endorsementNo": self.endorsement_no,
            "customerReference": self.customer_reference,
        }


@dataclass(frozen=True, slots=True)
class Poll:
    """What one read of the file found: the claim updates, and the next watch record or None (settled)."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    watch: dict[str, Any] | None = None


def watch_key(contract_no: str, claim_file_no: str) -> str:
    """The watch topic's key: one record (and one chain of re-appends) per claim file."""
    return f"{contract_no}/{claim_file_no}"


def known_document(non_payment_no: str, document: RequestedDocument) -> dict[str, Any]:
    return {
        "nonPaymentNo": non_payment_no,
        "documentCode": document.documentCode,
        "statusCode": document.statusCode,
        "statusDate": document.statusDate,
    }


def first_watch(
    ref: ClaimFileRef,
    documents: Iterable[dict[str, Any]],
    settlements: Iterable[Settlement] = (),
    *,
    watch_id: str,
    now: datetime,
    interval: timedelta,
) -> dict[str, Any]:
    """The first record of a file's chain: the file as the declaration's answer (a new file has no
    settlement) or a read of it describes it. Changes are reported from there on."""
    return ref.fields() | {
        "documents": list(documents),
        "settlements": [known_settlement(s) for s in settlements],
        "watchId": watch_id,
        "watchingSince": now,
        "checks": 0,
        "nextCheckAt": now + interval,
    }


def is_settled(documents: Sequence[ClaimDocument], settlements: Sequence[Settlement]) -> bool:
    """Nothing more to follow: a settlement paid, none in progress, every document received or validated.

    An unknown status (of a document or a settlement) keeps the file followed: it may still change.
    """
    statuses = {s.settlementStatusCode for s in settlements}
    return (
        SettlementStatus.PAID.value in statuses
        and statuses <= {SettlementStatus.PAID.value}
        and all(d.statusCode in DELIVERED_DOCUMENTS for d in documents)
    )


def poll(
    watch: Mapping[str, Any],
    documents: Sequence[ClaimDocument],
    settlements: Sequence[Settlement],
    *,
    now: datetime,
    interval: timedelta,
) -> Poll:
    """Compare a read of the file with `watch`: the updates, and what to know next."""
    ref = ClaimFileRef.of(watch)
    known_documents = {(d["nonPaymentNo"], d["documentCode"]): d["statusCode"] for d in watch["documents"]}
    known_settlements = {s["settlementNo"]: s["settlementStatusCode"] for s in watch["settlements"]}
    updates = [
        _document_update(ref, d, known_documents.get((d.nonPaymentNo, d.documentCode)), now)
        for d in documents
        if known_documents.get((d.nonPaymentNo, d.documentCode)) != d.statusCode
    ]
    updates += [
        _settlement_update(ref, s, known_settlements.get(s.settlementNo), now)
        for s in settlements
        if known_settlements.get(s.settlementNo) != s.settlementStatusCode
    ]
    if is_settled(documents, settlements):
        return Poll(updates, None)
    following = dict(watch) | {
        "documents": [known_document(d.nonPaymentNo, d) for d in documents],
        "settlements": [known_settlement(s) for s in settlements],
        "checks": watch["checks"] + 1,
        "nextCheckAt": now + interval,
    }
    return Poll(updates, following)


def known_settlement(settlement: Settlement) -> dict[str, Any]:
    return {
        "settlementNo": settlement.settlementNo,
        "settlementStatusCode": settlement.settlementStatusCode,
        "paymentDate": settlement.paymentDate,
        "amtPrinIndemnified": settlement.amtPrinIndemnified,
        "amtIntIndemnified": settlement.amtIntIndemnified,
        "currencyCode": settlement.currencyCode,
    }


def _document_update(ref: ClaimFileRef, document: ClaimDocument, previous: str | None, now: datetime) -> dict[str, Any]:
    return ref.fields() | {
        "kind": UpdateKind.DOCUMENT_STATUS.value,
        "previousStatusCode": previous,
        "statusCode": document.statusCode,
        "nonPaymentNo": document.nonPaymentNo,
        "documentCode": document.documentCode,
        "documentDescription": document.documentDescription,
        "statusDate": document.statusDate,
        "detectedAt": now,
    }


def _settlement_update(
    ref: ClaimFileRef, settlement: Settlement, previous: str | None, now: datetime
) -> dict[str, Any]:
    return ref.fields() | {
        "kind": UpdateKind.SETTLEMENT.value,
        "previousStatusCode": previous,
        "statusCode": settlement.settlementStatusCode,
        "settlementNo": settlement.settlementNo,
        "paymentDate": settlement.paymentDate,
        "amtPrinIndemnified": settlement.amtPrinIndemnified,
        "amtIntIndemnified": settlement.amtIntIndemnified,
        "amtIndemnified": settlement.total,
        "currencyCode": settlement.currencyCode,
        "detectedAt": now,
    }
