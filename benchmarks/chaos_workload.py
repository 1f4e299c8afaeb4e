"""The chaos run's ERP: its inputs (sales, and credit notes for a debtor's open balance) and the thread producing them.

`make_invoices` draws the inputs from the plan's seed, each debtor's in order and the debtors interleaved;
`Feed` produces them to ``erp.invoices`` at the plan's rate, keyed by debtor, and notes where each landed
(a `Delivery`).
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from confluent_kafka import Producer

from benchmarks.chaos_report import INPUT, ChaosPlan, Delivery
from benchmarks.observer import position
from benchmarks.services import bench_debtor, invoice_envelope

__all__ = ["Feed", "Invoice", "make_invoices"]


@dataclass(frozen=True, slots=True)
class Invoice:
    """One ERP change: a sale, or (a negative amount) a credit note."""

    index: int
    """Its place in the production order."""
    debtor: str
    seq: int
    """1, 2, ...: its place among its debtor's changes."""
    invoice_no: str
    amount: Decimal
    value: bytes
    """The Debezium-style JSON envelope, op ``c``."""

    @property
    def credit_note(self) -> bool:
        return self.amount < 0

    def label(self) -> str:
        kind = "credit note" if self.credit_note else "sale"
        return f"{self.debtor} #{self.seq} {self.invoice_no} ({kind} {self.amount})"


def _debtor_changes(plan: ChaosPlan, debtor: int, sales: int, rng: random.Random) -> list[Decimal]:
    """A debtor's amounts in order: its sales and, for every `credit_debtor_every`-th debtor, a credit note for
    its whole open balance after every `credit_note_after` sales."""
    amounts: list[Decimal] = []
    open_balance = Decimal(0)
    for sale in range(1, sales + 1):
        amount = Decimal(rng.randint(10_000, 999_999)).scaleb(-2)  # 100.00 to 9,999.99, exact cents
        amounts.append(amount)
        open_balance += amount
        if debtor % plan.credit_debtor_every == 0 and sale % plan.credit_note_after == 0:
            amounts.append(-open_balance)
            open_balance = Decimal(0)
    return amounts


def make_invoices(plan: ChaosPlan, tag: str) -> list[Invoice]:
    """The run's inputs in production order: round r holds every debtor's r-th change, debtors shuffled.

    Interleaving is the hard case for key order (a debtor's changes are far apart, its neighbours are
    other keys). `tag` (4 characters) makes the invoice numbers this run's own: ``<tag>-<debtor>-<seq>``.
    """
    rng = random.Random(f"{plan.seed}:invoices")  # noqa: S311 - reproducible data, not security
    per_debtor = [plan.invoices // plan.debtors + (d < plan.invoices % plan.debtors) for d in range(plan.debtors)]
    changes = [_debtor_changes(plan, d, n, rng) for d, n in enumerate(per_debtor)]
    order: list[tuple[int, int]] = []
    for r in range(max(len(c) for c in changes)):
        debtors = [d for d in range(plan.debtors) if len(changes[d]) > r]
        rng.shuffle(debtors)
        order.extend((d, r) for d in debtors)
    today = date.today()
    invoices = []
    for index, (d, r) in enumerate(order):
        debtor, number = bench_debtor(d), f"{tag}-{d + 1:04d}-{r + 1:04d}"
        amount = changes[d][r]
        value = invoice_envelope(debtor, number, amount, today=today, connector="chaos")
        invoices.append(Invoice(index, debtor, r + 1, number, amount, value))
    return invoices


# ---------------------------------------------------------------------------------------------
# The producer


class Feed(threading.Thread):
    """The ERP: produces the inputs at the plan's rate, keyed by debtor, and notes where each landed."""

    def __init__(self, bootstrap: str, invoices: Sequence[Invoice], rate: float, clock: Callable[[], float]) -> None:
        super().__init__(name="chaos-feed", daemon=True)
        self._config = {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",  # Java's, as Debezium's producer and `cesce-worker produce`
            "enable.idempotence": True,
            "linger.ms": 5,
        }
        self.invoices = invoices
        self._rate = rate
        self._clock = clock
        self._produced_at: dict[int, float] = {}
        self.deliveries: dict[int, Delivery] = {}
        self.produced = 0
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.error: str | None = None

    def _delivered(self, index: int, error: Any, message: Any) -> None:
        if error is not None:
            self.error = f"producing input {index} failed: {error}"
            return
        _, partition, offset = position(message)
        self.deliveries[index] = Delivery(partition, offset, self._produced_at[index])

    def run(self) -> None:
        # the producer lives in this thread only, and is gone when it ends (before the broker stops)
        producer = Producer(self._config)
        try:
            start = self._clock()
            for invoice in self.invoices:
                while (wait := start + invoice.index / self._rate - self._clock()) > 0:
                    if self.stopping.wait(min(wait, 0.05)):
                        return
                    producer.poll(0)
                self._produced_at[invoice.index] = self._clock()
                producer.produce(
                    INPUT,
                    key=invoice.debtor.encode(),
                    value=invoice.value,
                    on_delivery=functools.partial(self._delivered, invoice.index),
                )
                self.produced += 1
                producer.poll(0)
            if producer.flush(60):
                self.error = "the inputs were not all delivered within 60 s"
        except Exception as exc:  # reported by the conductor, which stops the run
            self.error = f"the feed failed: {exc!r}"
        finally:
            producer.flush(5)
            self.done.set()
