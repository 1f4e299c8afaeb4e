"""Which Cesce operation an ERP invoice change needs: a pure decision, tested without sockets.

- ``c`` / ``r`` (a new row, or a snapshot read of one): declare the sale; a negative amount is a
  credit note (abono), declared the same way (Cesce checks the supplement and pending sales).
- ``u``: compare the new row with what was last sent to Cesce for it (the worker's row state), else
  with Debezium's before-image. If nothing Cesce stores changed: no call (NO_CHANGE). Otherwise
  modify the declared sale, identified by the *old* invoiceNo + maturityDate, with the new values;
  never declare a second sale. A change Cesce's modification cannot carry (the policy, the
  subsidiary) or an update with nothing to compare with cannot be applied safely: it is refused
  with the reason.
- ``d``: no Cesce call; the result says the row was deleted in the ERP.

`identity` is a row's identity when the change does not carry the ERP's (no ``cesce.row-key``
header): Cesce's own identity of a sale, contractNo + invoiceNo + maturityDate. `sent` is what the
row state keeps of a row: the fields Cesce stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from workers.cesce import SaleChanges, SaleDeclaration, SaleRef
from workers.cesce.errors import quoted
from workers.change_plans import Deleted, NoChange, Refuse, by_op, debtor_of

__all__ = [
    "CESCE_FIELDS",
    "Declare",
    "Deleted",
    "Modify",
    "NoChange",
    "Plan",
    "Refuse",
    "debtor_of",
    "identity",
    "plan",
    "sale_declaration",
    "sent",
]

# Row field -> the Sales API's name for it (newData of a modification).
_MODIFIABLE: Final[dict[str, str]] = {
    "endorsementNo": "endorsementNo",
    "customerReference": "customerReference",
    "invoiceNo": "invoiceNo",
    "invoiceDate": "invoiceDate",
    "acquisitionDate": "acquisitionDate",
    "maturityDate": "maturityDate",
    "amount": "currencyAmount",
    "currencyCode": "currencyCode",
    "taxCodeTransferor": "taxCodeTransferor",
}
_NOT_MODIFIABLE: Final = ("contractNo", "subsidiaryNo")
CESCE_FIELDS: Final = (*_NOT_MODIFIABLE, *_MODIFIABLE)
"""Every row field Cesce stores; a change to any other column needs no call."""


@dataclass(frozen=True, slots=True)
class Declare:
    contract_no: str
    sale: SaleDeclaration


@dataclass(frozen=True, slots=True)
class Modify:
    contract_no: str
    ref: SaleRef
    changes: SaleChanges
    after: SaleDeclaration
    """The sale as it should read afterwards (to recognise a modification already applied)."""


Plan = Declare | Modify | NoChange | Deleted | Refuse


def sale_declaration(row: Mapping[str, Any]) -> SaleDeclaration:
    """The Sales API's generalData for a row (CesceValidationError if it breaks a documented rule)."""
    return SaleDeclaration(
        subsidiaryNo=row.get("subsidiaryNo"),
        endorsementNo=row.get("endorsementNo"),
        customerReference=row.get("customerReference"),
        invoiceNo=row["invoiceNo"],
        invoiceDate=row["invoiceDate"],
        acquisitionDate=row.get("acquisitionDate"),
        maturityDate=row["maturityDate"],
        currencyAmount=row["amount"],
        currencyCode=row.get("currencyCode"),
        taxCodeTransferor=row.get("taxCodeTransferor"),
    )


def identity(row: Mapping[str, Any]) -> str:
    """The sale's identity at Cesce: contractNo/invoiceNo/maturityDate."""
    return f"{row['contractNo']}/{row['invoiceNo']}/{_as_date(row['maturityDate']).isoformat()}"


def sent(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the row state keeps of a row Cesce took (``cesce.state.SentSale``)."""
    return {name: row.get(name) for name in CESCE_FIELDS}


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    # Decimal("100.0") == Decimal("100.00"): one amount, whatever its scale
    return [name for name in CESCE_FIELDS if before.get(name) != after.get(name)]


def plan(op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Plan:
    return by_op(
        op, before, after, create=lambda row: Declare(row["contractNo"], sale_declaration(row)), update=_update
    )


def _update(before: Mapping[str, Any], after: Mapping[str, Any]) -> Plan:
    changed = _changed(before, after)
    if not changed:
        return NoChange()
    for name in _NOT_MODIFIABLE:
        if name in changed:
            return Refuse(
                name,
                f"{name} changed from {quoted(before.get(name))} to {quoted(after.get(name))}; a declared "
                "sale cannot move to another policy or subsidiary (declare a credit note and a new sale)",
            )
    values: dict[str, Any] = {_MODIFIABLE[name]: after.get(name) for name in changed}
    if "endorsementNo" in changed or "customerReference" in changed:
        # the debtor changed: name it the way the ERP now does, and only that way
        values["endorsementNo"] = after.get("endorsementNo")
        values["customerReference"] = after.get("customerReference")
    ref = SaleRef.by_invoice(before["invoiceNo"], _as_date(before["maturityDate"]))
    return Modify(after["contractNo"], ref, SaleChanges(**values), sale_declaration(after))


def _as_date(value: Any) -> date:
    if not isinstance(value, date):
        raise TypeError(f"maturityDate must be a date, got {type(value).__name__}")
    return value
