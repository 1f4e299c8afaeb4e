"""Which Cesce call an ERP unpaid-invoice change needs: a pure decision, tested without sockets.

- ``c`` / ``r`` (a new row, or a snapshot read of one): declare the non-payment, once. The row is
  checked first (one debtor identifier, the documented lengths, no blank value, the request model's
  types, an unpaid amount above zero), so a row Cesce cannot take costs no call.
- Cesce never refuses a repeated declaration: it attaches a second non-payment to the file. So
  before posting, the handler reads the debtor's claim files and `recognise` looks the invoice up
  there (invoiceNo + maturityDate + unpaidAmount): a redelivery, a snapshot re-read or a POST whose
  answer was lost is found and read back, never declared twice. The same invoice there with
  another amount is refused: it is a change of a declared non-payment.
- ``u``: compared with what was declared (the worker's row state), else with Debezium's
  before-image; with neither, refused naming ``before``. If nothing Cesce was sent changed: no call
  (NO_CHANGE). Otherwise refused, naming the field: the Claims API has no operation that modifies
  or withdraws a declared non-payment.
- ``d``: no call; the result says the row was deleted in the ERP (a declared non-payment stands).

`identity` is a row's identity when the change does not carry the ERP's key (no ``cesce.row-key``
header): its nonPaymentId, the ERP's own id. `sent` is what the row state keeps of a declared row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from workers.cesce import CesceValidationError, ClaimFile, DebtorId, NonPayment, NonPaymentDeclaration
from workers.cesce.validation import check_contract_no, check_fields, check_single_debtor
from workers.change_plans import Deleted, NoChange, Refuse, by_op, debtor_of

__all__ = [
    "CESCE_FIELDS",
    "AlreadyDeclared",
    "Declare",
    "Deleted",
    "NoChange",
    "Plan",
    "Refuse",
    "debtor_of",
    "identity",
    "plan",
    "recognise",
    "sent",
]

CESCE_FIELDS: Final = (
    "contractNo",
    "endorsementNo",
    "customerReference",
    "invoiceNo",
    "invoiceDate",
    "maturityDate",
    "unpaidAmount",
    "currencyCode",
)
"""Every row field Cesce is sent (the path's contractNo and the declaration's generalData)."""


@dataclass(frozen=True, slots=True)
class Declare:
    contract_no: str
    declaration: NonPaymentDeclaration
    debtor: DebtorId
    """Whose claim files to look the invoice up in: the identifier the declaration names."""


Plan = Declare | NoChange | Deleted | Refuse


@dataclass(frozen=True, slots=True)
class AlreadyDeclared:
    """The invoice is declared already: where, and whether its declaration opened the file."""

    claim_file: ClaimFile
    non_payment: NonPayment

    @property
    def opened_file(self) -> bool:
        """True when this is the file's first non-payment (the declaration that opened it)."""
        return min(self.claim_file.nonPayments, key=_declaration_order) is self.non_payment


def identity(row: Mapping[str, Any]) -> str:
    """The non-payment's identity: the ERP's nonPaymentId."""
    return str(row["nonPaymentId"])


def sent(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the row state keeps of a declared row (``cesce.state.SentNonPayment``): its id and what Cesce was sent."""
    return {name: row.get(name) for name in ("nonPaymentId", *CESCE_FIELDS)}


def plan(op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Plan:
    return by_op(op, before, after, create=_declare, update=_update)


def _update(before: Mapping[str, Any], after: Mapping[str, Any]) -> Plan:
    changed = [name for name in CESCE_FIELDS if before.get(name) != after.get(name)]
    if not changed:
        return NoChange()
    moves = "; ".join(f"{name} changed from {before.get(name)!r} to {after.get(name)!r}" for name in changed)
    return Refuse(
        changed[0],
        f"{moves}: a declared non-payment cannot be modified through the Claims API "
        "(it has no modification or withdrawal operation); settle the change with Cesce's claims unit",
    )


def recognise(files: Sequence[ClaimFile], declaration: NonPaymentDeclaration) -> AlreadyDeclared | Refuse | None:
    """The declaration's invoice among the debtor's claim files: found, found changed, or not there.

    Found means the same invoiceNo, maturityDate and unpaidAmount. The same invoiceNo and
    maturityDate with another amount is a change of the declared non-payment, refused like an update.
    """
    same_invoice = [
        AlreadyDeclared(claim_file, non_payment)
        for claim_file in files
        for non_payment in claim_file.nonPayments
        if (non_payment.invoiceNo, non_payment.maturityDate) == (declaration.invoiceNo, declaration.maturityDate)
    ]
    for found in same_invoice:
        if found.non_payment.unpaidAmount == declaration.unpaidAmount:
            return found
    if not same_invoice:
        return None
    other = same_invoice[0]
    return Refuse(
        "unpaidAmount",
        f"invoice {declaration.invoiceNo} due {declaration.maturityDate.isoformat()} is already declared "
        f"(claim file {other.claim_file.claimFileNo}, non-payment {other.non_payment.nonPaymentNo}) for "
        f"{other.non_payment.unpaidAmount}, not {declaration.unpaidAmount}: a declared non-payment cannot be "
        "modified through the Claims API",
    )


def _declare(row: Mapping[str, Any]) -> Declare:
    """The checks Cesce's answers would make, made first: CesceValidationError names the field."""
    operation = "claims.declare_non_payment"
    contract_no = check_contract_no(row["contractNo"], operation=operation)
    declaration = NonPaymentDeclaration(
        endorsementNo=row.get("endorsementNo"),
        customerReference=row.get("customerReference"),
        invoiceNo=row["invoiceNo"],
        invoiceDate=row["invoiceDate"],
        maturityDate=row["maturityDate"],
        unpaidAmount=row["unpaidAmount"],
        currencyCode=row["currencyCode"],
    )
    wire = declaration.to_wire()
    check_single_debtor(wire, operation=operation)
    check_fields(wire, operation=operation)
    if declaration.unpaidAmount <= 0:
        raise CesceValidationError("unpaidAmount", "must be above zero: nothing is unpaid", operation=operation)
    if declaration.customerReference is not None:
        debtor = DebtorId.by_customer_reference(declaration.customerReference)
    else:
        debtor = DebtorId.by_endorsement(str(declaration.endorsementNo))
    return Declare(contract_no, declaration, debtor)


def _declaration_order(non_payment: NonPayment) -> tuple[date, int, str]:
    # numbers are strings on the wire: "10" comes after "9"
    return non_payment.declarationDate, len(non_payment.nonPaymentNo), non_payment.nonPaymentNo
