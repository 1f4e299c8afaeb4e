"""What the sandbox remembers: contracts, debtors and their classifications, sales, claims.

Plain dataclasses and one `Ledger` that owns them and hands out every number the sandbox
assigns (endorsementNo, 300xxx request numbers, saleCesceReferenceNo, claimFileNo...). The
rules that read and change this state live in the modules named for them (`sales`,
`classifications`, `claims`); they are synchronous, so on the sandbox's single event loop no two
requests ever interleave between reading and writing the ledger.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from workers.cesce.assumptions import PPC_MODALITY, ClassificationStatus

__all__ = [
    "FIRST_PENDING_REQUEST_NO",
    "FIRST_SALE_REFERENCE_NO",
    "ClaimFile",
    "Classification",
    "Contract",
    "Debtor",
    "Denial",
    "Document",
    "Factoring",
    "Ledger",
    "NonPayment",
    "Sale",
    "Settings",
    "Settlement",
    "Subsidiary",
]

FIRST_PENDING_REQUEST_NO: Final = 300001  # "un nº de suplemento con formato 300xxx ... EN TRAMITE"
FIRST_SALE_REFERENCE_NO: Final = 200000000001  # 12 digits, like the reference's example "200000000002"
FIRST_CLAIM_FILE_NO: Final = 70000001
FIRST_CESCE_CODE: Final = 116220001  # 9 digits, like the reference's example "116220000"


class Factoring(StrEnum):
    """Guide 4.1: acquisitionDate only on factoring policies, taxCodeTransferor only with recourse."""

    NONE = "none"
    WITHOUT_RECOURSE = "withoutRecourse"
    WITH_RECOURSE = "withRecourse"


@dataclass(frozen=True, slots=True)
class Subsidiary:
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class Contract:
    contract_no: str
    name: str
    valid_from: date
    valid_to: date
    currency: str
    credit_note_supplement: bool
    foreign_debtors: bool
    factoring: Factoring
    modification_extra_days: int
    commercial_cover_pct: Decimal
    commercial_rate: Decimal
    political_cover_pct: Decimal
    political_rate: Decimal
    subsidiaries: tuple[Subsidiary, ...]
    endorsements_supplement: bool = False  # 000 "Venta endosada": a sale on a cancelled supplement is tariffed
    # requests above it, granted at once otherwise, wait for the insured to accept a premium (None: never)
    premium_acceptance_threshold: Decimal | None = None

    def in_force(self, today: date) -> bool:
        return self.valid_from <= today <= self.valid_to

    @property
    def ppc(self) -> bool:
        """A PPC-modality policy (assumptions "contract-modality"): its limits can be deactivated and activated."""
        return self.contract_no.startswith(PPC_MODALITY)


@dataclass(frozen=True, slots=True)
class Settings:
    auto_grant_threshold: Decimal
    pending_resolve_seconds: float | None
    sales_page_size: int
    portfolio_page_size: int
    exchange_rates: Mapping[str, Decimal]  # units of the contract currency per unit of the key


@dataclass(slots=True)
class Classification:
    """One classification record as the wire shows it; ``endorsement_no`` None for a request decided into its
    debtor's supplement and then denied (the 300xxx number is gone with it)."""

    endorsement_no: int | None
    status: ClassificationStatus
    reason: str
    requested: Decimal
    granted: Decimal
    currency: str
    payment_terms_requested: str | None
    payment_terms_granted: str | None
    request_date: date
    effective_date: date | None
    requested_at: datetime
    status_at: datetime
    premium: Decimal | None = None  # EN TRÁMITE until the insured accepts or denies this premium


@dataclass(slots=True)
class Debtor:
    """A debtor known in one contract, with its current record and at most one 300xxx request."""

    contract_no: str
    country_code: str
    tax_code: str
    customer_reference: str | None
    company_name: str | None
    cesce_code: str
    record: Classification
    supplement: bool = False  # has held a limit: its number is a supplement, new requests get 300xxx
    pending: Classification | None = None
    former_requests: set[int] = field(default_factory=set)  # request numbers that name this debtor
    ppc: bool = False  # in a PPC-modality contract: its limit in force shows activeInd
    deactivated: bool = False  # its limit in force is deactivated (PPC): it covers no sale

    @property
    def endorsement_no(self) -> int | None:
        return self.record.endorsement_no


@dataclass(slots=True)
class Denial:
    """A denied request on a debtor that already has a supplement: its limit is untouched."""

    debtor: Debtor
    record: Classification


@dataclass(slots=True)
class Sale:
    contract_no: str
    reference: str  # saleCesceReferenceNo
    endorsement_no: str | None  # as declared
    customer_reference: str | None  # as declared
    debtor_no: int | None  # the debtor's endorsementNo when the identifier named a known debtor
    subsidiary_no: str | None
    invoice_no: str
    invoice_date: date
    acquisition_date: date | None
    maturity_date: date
    amount: Decimal
    currency: str
    countervalue: Decimal
    tax_code_transferor: str | None
    status: str
    reason: str
    commercial_cover_pct: Decimal
    commercial_rate: Decimal
    commercial_premium: Decimal
    political_cover_pct: Decimal
    political_rate: Decimal
    political_premium: Decimal
    entry_date: date
    status_date: date
    modifications: int = 0
    collected: Decimal = Decimal(0)  # collectedAmount, in the contract currency
    maturity_amount: Decimal | None = None  # an extended sale's maturityAmount (000, "Prórrogas")
    extends: str | None = None  # an extended sale: the saleCesceReferenceNo of the sale it extends


@dataclass(slots=True)
class Document:
    non_payment_no: str
    code: str
    description: str
    status: str
    status_date: date


@dataclass(slots=True)
class NonPayment:
    number: str
    invoice_no: str
    invoice_date: date
    maturity_date: date
    unpaid_amount: Decimal
    currency: str
    declaration_date: date


@dataclass(slots=True)
class ClaimFile:
    number: str
    contract_no: str
    endorsement_no: int
    opening_date: date
    non_payments: list[NonPayment] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


@dataclass(slots=True)
class Settlement:
    number: str
    claim_file_no: str
    status: str
    payment_date: date | None
    principal: Decimal
    interest: Decimal
    currency: str


@dataclass(slots=True)
class Ledger:
    """Everything a scenario loads and the API changes, plus the counters the admin API reports."""

    settings: Settings
    contracts: dict[str, Contract]
    debtors: list[Debtor] = field(default_factory=list)
    denials: list[Denial] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    claim_files: list[ClaimFile] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    duplicate_attempts: int = 0
    classification_requests: int = 0
    non_payment_declarations: int = 0
    _next_endorsement: int = 1
    _next_pending: int = FIRST_PENDING_REQUEST_NO
    _next_sale: int = FIRST_SALE_REFERENCE_NO
    _next_claim_file: int = FIRST_CLAIM_FILE_NO
    _next_settlement: int = 1
    _next_cesce_code: int = FIRST_CESCE_CODE
    # indexes of `sales`, kept by add_sale / replace_sale, so a declaration costs the same at the 10,000th sale as
    # at the first (the duplicate check and the credit-note balance used to scan every sale recorded)
    _by_invoice: dict[str, list[Sale]] = field(default_factory=dict)
    _by_debtor: dict[tuple[str, int | None], list[Sale]] = field(default_factory=dict)
    _by_reference: dict[str, Sale] = field(default_factory=dict)
    _positions: dict[int, int] = field(default_factory=dict)  # id(sale) -> its index in `sales`
    # debtors that may hold a pending classification (id -> debtor, in the order they were watched): every request
    # looks at these for one that fell due, not at every debtor (`resolve_due`: 12% of the sandbox's CPU per sale
    # with 300 debtors, issue 18). A pending record is born only in a new debtor or a classification request.
    _watched: dict[int, Debtor] = field(default_factory=dict)
    # (contract, endorsementNo) and (contract, customerReference) -> the debtor last found so; checked before use,
    # since a number moves (a denial takes a request's away): a sale names its debtor in one look, not a scan of the
    # contract's debtors. Both identify one debtor at most (numbers come from the counters above; a request naming a
    # known customerReference is that debtor's, so no second debtor gets it).
    numbered: dict[tuple[str, int], Debtor] = field(default_factory=dict)
    referenced: dict[tuple[str, str], Debtor] = field(default_factory=dict)

    def add_debtor(self, debtor: Debtor) -> None:
        self.debtors.append(debtor)
        self.watch(debtor)

    def watch(self, debtor: Debtor) -> None:
        """`debtor` may hold a pending classification from now on (a request for it is being made)."""
        self._watched[id(debtor)] = debtor

    def watched(self) -> list[Debtor]:
        """The debtors that may hold a pending classification, forgetting those that hold none any more."""
        pending = ClassificationStatus.PENDING
        for key, debtor in list(self._watched.items()):
            if not any(r is not None and r.status is pending for r in (debtor.record, debtor.pending)):
                del self._watched[key]
        return list(self._watched.values())

    def new_endorsement_no(self) -> int:
        self._next_endorsement += 1
        return self._next_endorsement - 1

    def new_pending_no(self) -> int:
        self._next_pending += 1
        return self._next_pending - 1

    def new_sale_reference(self) -> str:
        self._next_sale += 1
        return f"{self._next_sale - 1:012d}"

    def new_claim_file_no(self) -> str:
        self._next_claim_file += 1
        return str(self._next_claim_file - 1)

    def new_settlement_no(self) -> str:
        self._next_settlement += 1
        return str(self._next_settlement - 1)

    def new_cesce_code(self) -> str:
        self._next_cesce_code += 1
        return str(self._next_cesce_code - 1)

    def debtors_of(self, contract_no: str) -> Iterator[Debtor]:
        return (d for d in self.debtors if d.contract_no == contract_no)

    def sales_of(self, contract_no: str) -> Iterator[Sale]:
        return (s for s in self.sales if s.contract_no == contract_no)

    def add_sale(self, sale: Sale) -> None:
        """Record `sale` (never changed in place afterwards: a modification replaces it)."""
        self.sales.append(sale)
        self._index(sale, len(self.sales) - 1)

    def replace_sale(self, old: Sale, new: Sale) -> None:
        """`new` takes `old`'s place (a modification), in the ledger's order and in every index."""
        position = self._positions.pop(id(old))
        self.sales[position] = new
        self._by_invoice[old.invoice_no].remove(old)
        self._by_debtor[(old.contract_no, old.debtor_no)].remove(old)
        self._index(new, position)

    def sales_with_invoice(self, invoice_no: str) -> list[Sale]:
        """The sales with this invoiceNo, in the ledger's order."""
        return self._by_invoice.get(invoice_no, [])

    def sales_of_debtor(self, contract_no: str, debtor_no: int | None) -> list[Sale]:
        """The debtor's sales in the contract, in the ledger's order."""
        return self._by_debtor.get((contract_no, debtor_no), [])

    def sale_by_reference(self, reference: str) -> Sale | None:
        return self._by_reference.get(reference)

    def _index(self, sale: Sale, position: int) -> None:
        positions = self._positions
        positions[id(sale)] = position
        for bucket in (
            self._by_invoice.setdefault(sale.invoice_no, []),
            self._by_debtor.setdefault((sale.contract_no, sale.debtor_no), []),
        ):
            if not bucket or positions[id(bucket[-1])] < position:
                bucket.append(sale)  # a new sale comes after every other: where insort would put it
            else:
                bisect.insort(bucket, sale, key=lambda s: positions[id(s)])
        self._by_reference[sale.reference] = sale
