"""The last line of defence for order: a credit note refused for lack of pending sales waits for its sale.

A credit note (abono, a negative invoice) is refused with errorCode 1522, "DEUDOR SIN VENTAS PENDIENTES
DE VENCIMIENTO", when the debtor has no declared sale left to offset (the error catalogue,
``seeds/000_6535a29a02a30ce4.txt`` lines 69-72: positive invoices must be declared before the
negative ones that cancel them). The re-keying companion hands a debtor's changes over in the
database's commit order, but only across the partitions one member holds; a sale handled by another
replica may still be on its way. So such a refusal is not dead-lettered at once: the record is
looked at again (`Defer`) every `step` until `wait` has passed since the first refusal, and only
then dead-lettered, saying how long it waited. The sale it waits for comes through the same key (the
debtor), so the wait lets the key's later records of other rows go on (``keep_order=False``) rather
than hold them behind it (the note's own later changes wait behind it); the offset still holds its
partition's commit. Only re-keyed notes wait: from a source keyed by debtor, a sale comes before its
note on the same key, or not at all. A refused declaration changes nothing at
Cesce, so trying it again is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from workers.cesce import RejectionReason, rejection_reason
from workers.runtime import (
    ROW_KEY_HEADER,
    DeadLetter,
    Defer,
    Envelope,
    ErrorCategory,
    Handler,
    InputRecord,
    Outcome,
)

__all__ = ["WaitForSales"]

_STEP: Final = timedelta(seconds=5)
_FORGET_AFTER: Final = 10_000  # remembered refusals beyond which those of abandoned records are dropped


def _is_rekeyed_credit_note(record: InputRecord) -> bool:
    """A credit note that came through the re-keyer (it names its row): its sale may come from another member.
    A source keyed by debtor brings the sale before its note on the same key, or never: nothing to wait for."""
    return record.header(ROW_KEY_HEADER) is not None and _is_credit_note(record)


def _is_credit_note(record: InputRecord) -> bool:
    change = record.decoded
    row = change.after if isinstance(change, Envelope) else None
    return row is not None and row.get("amount") is not None and row["amount"] < 0


def _no_pending_sales(outcome: DeadLetter) -> bool:
    return (
        outcome.category is ErrorCategory.BUSINESS
        and rejection_reason(400, outcome.code, outcome.description) is RejectionReason.NO_PENDING_SALES
    )


class WaitForSales:
    """Wraps the invoices handler: its credit notes refused for lack of pending sales wait up to `wait`."""

    def __init__(
        self,
        handler: Handler,
        wait: timedelta,
        *,
        step: timedelta = _STEP,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._handler = handler
        self._wait = wait
        self._step = step
        self._clock = clock
        self._first: dict[tuple[str, int, int, int], datetime] = {}  # record -> its first such refusal

    async def __call__(self, record: InputRecord) -> Outcome:
        outcome = await self._handler(record)
        which = (record.topic, record.partition, record.offset, record.assignment)
        waits = isinstance(outcome, DeadLetter) and _no_pending_sales(outcome) and _is_rekeyed_credit_note(record)
        if not isinstance(outcome, DeadLetter) or not waits or self._wait <= timedelta(0):
            self._first.pop(which, None)
            return outcome
        now = self._clock()
        first = self._first.setdefault(which, now)
        if now - first < self._wait:
            self._forget_abandoned(now)
            until = min(now + self._step, first + self._wait)
            return Defer(until, "a credit note waits for its sale", keep_order=False)
        del self._first[which]
        waited = f" (refused for {(now - first).total_seconds():.0f} s while waiting for the debtor's sales)"
        return DeadLetter(outcome.category, outcome.code, outcome.description + waited)

    def _forget_abandoned(self, now: datetime) -> None:
        """Refusals of records abandoned mid-wait (a rebalance) are never looked at again: drop the old ones."""
        if len(self._first) > _FORGET_AFTER:
            stale = now - 2 * self._wait
            self._first = {which: first for which, first in self._first.items() if first > stale}
