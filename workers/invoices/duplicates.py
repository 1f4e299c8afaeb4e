"""Is a refused declaration the sale an earlier attempt already declared? Pure decisions, tested without sockets.

Cesce's answer to a duplicate sale is not documented (guide 4.1: "El API devuelve error y la venta no
se da de alta en el sistema"), so its words decide nothing. What decides is the guide's duplicate
rule: two sales are the same when they share invoiceNo, invoiceDate, maturityDate, the supplement
(endorsementNo or customerReference) and currencyAmount (`same_sale`). After a business rejection of
a declaration whose earlier attempt's outcome is unknown (`earlier_attempt_unknown`), the worker reads
the sale back by invoiceNo + maturityDate (the latest declared, when several share them: assumption
"sale-read-latest") and compares that key: the same sale is ALREADY_DECLARED whatever the rejection
said; another sale, or none, keeps the rejection as it was. A rejection with no earlier unknown
attempt is taken as it is, with no read, unless its words hint at a duplicate (the client's
`DuplicateSale`): then the read decides too.

An earlier attempt's outcome is unknown when

- the client resent the declaration after an attempt that may have been processed (a read timeout,
  a connection dropped after sending, a 502/504: `workers.cesce.retry.follows_unknown_attempt`);
- this handler's own earlier attempt of the same record ended so, and the runtime is retrying the
  record (`UnknownAttempts`);
- the record was already in its partition when this member's stay of the partition began: a
  previous holder (a process that crashed, a member that lost the partition) may have sent it and
  never committed its result (`UnknownAttempts.before_stay`);
- the row state already holds the row exactly as this change would leave it: its result committed,
  and the change came back (a redelivery, a replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from workers.cesce import Sale, SaleDeclaration
from workers.runtime import InputRecord

__all__ = ["DUPLICATE_KEY", "UnknownAttempts", "earlier_attempt_unknown", "same_sale"]

DUPLICATE_KEY: Final = ("invoiceNo", "invoiceDate", "maturityDate", "endorsementNo|customerReference", "currencyAmount")
"""Guide 4.1, "Ventas duplicadas": "coinciden dos ventas con misma factura (invoiceNo), fecha de emisión
(invoiceDate), vencimiento (maturityDate), suplemento (endorsementNo o customerReference) e importe
(currencyAmount)"."""

_REMEMBERED: Final = 10_000  # records whose outcome is unknown, kept at most (a record abandoned mid-retry)


def same_sale(declared: SaleDeclaration, found: Sale) -> bool:
    """Whether `found` (read back from Cesce) is `declared` by the guide's duplicate rule (`DUPLICATE_KEY`).

    The supplement is compared the way the declaration names it (a sale is read back with the
    identifier it was declared with): one declared by endorsementNo and read back by customerReference
    only is not recognised, and its rejection stands."""
    if declared.endorsementNo is not None:
        same_debtor = found.endorsementNo == declared.endorsementNo
    else:
        same_debtor = found.customerReference is not None and found.customerReference == declared.customerReference
    return (
        same_debtor
        and found.invoiceNo == declared.invoiceNo
        and found.invoiceDate == declared.invoiceDate
        and found.maturityDate == declared.maturityDate
        and found.currencyAmount == declared.currencyAmount  # Decimal: one amount whatever its scale
    )


def earlier_attempt_unknown(
    *,
    resent_after_unknown: bool,
    retried_after_unknown: bool,
    before_stay: bool,
    known: Mapping[str, Any] | None,
    sent: Mapping[str, Any],
) -> str | None:
    """Why an earlier attempt of this declaration may have reached Cesce, or None when none can have."""
    if resent_after_unknown:
        return "the client resent it after an attempt whose outcome is unknown"
    if retried_after_unknown:
        return "an earlier attempt of this record ended with its outcome unknown"
    if known is not None and dict(known) == dict(sent):
        return "the row state already holds this row as declared (a redelivered change)"
    if before_stay:
        return "the record predates this stay of its partition (a previous holder may have sent it)"
    return None


class UnknownAttempts:
    """The records whose outcome at Cesce this handler left unknown (their retry comes back here), and when each
    stay of a partition began (a record older than its stay may have been sent by the partition's previous
    holder)."""

    def __init__(self) -> None:
        self._records: set[tuple[str, int, int]] = set()
        self._stays: dict[int, float] = {}  # InputRecord.assignment -> when this handler first saw it (epoch ms)

    @staticmethod
    def _which(record: InputRecord) -> tuple[str, int, int]:
        return record.topic, record.partition, record.offset

    def note(self, record: InputRecord) -> None:
        """`record`'s attempt may have reached Cesce and its outcome is unknown: its retry must look first."""
        if len(self._records) >= _REMEMBERED:
            self._records.clear()  # only records abandoned mid-retry pile up; their redelivery predates a stay
        self._records.add(self._which(record))

    def settled(self, record: InputRecord) -> None:
        self._records.discard(self._which(record))

    def __contains__(self, record: InputRecord) -> bool:
        return self._which(record) in self._records

    def before_stay(self, record: InputRecord, now: datetime) -> bool:
        """Whether `record` was written before this stay of its partition began (seen first at `now`, at the
        latest): a record written later was delivered to this member only. A record without a timestamp counts
        as older."""
        began = self._stays.setdefault(record.assignment, now.timestamp() * 1000)
        if len(self._stays) > _REMEMBERED:
            self._stays = {record.assignment: began}
        return record.timestamp_ms is None or record.timestamp_ms < began
