"""The month-end books check, pure: our declared sales against Cesce's sales list, side by side.

`cesce-worker reconcile sales` (`workers.ops.reconcile_command`) reads the two sides and the dead
letters; everything here decides without sockets.

Our side is the invoices worker's ``cesce.sale-results``, folded by the guide's duplicate key
(`DUPLICATE_KEY`: invoiceNo, invoiceDate, maturityDate, endorsementNo or customerReference,
currencyAmount) in the order the results were handled, the latest result per key winning
(`fold_results`): DECLARED, REJECTED_BY_POLICY (Cesce recorded it, RECHAZADA), ALREADY_DECLARED and
MODIFIED count as declared, credit notes (negative amounts) like any sale; DELETED_IN_ERP withdraws the
key; NO_CHANGE says nothing new. A MODIFIED result also retires the earlier results of its contract and
invoiceNo (the sale it changed had other values, so another key; assumption "reconcile-sales").

Cesce's side is the sales list filtered by ``invoiceYearMonth``; an extension (a sale with
maturityAmount, which Cesce creates, not us) is left out. "The month" is the invoice date's month on
both sides (`in_month`).

`compare` pairs the two sides: first by the whole duplicate key (the books agree on that sale); then
what is left by contract debtor and invoiceNo (the same maturityDate preferred): such a pair is a sale
whose amount, dates or currency differ (`Difference`, exact `Decimal` and `date` comparison); what is
still left is declared here but missing at Cesce, or at Cesce but never declared by us. Dead letters of
the month that the replay ledger has not replayed are unresolved (`DeadLetterSale`). The books agree
when all four lists are empty: exit status 0, else 1 (`Reconciliation.exit_status`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from workers.invoices.duplicates import DUPLICATE_KEY

__all__ = [
    "DECLARING_OUTCOMES",
    "DUPLICATE_KEY",
    "CesceSale",
    "DeadLetterSale",
    "Difference",
    "OurSale",
    "Reconciliation",
    "compare",
    "contract_problem",
    "fold_results",
    "handled_order",
    "in_month",
    "month_problem",
    "table_lines",
]

DECLARING_OUTCOMES: Final = frozenset({"DECLARED", "REJECTED_BY_POLICY", "ALREADY_DECLARED", "MODIFIED"})
"""Results that say Cesce holds the sale with the result's values."""

_MONTH: Final = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")
_CONTRACT: Final = re.compile(r"^\d{11}$")
COMPARED_FIELDS: Final = ("invoiceDate", "maturityDate", "amount", "currencyCode")


def month_problem(text: str) -> str | None:
    """Why `text` is not a month as the sales list's invoiceYearMonth filter takes it (YYYYMM); None if it is."""
    return None if _MONTH.match(text) else f"--month must be YYYYMM (e.g. 203001), got {text!r}"


def contract_problem(text: str) -> str | None:
    """Why `text` is not a Cesce contract number (11 digits); None if it is."""
    return None if _CONTRACT.match(text) else f"--contract must be the policy's 11 digits, got {text!r}"


def in_month(day: date, month: str) -> bool:
    """Whether `day` falls in `month` (YYYYMM)."""
    return f"{day.year:04d}{day.month:02d}" == month


def _debtor(endorsement_no: str | None, customer_reference: str | None) -> str:
    return f"endorsementNo {endorsement_no}" if endorsement_no else f"customerReference {customer_reference}"


@dataclass(frozen=True, slots=True)
class _Sale:
    invoice_no: str
    invoice_date: date
    maturity_date: date
    amount: Decimal
    currency_code: str | None
    endorsement_no: str | None
    customer_reference: str | None
    sale_cesce_reference_no: str | None
    status_code: str | None

    @property
    def debtor(self) -> str:
        return _debtor(self.endorsement_no, self.customer_reference)

    def value(self, name: str) -> Any:
        return {
            "invoiceDate": self.invoice_date,
            "maturityDate": self.maturity_date,
            "amount": self.amount,
            "currencyCode": self.currency_code,
        }[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "invoiceNo": self.invoice_no,
            "invoiceDate": self.invoice_date.isoformat(),
            "maturityDate": self.maturity_date.isoformat(),
            "amount": format(self.amount, "f"),
            "currencyCode": self.currency_code,
            "endorsementNo": self.endorsement_no,
            "customerReference": self.customer_reference,
            "saleCesceReferenceNo": self.sale_cesce_reference_no,
            "statusCode": self.status_code,
        }


@dataclass(frozen=True, slots=True)
class OurSale(_Sale):
    """A sale as our latest result for its key says we declared it."""

    contract_no: str = ""
    outcome: str = ""
    source: str = ""
    """``<topic>[<partition>]@<offset>`` of the result."""

    @property
    def key(self) -> tuple[str, str, date, date, str, Decimal]:
        """The guide's duplicate key, within one contract (the supplement the way the ERP named the debtor)."""
        return (self.contract_no, self.invoice_no, self.invoice_date, self.maturity_date, self.debtor, self.amount)

    @classmethod
    def from_result(cls, result: Mapping[str, Any], source: str) -> OurSale:
        """A decoded ``cesce.results.SaleResult`` (Decimal amounts, dates as dates)."""
        return cls(
            invoice_no=str(result["invoiceNo"]),
            invoice_date=result["invoiceDate"],
            maturity_date=result["maturityDate"],
            amount=Decimal(result["amount"]),
            currency_code=result.get("currencyCode"),
            endorsement_no=result.get("endorsementNo"),
            customer_reference=result.get("customerReference"),
            sale_cesce_reference_no=result.get("saleCesceReferenceNo"),
            status_code=result.get("statusCode"),
            contract_no=str(result["contractNo"]),
            outcome=str(result["outcome"]),
            source=source,
        )

    def to_json(self) -> dict[str, Any]:
        return {**_Sale.to_json(self), "outcome": self.outcome, "result": self.source}


@dataclass(frozen=True, slots=True)
class CesceSale(_Sale):
    """One row of Cesce's sales list."""

    def names(self, ours: OurSale) -> bool:
        """Whether this sale's supplement is the one `ours` names (endorsementNo or customerReference)."""
        if ours.endorsement_no:
            return self.endorsement_no == ours.endorsement_no
        return self.customer_reference is not None and self.customer_reference == ours.customer_reference

    def has_key(self, ours: OurSale) -> bool:
        """The guide's duplicate rule: the same invoiceNo, invoiceDate, maturityDate, supplement and amount."""
        return (
            self.names(ours)
            and self.invoice_no == ours.invoice_no
            and self.invoice_date == ours.invoice_date
            and self.maturity_date == ours.maturity_date
            and self.amount == ours.amount
        )


def fold_results(results: Iterable[OurSale]) -> list[OurSale]:
    """What we declared, per duplicate key, from the results in the order they were handled."""
    latest: dict[tuple[str, str, date, date, str, Decimal], OurSale] = {}
    for result in results:
        if result.outcome == "MODIFIED":
            for key in [k for k in latest if k[:2] == (result.contract_no, result.invoice_no)]:
                del latest[key]
        if result.outcome in DECLARING_OUTCOMES:
            latest.pop(result.key, None)  # re-inserted last: the listing follows the latest handling
            latest[result.key] = result
        elif result.outcome == "DELETED_IN_ERP":
            latest.pop(result.key, None)
    return list(latest.values())


@dataclass(frozen=True, slots=True)
class Difference:
    """One sale on both sides whose amount, dates or currency differ."""

    ours: OurSale
    cesce: CesceSale
    fields: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "ours": self.ours.to_json(), "cesce": self.cesce.to_json()}


@dataclass(frozen=True, slots=True)
class DeadLetterSale:
    """An unresolved dead letter of the invoices worker for the month: a sale that may never reach Cesce."""

    ref: str
    """``<dlq topic>[<partition>]@<offset>``, what ``cesce-worker dlq`` names it by."""
    invoice_no: str | None
    invoice_date: date | None
    debtor: str | None
    amount: Decimal | None
    category: str | None
    code: str | None
    description: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "deadLetter": self.ref,
            "invoiceNo": self.invoice_no,
            "invoiceDate": None if self.invoice_date is None else self.invoice_date.isoformat(),
            "debtor": self.debtor,
            "amount": None if self.amount is None else format(self.amount, "f"),
            "category": self.category,
            "code": self.code,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The books of one contract and month, side by side."""

    contract_no: str
    month: str
    matched: int
    missing_at_cesce: list[OurSale]
    not_declared: list[CesceSale]
    differing: list[Difference]
    dead_letters: list[DeadLetterSale] = field(default_factory=list)
    unreadable_dead_letters: list[str] = field(default_factory=list)
    """Unresolved dead letters whose value is not an invoice change (their month is unknown): shown, not counted."""

    @property
    def agrees(self) -> bool:
        return not (self.missing_at_cesce or self.not_declared or self.differing or self.dead_letters)

    @property
    def exit_status(self) -> int:
        """0 when the books agree, 1 when they differ."""
        return 0 if self.agrees else 1

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (its shape is documented in docs/operations.md)."""
        return {
            "contractNo": self.contract_no,
            "month": self.month,
            "agrees": self.agrees,
            "counts": {
                "matched": self.matched,
                "missingAtCesce": len(self.missing_at_cesce),
                "notDeclared": len(self.not_declared),
                "differing": len(self.differing),
                "deadLetters": len(self.dead_letters),
            },
            "missingAtCesce": [sale.to_json() for sale in self.missing_at_cesce],
            "notDeclared": [sale.to_json() for sale in self.not_declared],
            "differing": [difference.to_json() for difference in self.differing],
            "deadLetters": [letter.to_json() for letter in self.dead_letters],
            "unreadableDeadLetters": list(self.unreadable_dead_letters),
        }


def _differences(ours: OurSale, cesce: CesceSale) -> tuple[str, ...]:
    found = []
    for name in COMPARED_FIELDS:
        mine, theirs = ours.value(name), cesce.value(name)
        if name == "currencyCode" and (mine is None or theirs is None):
            continue  # a currency left out is the policy's: nothing to compare
        if mine != theirs:
            found.append(name)
    return tuple(found)


def compare(
    contract_no: str,
    month: str,
    ours: Sequence[OurSale],
    cesce: Sequence[CesceSale],
    *,
    dead_letters: Sequence[DeadLetterSale] = (),
    unreadable_dead_letters: Sequence[str] = (),
) -> Reconciliation:
    """Both sides of the month, already narrowed to it (`in_month`), paired as the module docstring says."""
    left = list(cesce)
    unmatched: list[OurSale] = []
    matched = 0
    for sale in ours:
        twin = next((c for c in left if c.has_key(sale)), None)
        if twin is None:
            unmatched.append(sale)
        else:
            left.remove(twin)
            matched += 1
    differing: list[Difference] = []
    missing: list[OurSale] = []
    for sale in unmatched:
        candidates = [c for c in left if c.names(sale) and c.invoice_no == sale.invoice_no]
        same_due = [c for c in candidates if c.maturity_date == sale.maturity_date]
        chosen = same_due or candidates
        if len(chosen) == 1:
            left.remove(chosen[0])
            differing.append(Difference(sale, chosen[0], _differences(sale, chosen[0])))
        else:
            missing.append(sale)
    return Reconciliation(
        contract_no=contract_no,
        month=month,
        matched=matched,
        missing_at_cesce=missing,
        not_declared=left,
        differing=differing,
        dead_letters=list(dead_letters),
        unreadable_dead_letters=list(unreadable_dead_letters),
    )


def handled_order(handled_at: datetime | None, partition: int, offset: int) -> tuple[float, int, int]:
    """The sort key that puts results in the order the worker handled them."""
    return (handled_at.timestamp() if handled_at is not None else 0.0, partition, offset)


# --- the table for people ------------------------------------------------------------------------

_RIGHT: Final = frozenset({"amount", "ours", "cesce"})


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns two spaces apart, amounts right-aligned (like the other ops commands' tables)."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if columns[i] in _RIGHT else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    return ["  " + line(columns), *("  " + line(r) for r in rows)]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _sale_row(sale: _Sale) -> list[str]:
    return [
        sale.invoice_no,
        _text(sale.invoice_date),
        _text(sale.maturity_date),
        _text(sale.amount),
        _text(sale.currency_code),
        sale.debtor,
    ]


_SALE_COLUMNS: Final = ("invoiceNo", "invoiceDate", "maturityDate", "amount", "currency", "debtor")


def table_lines(books: Reconciliation) -> list[str]:
    """What ``reconcile sales`` prints for people: a verdict line, then one table per kind of difference."""
    verdict = "AGREE" if books.agrees else "DIFFER"
    lines = [
        f"Books of contract {books.contract_no} for {books.month}: {verdict} ({books.matched} matched, "
        f"{len(books.missing_at_cesce)} missing at Cesce, {len(books.not_declared)} not declared by us, "
        f"{len(books.differing)} differing, {len(books.dead_letters)} unresolved dead letter(s))"
    ]
    if books.missing_at_cesce:
        lines += ["", "Declared here, missing at Cesce:"]
        rows = [[*_sale_row(s), s.outcome, s.source] for s in books.missing_at_cesce]
        lines += _table([*_SALE_COLUMNS, "outcome", "result"], rows)
    if books.not_declared:
        lines += ["", "At Cesce, never declared by us:"]
        rows = [[*_sale_row(s), _text(s.sale_cesce_reference_no), _text(s.status_code)] for s in books.not_declared]
        lines += _table([*_SALE_COLUMNS, "saleCesceReferenceNo", "statusCode"], rows)
    if books.differing:
        lines += ["", "Amounts or dates that differ:"]
        rows = [
            [d.ours.invoice_no, d.ours.debtor, name, _text(d.ours.value(name)), _text(d.cesce.value(name))]
            for d in books.differing
            for name in d.fields
        ]
        lines += _table(["invoiceNo", "debtor", "field", "ours", "cesce"], rows)
    if books.dead_letters:
        lines += ["", "Dead letters still unresolved (cesce-worker dlq show|replay):"]
        rows = [
            [
                d.ref,
                _text(d.invoice_no),
                _text(d.invoice_date),
                _text(d.amount),
                _text(d.debtor),
                _text(d.code),
                _text(d.description),
            ]
            for d in books.dead_letters
        ]
        lines += _table(["deadLetter", "invoiceNo", "invoiceDate", "amount", "debtor", "code", "description"], rows)
    if books.unreadable_dead_letters:
        lines += [
            "",
            f"{len(books.unreadable_dead_letters)} unresolved dead letter(s) are not invoice changes (month unknown, "
            "not counted): " + ", ".join(books.unreadable_dead_letters),
        ]
    return lines
