"""The invoices benchmark's ERP: the topics, and the invoice changes produced (warm-up and measured).

`make_invoices` deals the measured invoices round-robin over the debtors, each debtor's numbered in
order so the checks can see the order of its results; `make_warmup` is one invoice for each of the
first debtors, produced before the clock starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from benchmarks.services import bench_debtor, invoice_envelope

__all__ = ["DLQ", "INPUT", "RESULTS", "WARMUP_DEBTORS", "Invoice", "make_invoices", "make_warmup"]

INPUT: Final = "erp.invoices"
RESULTS: Final = "cesce.sale-results"
DLQ: Final = f"{INPUT}.dlq"
WARMUP_DEBTORS: Final = 8
"""Invoices of the warm-up (one each for the first debtors): enough to join the group, fetch the
token and open connections before the clock starts; not counted."""


@dataclass(frozen=True, slots=True)
class Invoice:
    debtor: str
    invoice_no: str
    value: bytes
    """A Debezium-style JSON envelope, op ``c``, as ``workers.demo.sample`` writes them."""


def make_invoices(count: int, debtors: int, run: str) -> list[Invoice]:
    """`count` invoices dealt round-robin over `debtors`: invoice i goes to debtor i mod `debtors`.

    Interleaving is the hard case for key order (consecutive records are different keys, a key's
    records are far apart) and the one the worker's concurrency is for. The invoice number
    carries the debtor and the invoice's position among that debtor's, so order is checkable.
    """
    return [
        _invoice(i % debtors, i // debtors + 1, run, Decimal(1000 + i % 997) + Decimal("0.25")) for i in range(count)
    ]


def make_warmup(debtors: int, run: str) -> list[Invoice]:
    return [_invoice(d, 0, run, Decimal("10.00")) for d in range(min(WARMUP_DEBTORS, debtors))]


def _invoice(debtor_index: int, seq: int, run: str, amount: Decimal) -> Invoice:
    debtor = bench_debtor(debtor_index)
    invoice_no = f"{run}-{debtor_index + 1:04d}-{seq:04d}"
    value = invoice_envelope(debtor, invoice_no, amount, today=date.today(), connector="bench")
    return Invoice(debtor, invoice_no, value)
