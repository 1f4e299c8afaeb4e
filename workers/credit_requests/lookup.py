"""Is this credit request already registered at Cesce? Asked before every POST, and by the follow-up.

A classification request is never sent blindly a second time (a second request is a second study):
its first POST may have been answered after the client gave up, or the worker may have crashed
between Cesce's answer and the commit. Neither can be told apart from a first attempt, so the
worker always looks first (assumptions "classification-lookup"). A record is this request when it
is the same debtor's, asks for the same amount, and was requested on or after the ERP's
requestDate. Where the guide says each kind of record shows:

- the individual read (GET .../classifications) shows a new debtor's request in every state, and
  a known debtor's decided request once it is unified into the debtor's supplement;
- a known debtor's request still EN TRÁMITE has its own 300xxx number and shows only in the
  portfolio ("aparecerán dos registros"): the individual read shows the supplement in force, so the
  portfolio is walked from its first page, sending back the nextEndorsementNo each page returns
  (`ClassificationsApi.pending_requests`; no page is sought by a number of our own);
- a known debtor's denied request generates no supplement; it shows in the movements (48 hours).

A record of the same debtor requested on a day after the ERP's requestDate is a later request:
an old request read again (a snapshot, a replay) is then not sent, since a POST on a known debtor
would replace the later limit. Two requests of one day cannot be ordered by their dates: the
second is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from workers.cesce import CesceRejection, Classification, ClassificationsOperations, DebtorId, RejectionReason
from workers.cesce.assumptions import ClassificationStatus

__all__ = ["Lookup", "decided_in_movements", "find_registered", "is_request", "read_or_none"]


def is_request(record: Classification, requested: Decimal, since: date) -> bool:
    """Whether `record` is a request for `requested` made on or after `since`."""
    return record.creditLimitRequested == requested and record.requestDate >= since


def _same_debtor(record: Classification, known: Classification) -> bool:
    return (record.countryCode, record.taxCode) == (known.countryCode, known.taxCode)


@dataclass(frozen=True, slots=True)
class Lookup:
    registered: Classification | None = None
    """Cesce's record of this request: it must not be sent again."""
    newer: Classification | None = None
    """Another request for the debtor made after this one's requestDate (a later day): sending this one
    now (a snapshot re-read, a replay) would undo it, so it is not sent either."""

    @property
    def may_send(self) -> bool:
        return self.registered is None and self.newer is None


async def read_or_none(api: ClassificationsOperations, contract_no: str, debtor: DebtorId) -> Classification | None:
    """The individual read; None when Cesce has no record for these identifiers ("NO EXISTE LÍMITE")."""
    try:
        return await api.get(contract_no, debtor)
    except CesceRejection as exc:
        if exc.reason is RejectionReason.NO_LIMIT:
            return None
        raise


async def _since(
    records: AsyncIterator[Classification], known: Classification, since: date, *, pending: bool
) -> list[Classification]:
    return [
        record
        async for record in records
        if _same_debtor(record, known) and record.requestDate >= since and record.pending == pending
    ]


async def decided_in_movements(
    api: ClassificationsOperations, contract_no: str, known: Classification, requested: Decimal, since: date
) -> Classification | None:
    """The debtor's decided record for this request among the last 48 hours' movements (a denial shows only there)."""
    found = await _since(api.movements(contract_no), known, since, pending=False)
    return next((record for record in found if record.creditLimitRequested == requested), None)


async def find_registered(
    api: ClassificationsOperations, contract_no: str, debtor: DebtorId, requested: Decimal, since: date
) -> Lookup:
    """What Cesce holds of this request, or of a later one for the debtor; send it only if `may_send`."""
    current = await read_or_none(api, contract_no, debtor)
    if current is None:
        return Lookup()  # an unknown debtor: nothing was registered
    if is_request(current, requested, since):
        return Lookup(registered=current)
    pending = await _since(api.pending_requests(contract_no), current, since, pending=True)
    moved = await _since(api.movements(contract_no), current, since, pending=False)
    for record in pending + [m for m in moved if m.statusCode == ClassificationStatus.REJECTED]:
        if record.creditLimitRequested == requested:
            return Lookup(registered=record)
    # a later day only: two requests of one day cannot be ordered by their dates, and the second is sent
    later = [record for record in (current, *pending, *moved) if record.requestDate > since]
    return Lookup(newer=next(iter(later), None))
