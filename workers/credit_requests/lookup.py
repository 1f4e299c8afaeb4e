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
  portfolio ("aparecerán dos registros"), which is ordered by endorsementNo: reading from 300000
  finds it without paging through the whole policy;
- a known debtor's denied request generates no supplement; it shows in the movements (48 hours).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Final

from workers.cesce import CesceRejection, Classification, DebtorId, RejectionReason
from workers.cesce.assumptions import ClassificationStatus
from workers.cesce.classifications import ClassificationsApi

__all__ = ["PENDING_NUMBERS_FROM", "decided_in_movements", "find_registered", "is_request", "read_or_none"]

PENDING_NUMBERS_FROM: Final = "300000"
"""Requests on known debtors are numbered 300xxx while EN TRÁMITE (guide 3.2.2)."""


def is_request(record: Classification, requested: Decimal, since: date) -> bool:
    """Whether `record` is a request for `requested` made on or after `since`."""
    return record.creditLimitRequested == requested and record.requestDate >= since


def _same_debtor(record: Classification, known: Classification) -> bool:
    return (record.countryCode, record.taxCode) == (known.countryCode, known.taxCode)


async def read_or_none(api: ClassificationsApi, contract_no: str, debtor: DebtorId) -> Classification | None:
    """The individual read; None when Cesce has no record for these identifiers ("NO EXISTE LÍMITE")."""
    try:
        return await api.get(contract_no, debtor)
    except CesceRejection as exc:
        if exc.reason is RejectionReason.NO_LIMIT:
            return None
        raise


async def _first(
    records: AsyncIterator[Classification], known: Classification, requested: Decimal, since: date, *, pending: bool
) -> Classification | None:
    async for record in records:
        if _same_debtor(record, known) and is_request(record, requested, since) and record.pending == pending:
            return record
    return None


async def decided_in_movements(
    api: ClassificationsApi, contract_no: str, known: Classification, requested: Decimal, since: date
) -> Classification | None:
    """The debtor's decided record for this request among the last 48 hours' movements (a denial shows only there)."""
    return await _first(api.movements(contract_no), known, requested, since, pending=False)


async def find_registered(
    api: ClassificationsApi, contract_no: str, debtor: DebtorId, requested: Decimal, since: date
) -> Classification | None:
    """Cesce's record of this request if it is registered, else None (then, and only then, send it)."""
    current = await read_or_none(api, contract_no, debtor)
    if current is None:
        return None  # an unknown debtor: nothing was registered
    if is_request(current, requested, since):
        return current
    pending = await _first(
        api.portfolio(contract_no, start=PENDING_NUMBERS_FROM), current, requested, since, pending=True
    )
    if pending is not None:
        return pending
    denied = await decided_in_movements(api, contract_no, current, requested, since)
    return denied if denied is not None and denied.statusCode == ClassificationStatus.REJECTED else None
