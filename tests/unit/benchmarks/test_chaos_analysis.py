"""The chaos harness's inputs and figures (`benchmarks.chaos_workload`, `benchmarks.chaos_report`), on made-up
runs: no sockets.

The harness is only as good as what it can see, so each finding it reports is shown here on a run
where it happened: a duplicate result (defect 8 of issue 15), a lost input, a transient dead letter,
results out of order, a sale declared twice or recorded out of order by Cesce, a truncated partition.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from benchmarks.chaos_outputs import Origins
from benchmarks.chaos_report import (
    BY_DEBTOR,
    DLQ,
    INPUT,
    RESULTS,
    ChaosPlan,
    Delivery,
    Output,
    analyse,
    broken_guarantees,
    size_check,
)
from benchmarks.chaos_workload import Invoice, make_invoices
from workers.cesce.codecs import encode_amount

PLAN = ChaosPlan(invoices=40, debtors=5, credit_debtor_every=2, credit_note_after=3)


def test_the_inputs_are_the_seeds_and_credit_notes_net_each_debtors_open_balance() -> None:
    invoices = make_invoices(PLAN, "T001")
    assert invoices == make_invoices(PLAN, "T001")
    assert make_invoices(ChaosPlan(invoices=40, debtors=5, seed=1), "T001") != invoices
    sales = [i for i in invoices if not i.credit_note]
    notes = [i for i in invoices if i.credit_note]
    assert len(sales) == 40
    assert len(notes) == 3 * (8 // 3)  # debtors 0, 2, 4 (every second), after their 3rd and 6th sale
    assert [i.index for i in invoices] == list(range(len(invoices)))
    assert len({i.invoice_no for i in invoices}) == len(invoices)
    per_debtor: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        per_debtor[invoice.debtor].append(invoice)
        assert invoice.amount == invoice.amount.quantize(Decimal("0.01"))
        row = json.loads(invoice.value)["after"]
        assert (row["invoiceNo"], Decimal(row["amount"]), row["customerReference"]) == (
            invoice.invoice_no,
            invoice.amount,
            invoice.debtor,
        )
    for changes in per_debtor.values():
        assert [c.seq for c in changes] == list(range(1, len(changes) + 1))  # produced in the debtor's order
        open_balance = Decimal(0)
        for change in changes:
            if change.credit_note:  # refused by Cesce if any sale since the previous one were not declared yet
                assert change.amount == -open_balance
                open_balance = Decimal(0)
            else:
                open_balance += change.amount


def test_a_plan_is_sized_for_the_embedded_brokers_partitions() -> None:
    full = size_check(ChaosPlan(), make_invoices(ChaosPlan(), "T002"))
    assert full["fits"]
    assert full["estimated_partition_bytes"] < 0.5 * full["limit_bytes"]
    huge = ChaosPlan(invoices=60_000, debtors=500)
    assert not size_check(huge, make_invoices(huge, "T003"))["fits"]


class Run:
    """A made-up run: every input produced to partition p = index % 4, and the outputs chosen by a test."""

    def __init__(self) -> None:
        self.invoices = make_invoices(PLAN, "T004")
        self.deliveries = {i.index: Delivery(i.index % 4, i.index // 4, produced=float(i.index)) for i in self.invoices}
        self.outputs: list[Output] = []
        self._next_offset: dict[tuple[str, int], int] = defaultdict(int)

    def where(self, invoice: Invoice) -> tuple[str, int, int]:
        delivery = self.deliveries[invoice.index]
        return INPUT, delivery.partition, delivery.offset

    def result(
        self, invoice: Invoice, outcome: str = "DECLARED", at: float | None = None, names: Invoice | None = None
    ) -> Output:
        """A result of `invoice`; its sourceTopic/sourcePartition/sourceOffset name `names` (default: itself)."""
        topic, partition, offset = self.where(names or invoice)
        value: dict[str, Any] = {"outcome": outcome, "invoiceNo": invoice.invoice_no, "debtor": invoice.debtor}
        value |= {"amount": str(invoice.amount), "sourceTopic": topic}
        value |= {"sourcePartition": partition, "sourceOffset": offset}
        return self._add(RESULTS, invoice, json.dumps(value).encode(), None, at)

    def dead_letter(self, invoice: Invoice, category: str) -> Output:
        return self._add(DLQ, invoice, invoice.value, category, None)

    def _add(self, topic: str, invoice: Invoice, value: bytes, category: str | None, at: float | None) -> Output:
        partition = int(invoice.debtor[-1]) % 4  # one results partition per debtor, as keyed
        offset = self._next_offset[(topic, partition)]
        self._next_offset[(topic, partition)] += 1
        arrived = at if at is not None else self.deliveries[invoice.index].produced + 2.0
        output = Output(topic, partition, offset, invoice.debtor, self.where(invoice), category, value, 100, arrived)
        self.outputs.append(output)
        return output

    def everything_declared(self, skip: Sequence[Invoice] = ()) -> None:
        for invoice in self.invoices:
            if invoice not in skip:
                self.result(invoice)

    def ledger(self, order: Sequence[Invoice] | None = None, twice: Sequence[Invoice] = ()) -> dict[str, Any]:
        sales = [
            {
                "invoiceNo": i.invoice_no,
                "currencyAmount": encode_amount(i.amount),
                "saleCesceReferenceNo": str(200000000000 + i.index),
            }
            for i in (order if order is not None else self.invoices)
        ]
        keys = [{"invoiceNo": i.invoice_no, "debtor": i.debtor, "count": 2 if i in twice else 1} for i in self.invoices]
        return {"sales": sales, "byDuplicateKey": keys, "duplicateAttempts": 3}

    def analyse(self, ledger: Mapping[str, Any] | None = None, outage_end: float | None = None) -> Any:
        return analyse(
            self.invoices,
            self.deliveries,
            self.outputs,
            ledger if ledger is not None else self.ledger(),
            json.loads,
            outage_end=outage_end,
        )


def test_a_clean_run_breaks_no_guarantee_and_measures_lag_and_recovery() -> None:
    run = Run()
    run.everything_declared()
    figures = run.analyse(outage_end=20.5)
    assert broken_guarantees(figures) == []
    assert (figures.inputs, figures.results, figures.dead_letters, figures.lost) == (len(run.invoices), 46, 0, 0)
    assert figures.outcomes == {"DECLARED": 46}
    assert figures.ledger_sales == 46
    assert figures.duplicate_attempts == 3
    assert figures.lag_peak_seconds == figures.lag_p50_seconds == 2.0  # every result 2 s after its input
    assert figures.recovery_seconds == pytest.approx(0.5)  # the input produced at 19 s is answered at 21 s
    assert figures.outage_backlog == 2  # produced at 19 and 20 s, answered at 21 and 22 s
    assert figures.caught_up_seconds == pytest.approx(1.5)


def test_an_input_published_twice_is_a_duplicate_with_both_positions() -> None:
    run = Run()
    run.everything_declared()
    victim = run.invoices[7]
    first = next(o for o in run.outputs if o.source == run.where(victim))
    again = run.result(victim, "ALREADY_DECLARED", at=99.0)
    figures = run.analyse()
    assert (figures.duplicate_results, figures.duplicate_copies) == (1, 1)
    assert figures.order_violations == 0  # the first copy is in order; the second is the duplicate
    assert broken_guarantees(figures) == ["1 inputs with more than one output (1 extra copies)"]
    (example,) = figures.examples["duplicate results"]
    _, partition, offset = run.where(victim)
    assert example.startswith(f"{INPUT}[{partition}]@{offset} {victim.debtor} #{victim.seq}")
    assert f"{first.where()} DECLARED" in example
    assert f"{again.where()} ALREADY_DECLARED at 99.0 s" in example


def test_lost_inputs_transient_dead_letters_and_strangers_are_reported() -> None:
    run = Run()
    lost, transient = run.invoices[3], run.invoices[11]
    run.everything_declared(skip=[lost, transient])
    run.dead_letter(transient, "transient")
    stray = Output(RESULTS, 0, 999, "X", (INPUT, 3, 12345), None, b"{}", 10, 1.0)
    run.outputs.append(stray)
    ledger = run.ledger(order=[i for i in run.invoices if i is not lost])
    figures = run.analyse(ledger)
    assert figures.lost == 1
    assert figures.dead_letters_by_category == {"transient": 1}
    assert figures.missing_sales == 1
    assert figures.stray_outputs == 1
    assert broken_guarantees(figures) == [
        "1 inputs lost (no result, no dead letter)",
        "1 transient dead letters",
        "1 inputs without their sale in Cesce's ledger",
        "1 outputs other than a declared sale of their input (every input is valid)",
        "1 outputs naming no input of this run",
    ]
    assert figures.examples["lost"][0].startswith(f"{INPUT}[{run.where(lost)[1]}]@{run.where(lost)[2]}")


def test_a_debtors_results_or_sales_out_of_input_order_are_violations() -> None:
    run = Run()
    debtor = run.invoices[0].debtor
    mine = [i for i in run.invoices if i.debtor == debtor]
    rest = [i for i in run.invoices if i.debtor != debtor]
    for invoice in [*rest, mine[1], mine[0], *mine[2:]]:
        run.result(invoice)
    cesce_order = [*rest, mine[0], mine[2], mine[1], *mine[3:]]
    figures = run.analyse(run.ledger(order=cesce_order, twice=[mine[4]]))
    assert figures.order_violations == 1
    assert figures.cesce_order_violations == 1
    assert figures.duplicate_sales == 1
    assert figures.examples["order violations"][0].startswith(f"{debtor}: #1 at {RESULTS}[")
    assert figures.examples["Cesce order violations"][0].startswith(f"{debtor} #2 ")
    assert broken_guarantees(figures, ["cesce.sale-results[2]"]) == [
        "1 sales declared twice in Cesce's ledger",
        "1 results out of their debtor's input order",
        "1 sales recorded by Cesce out of their debtor's input order",
        "1 partitions the broker truncated, so the run proves nothing: ['cesce.sale-results[2]']",
    ]


def test_a_result_for_another_amount_or_a_rejection_is_unexpected() -> None:
    run = Run()
    run.everything_declared(skip=run.invoices[:2])
    run.result(run.invoices[0], "REJECTED_BY_POLICY")
    value: dict[str, Any] = {"outcome": "DECLARED", "invoiceNo": run.invoices[1].invoice_no}
    value |= {"debtor": run.invoices[1].debtor, "amount": str(run.invoices[1].amount + Decimal("0.01"))}
    value |= dict(zip(("sourceTopic", "sourcePartition", "sourceOffset"), run.where(run.invoices[1]), strict=True))
    run.outputs.append(
        Output(
            RESULTS,
            1,
            500,
            run.invoices[1].debtor,
            run.where(run.invoices[1]),
            None,
            json.dumps(value).encode(),
            9,
            3.0,
        )
    )
    figures = run.analyse()
    assert figures.unexpected_outcomes == 2
    assert figures.outcomes == {"DECLARED": 45, "REJECTED_BY_POLICY": 1}
    assert len(figures.examples["unexpected outcomes"]) == 2


def test_a_result_naming_another_change_record_than_its_input_is_unexpected() -> None:
    run = Run()
    run.everything_declared(skip=run.invoices[:1])
    run.result(run.invoices[0], names=run.invoices[1])  # the re-keyed copy's position, say
    figures = run.analyse()
    assert figures.unexpected_outcomes == 1
    (example,) = figures.examples["unexpected outcomes"]
    assert f"names {run.where(run.invoices[1])} in its sourceTopic" in example


def test_outputs_naming_a_re_keyed_copy_are_carried_to_the_input_it_names_whenever_the_copy_is_read() -> None:
    origins = Origins()
    copy = Output(BY_DEBTOR, 2, 7, "BENCH-0001", (INPUT, 0, 41), None, b"{}", 10, 1.0)
    early = Output(RESULTS, 1, 3, "BENCH-0001", (BY_DEBTOR, 2, 7), None, b"{}", 10, 1.0)
    late = Output(DLQ, 0, 0, "BENCH-0001", (BY_DEBTOR, 2, 7), "business", b"{}", 10, 2.0)
    direct = Output(DLQ, 0, 1, "", (INPUT, 3, 5), "deserialization", b"x", 10, 2.0)
    stray = Output(RESULTS, 0, 9, "BENCH-0002", (BY_DEBTOR, 1, 1), None, b"{}", 10, 2.0)

    assert origins.resolve(early) is None  # its copy was not read yet
    assert origins.resolve(direct) is direct  # the re-keyer's own dead letter names the input
    (carried,) = origins.copy(copy)
    assert (carried.source, carried.via) == ((INPUT, 0, 41), (BY_DEBTOR, 2, 7))
    assert f"(answering {BY_DEBTOR}[2]@7)" in carried.where()
    resolved = origins.resolve(late)
    assert resolved is not None
    assert resolved.source == (INPUT, 0, 41)
    assert origins.resolve(stray) is None
    assert origins.unresolved() == [stray]
