"""Chaos for the invoices worker: replicas killed and rescaled, Cesce faulty then down; nothing lost or doubled.

    .venv/bin/python -m benchmarks.chaos_invoices [--invoices 10000] [--debtors 500] [--kills 50]
        [--outage-seconds 300] [--seed 20261206] [--rate 50] [--replicas 4] [--outage-kind errors]

**The system under test** is the product as deployed: ``cesce-worker run invoices`` processes (the
replicas) in one consumer group, each with its own ``WORKER_INSTANCE_ID`` (its pod name, kept across
restarts) and ``WORKER_HTTP_PORT=0``, at the product's settings except the two the README advises for
the mock cluster (``KAFKA_SESSION_TIMEOUT_MS=6000``, ``KAFKA_HEARTBEAT_INTERVAL_MS=500``) and the Cesce
client's timeout (``--cesce-timeout``, 2 s, so that the sandbox's held answers outlast it without
holding a key for the product's 30 s). They run on the embedded broker (``cesce-worker broker``)
against the sandbox (``cesce-worker sandbox --latency-ms 20``), both child processes
(`benchmarks.services`); every process this module starts leads its own process group, and every one
is stopped before it returns.

**The ERP** (a thread of this process) produces Debezium JSON envelopes (op ``c``) to ``erp.invoices``
at ``--rate`` per second, keyed by the debtor, each debtor's in order, debtors interleaved:
``--invoices`` sales over ``--debtors`` debtors (BENCH-0001...), and for every fourth debtor a credit
note after every fourth sale, for the debtor's whole open balance (every sale since its previous
credit note). Cesce accepts such a credit note only if each of those sales was declared before it, so
one that overtook its sale is refused, and shows.

**The chaos**, drawn from one seeded generator: Cesce faults for the whole run through the sandbox's
admin API (``--error-rate`` 10% answered 500, ``--hang-rate`` 5% answered after ``--hang-seconds``,
past the client's timeout, ``--drop-rate`` 2% connections cut after Cesce processed the call); one
Cesce outage of ``--outage-seconds`` (every call answered 500, or ``maintenance`` errorCode 18) once 30%
of the inputs have their outcome; the replicas going 1 -> ``--replicas`` a third into the outage ->
1 (SIGTERM, as a scale-down does) once the outage is over and 85% of the inputs are answered;
``--kills`` SIGKILLs of a random running replica, a fifth at random moments of the outage and the rest
at random points of the progress (each a random part of a second after its point), every killed
replica restarted under its own name 0.5 to 2 s later. A replica that exits on its own is restarted
too, and reported. The seed fixes the inputs, the sandbox's fault draws, the kill points and the
harness's choices; when each lands among the processes' own timings is the machine's, so two runs with
one seed are alike, not identical.

**Figures**, from a ``read_committed`` reader of ``cesce.sale-results`` and ``erp.invoices.dlq`` (every
output names its input in ``source.topic/partition/offset`` headers) and from the sandbox's ledger
(``GET /sandbox-admin/ledger``): inputs, results, dead letters by category, lost (an input with no
result and no dead letter), duplicate results (an input with more than one output), duplicate sales
(a duplicate-sale key counted twice in Cesce's ledger), per-debtor order violations (a debtor's results
out of its input order; and, Cesce's side, its sales recorded out of that order), the time until
results flow again after the outage, and the end-to-end lag (produced -> outcome visible).

**Guarantees**: the run exits 1 when one breaks: lost, duplicate results, duplicate sales, transient
dead letters, order violations (either side), sales missing from the ledger, any outcome other than a
declared sale (every input is valid: a dead letter of any category, or a result naming another invoice,
is a defect), or records the broker dropped (see below: the run would prove nothing). A run in which
nothing is answered for ``--stall-seconds`` (240) outside the outage and its first minute after stops
there, with each replica's ``/readyz`` and its in-flight and paused metrics recorded, and fails.

**The embedded broker's limit**: each partition of librdkafka's mock keeps only about 5 MiB or 100,000
record batches and silently drops its oldest beyond that (``rdkafka_mock.c``). The run is sized
before it starts (refused when a partition could pass 80% of it; ``--invoices`` up to about 21,000
fit) and checked after: every partition's low watermark must still be 0, and the largest partition's
bytes and offsets are reported against the limits.

The table goes to stdout; everything (figures, examples with topic/partition/offset, the chaos's
events, a timeline, each replica's exits, the workers' warnings) to ``benchmarks/results/chaos.json``.
The workers' logs are kept when a guarantee breaks (their directory is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import itertools
import json
import logging
import os
import platform
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal

import confluent_kafka
import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from benchmarks.observer import position
from benchmarks.services import BENCH_CONTRACT, Child, bench_debtor, write_scenario
from workers.cesce.codecs import decode_amount
from workers.runtime.dlq import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, MOCK_PARTITIONS
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = [
    "ChaosPlan",
    "ChaosReport",
    "Delivery",
    "Figures",
    "Invoice",
    "Output",
    "analyse",
    "main",
    "make_invoices",
    "run_chaos",
    "size_check",
    "write_report",
]

INPUT: Final = "erp.invoices"
RESULTS: Final = "cesce.sale-results"
DLQ: Final = f"{INPUT}.dlq"
REGISTRY_URL: Final = "mock://chaos"
RESULTS_FILE: Final = Path(__file__).parent / "results" / "chaos.json"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DECLARED_OUTCOMES: Final = frozenset({"DECLARED", "ALREADY_DECLARED"})

MOCK_PARTITION_BYTES: Final = 5 * 1024 * 1024
MOCK_PARTITION_BATCHES: Final = 100_000
"""librdkafka's mock keeps per partition at most this many bytes and record batches (``rdkafka_mock.c``,
``max_size`` and ``max_cnt``); beyond either it drops the oldest batches without a word."""
RECORD_OVERHEAD_BOUND: Final = 81
"""Bytes a record can cost beyond its key, value and headers: a batch header (61) if it were alone in
its batch, plus its own framing (lengths, deltas, attributes: under 20). Control records (transaction
markers) fit in it too, so ``data bytes + high watermark x 81`` bounds a partition's size."""
SIZE_BUDGET: Final = 0.8
"""A plan whose estimate passes this share of a limit is refused before it starts."""
OUTPUT_BYTES_ESTIMATE: Final = 500
"""A result's or a dead letter's bytes with its headers, and its share of a batch, generously (measured: about
320 of data per result)."""
KEY_SKEW: Final = 1.5
"""Debtors do not hash evenly over 4 partitions: the fullest gets up to this times its share."""

OUTAGE_KILL_SHARE: Final = 0.2
"""The share of the kills that land during the outage; the rest at random points of the progress."""
KILL_PROGRESS_SPAN: Final = (0.02, 0.97)
RESTART_DELAY: Final = (0.5, 2.0)
KILL_JITTER_SECONDS: Final = 1.0
OUTAGE_GRACE_SECONDS: Final = 60.0
"""After the outage, how long beyond ``--stall-seconds`` the replicas may take to answer again."""
STOP_GRACE_SECONDS: Final = 60.0
"""How long a SIGTERMed replica may take (the product drains for 20 s) before it is SIGKILLed."""
TICK_SECONDS: Final = 0.05
TIMELINE_SECONDS: Final = 5.0
PROGRESS_EVERY: Final = 6
"""A progress line every this many timeline samples (30 s)."""
EXAMPLES: Final = 10

_log = logging.getLogger("chaos")


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class ChaosPlan:
    """One chaos run; the defaults are the full size of issue 15."""

    invoices: int = 10_000
    """Sales; credit notes come on top of them."""
    debtors: int = 500
    kills: int = 50
    outage_seconds: float = 300.0
    seed: int = 20261206
    rate: float = 50.0
    """Inputs produced per second."""
    replicas: int = 4
    """The replica count at its peak: 1 -> `replicas` -> 1."""
    latency_ms: float = 20.0
    error_rate: float = 0.10
    hang_rate: float = 0.05
    hang_seconds: float = 5.0
    drop_rate: float = 0.02
    cesce_timeout_seconds: float = 2.0
    outage_kind: Literal["errors", "maintenance"] = "errors"
    outage_at: float = 0.3
    """The outage starts once this share of the inputs has its outcome."""
    scale_down_at: float = 0.85
    """The replicas go back to 1 once the outage is over and this share of the inputs has its outcome."""
    credit_debtor_every: int = 4
    credit_note_after: int = 4
    settle_seconds: float = 15.0
    """After the last outcome, how long the replicas keep running so that a late duplicate shows."""
    timeout_seconds: float = 2400.0
    stall_seconds: float = 240.0
    """Give up when no input got its outcome for this long outside the outage (and its first minute after)."""
    worker_env: tuple[tuple[str, str], ...] = ()
    """Extra environment for the replicas (``--worker-env``), e.g. to try another drain time."""

    def __post_init__(self) -> None:
        if self.invoices < 1 or self.debtors < 1 or self.debtors > self.invoices:
            raise ValueError("--invoices and --debtors must be positive, with no more debtors than invoices")
        if self.kills < 0 or self.outage_seconds < 0 or self.rate <= 0 or self.replicas < 1:
            raise ValueError("--kills and --outage-seconds must be >= 0, --rate and --replicas positive")
        if self.hang_rate and self.hang_seconds <= self.cesce_timeout_seconds:
            raise ValueError("--hang-seconds must outlast --cesce-timeout: a held answer is one the client gave up on")
        if not 0 < self.outage_at < self.scale_down_at < 1:
            raise ValueError("0 < outage_at < scale_down_at < 1")


# ---------------------------------------------------------------------------------------------
# The input


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


def _envelope(debtor: str, invoice_no: str, amount: Decimal, today: date) -> bytes:
    row = {
        "contractNo": BENCH_CONTRACT,
        "invoiceNo": invoice_no,
        "invoiceDate": today.isoformat(),
        "maturityDate": (today + timedelta(days=60)).isoformat(),
        "amount": str(amount),
        "currencyCode": "EUR",
        "customerReference": debtor,
    }
    source = {"connector": "chaos", "db": "erp", "table": "invoices"}
    return json.dumps({"before": None, "after": row, "op": "c", "ts_ms": 1763600000000, "source": source}).encode()


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
        invoices.append(Invoice(index, debtor, r + 1, number, amount, _envelope(debtor, number, amount, today)))
    return invoices


# ---------------------------------------------------------------------------------------------
# What the run observes


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an input landed, and when it was produced (seconds into the run)."""

    partition: int
    offset: int
    produced: float


@dataclass(frozen=True, slots=True)
class Output:
    """A record of the results or the dead-letter topic, as a read_committed reader saw it."""

    topic: str
    partition: int
    offset: int
    key: str
    source: tuple[str, int, int] | None
    """The input it names (``source.*`` headers, or ``dlq.original.*``)."""
    category: str | None
    """``dlq.category`` of a dead letter."""
    value: bytes
    size: int
    """Key, value and headers in bytes."""
    arrived: float
    """Seconds into the run when the reader got it."""

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def _headers(message: Message) -> dict[str, bytes]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {name: value if isinstance(value, bytes) else (value or "").encode() for name, value in pairs}


def _source(headers: Mapping[str, bytes]) -> tuple[str, int, int] | None:
    for topic, partition, offset in (
        (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET),
        ("dlq.original.topic", "dlq.original.partition", "dlq.original.offset"),
    ):
        with contextlib.suppress(KeyError, UnicodeDecodeError, ValueError):
            return headers[topic].decode(), int(headers[partition]), int(headers[offset])
    return None


def _output(message: Message, arrived: float) -> Output:
    topic, partition, offset = position(message)
    headers = _headers(message)
    key, value = message.key() or b"", message.value() or b""
    key_bytes = key if isinstance(key, bytes) else str(key).encode()
    category = headers.get("dlq.category")
    return Output(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key_bytes.decode(errors="replace"),
        source=_source(headers),
        category=category.decode(errors="replace") if category is not None else None,
        value=value,
        size=len(key_bytes) + len(value) + sum(len(name) + len(v) for name, v in headers.items()),
        arrived=arrived,
    )


# ---------------------------------------------------------------------------------------------
# The analysis: pure functions of what was produced, read and recorded


@dataclass
class Figures:
    """What the run found; `examples` holds up to ten cases of each finding, with topic/partition/offset."""

    inputs: int = 0
    sales: int = 0
    credit_notes: int = 0
    debtors: int = 0
    results: int = 0
    dead_letters: int = 0
    dead_letters_by_category: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicate_results: int = 0
    """Inputs with more than one output (results and dead letters together)."""
    duplicate_copies: int = 0
    """Outputs beyond the first of those inputs."""
    unexpected_outcomes: int = 0
    """Outputs that are not a declared sale of the input they name (every input is valid)."""
    stray_outputs: int = 0
    """Outputs naming no input of this run."""
    order_violations: int = 0
    """Results (first per input) that came after a later change of their debtor."""
    ledger_sales: int = 0
    duplicate_sales: int = 0
    duplicate_attempts: int = 0
    """Declarations Cesce refused as duplicates (redeliveries recognised: a cost, not an error)."""
    missing_sales: int = 0
    """Inputs with no sale, or a sale of another amount, in Cesce's ledger."""
    cesce_order_violations: int = 0
    """Sales recorded in Cesce's ledger after a later change of their debtor."""
    lag_peak_seconds: float | None = None
    lag_p50_seconds: float | None = None
    lag_p99_seconds: float | None = None
    outage_backlog: int | None = None
    """Inputs produced by the outage's end still without an outcome then."""
    recovery_seconds: float | None = None
    """From the outage's end to the first result visible after it."""
    caught_up_seconds: float | None = None
    """From the outage's end until every input produced before it had its outcome."""
    examples: dict[str, list[str]] = field(default_factory=dict)

    def example(self, kind: str, text: str) -> None:
        found = self.examples.setdefault(kind, [])
        if len(found) < EXAMPLES:
            found.append(text)


Decode = Callable[[bytes], Mapping[str, Any]]
"""A result's value bytes -> the decoded ``SaleResult``."""


def _by_input(
    deliveries: Mapping[int, Delivery], outputs: Sequence[Output]
) -> tuple[dict[int, list[Output]], list[Output]]:
    index_of = {(d.partition, d.offset): i for i, d in deliveries.items()}
    found: dict[int, list[Output]] = defaultdict(list)
    strays: list[Output] = []
    for output in sorted(outputs, key=lambda o: o.arrived):
        source = output.source
        index = index_of.get((source[1], source[2])) if source is not None and source[0] == INPUT else None
        if index is None:
            strays.append(output)
        else:
            found[index].append(output)
    return found, strays


def _where(invoice: Invoice, deliveries: Mapping[int, Delivery]) -> str:
    d = deliveries.get(invoice.index)
    return f"{INPUT}[{d.partition}]@{d.offset}" if d is not None else f"{INPUT} (never delivered)"


def _check_outputs(
    fig: Figures,
    invoices: Sequence[Invoice],
    deliveries: Mapping[int, Delivery],
    found: Mapping[int, Sequence[Output]],
    decode: Decode,
) -> None:
    """Lost, duplicates, dead letters by category, and each result's outcome against its input."""
    categories: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for invoice in invoices:
        outputs = found.get(invoice.index, [])
        if not outputs:
            fig.lost += 1
            fig.example("lost", f"{_where(invoice, deliveries)} {invoice.label()}: no result, no dead letter")
        if len(outputs) > 1:
            fig.duplicate_results += 1
            fig.duplicate_copies += len(outputs) - 1
        described = []
        for output in outputs:
            if output.topic == DLQ:
                categories[output.category or "?"] += 1
                fig.unexpected_outcomes += 1
                what = f"dead letter ({output.category})"
                fig.example("unexpected outcomes", f"{_where(invoice, deliveries)} {invoice.label()}: {what}")
            else:
                result = decode(output.value)
                what = str(result["outcome"])
                outcomes[what] += 1
                if what not in DECLARED_OUTCOMES or (
                    result["invoiceNo"],
                    result["debtor"],
                    Decimal(result["amount"]),
                ) != (invoice.invoice_no, invoice.debtor, invoice.amount):
                    fig.unexpected_outcomes += 1
                    fig.example(
                        "unexpected outcomes",
                        f"{_where(invoice, deliveries)} {invoice.label()}: {output.where()} {what} "
                        f"for {result['invoiceNo']} {result['amount']}",
                    )
            described.append(f"{output.where()} {what} at {output.arrived:.1f} s")
        if len(outputs) > 1:
            fig.example(
                "duplicate results", f"{_where(invoice, deliveries)} {invoice.label()} -> " + ", ".join(described)
            )
    fig.dead_letters_by_category = dict(sorted(categories.items()))
    fig.outcomes = dict(sorted(outcomes.items()))


def _check_order(fig: Figures, invoices: Sequence[Invoice], found: Mapping[int, Sequence[Output]]) -> None:
    """Each debtor's results, in the results topic's order, first copy per input: their inputs in order."""
    per_debtor: dict[str, list[tuple[int, int, Invoice]]] = defaultdict(list)
    for invoice in invoices:
        results = [o for o in found.get(invoice.index, []) if o.topic == RESULTS]
        if results:
            first = min(results, key=lambda o: (o.partition, o.offset))
            per_debtor[invoice.debtor].append((first.partition, first.offset, invoice))
    for debtor, seen in sorted(per_debtor.items()):
        if len({partition for partition, _, _ in seen}) > 1:
            fig.order_violations += 1
            fig.example("order violations", f"{debtor}: results in more than one partition of {RESULTS}")
            continue
        latest: tuple[int, int, Invoice] | None = None
        for partition, offset, invoice in sorted(seen, key=lambda s: s[1]):
            if latest is not None and invoice.seq < latest[2].seq:
                fig.order_violations += 1
                fig.example(
                    "order violations",
                    f"{debtor}: #{invoice.seq} at {RESULTS}[{partition}]@{offset} after #{latest[2].seq} "
                    f"at {RESULTS}[{latest[0]}]@{latest[1]}",
                )
            elif latest is None or invoice.seq > latest[2].seq:
                latest = (partition, offset, invoice)


def _check_ledger(fig: Figures, invoices: Sequence[Invoice], ledger: Mapping[str, Any]) -> None:
    """One sale per input, of its amount, none twice, each debtor's in input order (credit notes after sales)."""
    by_number = {i.invoice_no: i for i in invoices}
    ours = [s for s in ledger.get("sales", []) if s.get("invoiceNo") in by_number]
    fig.ledger_sales = len(ours)
    fig.duplicate_attempts = int(ledger.get("duplicateAttempts", 0))
    for entry in ledger.get("byDuplicateKey", []):
        if entry.get("invoiceNo") in by_number and int(entry["count"]) > 1:
            fig.duplicate_sales += 1
            fig.example("duplicate sales", f"{entry['invoiceNo']} ({entry['debtor']}) declared {entry['count']} times")
    recorded: dict[str, list[Decimal]] = defaultdict(list)
    latest: dict[str, Invoice] = {}
    for sale in ours:
        invoice = by_number[sale["invoiceNo"]]
        recorded[invoice.invoice_no].append(decode_amount(sale["currencyAmount"]))
        before = latest.get(invoice.debtor)
        if before is not None and invoice.seq < before.seq:
            fig.cesce_order_violations += 1
            fig.example(
                "Cesce order violations",
                f"{invoice.label()} recorded (sale {sale['saleCesceReferenceNo']}) "
                f"after #{before.seq} {before.invoice_no}",
            )
        elif before is None or invoice.seq > before.seq:
            latest[invoice.debtor] = invoice
    for invoice in invoices:
        if invoice.amount not in recorded.get(invoice.invoice_no, []):
            fig.missing_sales += 1
            fig.example("missing sales", f"{invoice.label()}: Cesce has {recorded.get(invoice.invoice_no, [])}")


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def _check_time(
    fig: Figures,
    invoices: Sequence[Invoice],
    deliveries: Mapping[int, Delivery],
    found: Mapping[int, Sequence[Output]],
    outage_end: float | None,
) -> None:
    """End-to-end lag (produced -> first outcome visible) and the recovery after the outage."""
    lags: list[tuple[float, Invoice]] = []
    for invoice in invoices:
        delivery, outputs = deliveries.get(invoice.index), found.get(invoice.index)
        if delivery is not None and outputs:
            lags.append((min(o.arrived for o in outputs) - delivery.produced, invoice))
    if lags:
        values = [lag for lag, _ in lags]
        peak, worst = max(lags, key=lambda pair: pair[0])
        fig.lag_peak_seconds = round(peak, 2)
        fig.lag_p50_seconds = round(_percentile(values, 0.5), 2)
        fig.lag_p99_seconds = round(_percentile(values, 0.99), 2)
        fig.example("peak lag", f"{_where(worst, deliveries)} {worst.label()}: {peak:.1f} s")
    if outage_end is None:
        return
    after = [o.arrived for outputs in found.values() for o in outputs if o.topic == RESULTS and o.arrived > outage_end]
    fig.recovery_seconds = round(min(after) - outage_end, 2) if after else None
    before = [i for i in invoices if (d := deliveries.get(i.index)) is not None and d.produced <= outage_end]
    firsts = [min((o.arrived for o in found.get(i.index, [])), default=None) for i in before]
    fig.outage_backlog = sum(first is None or first > outage_end for first in firsts)
    if before and all(first is not None for first in firsts):
        fig.caught_up_seconds = round(max(0.0, max(f for f in firsts if f is not None) - outage_end), 2)


def analyse(
    invoices: Sequence[Invoice],
    deliveries: Mapping[int, Delivery],
    outputs: Sequence[Output],
    ledger: Mapping[str, Any],
    decode: Decode,
    *,
    outage_end: float | None = None,
) -> Figures:
    """Every figure of the run from what was produced, what a read_committed reader saw and Cesce's ledger."""
    fig = Figures(
        inputs=len(invoices),
        sales=sum(not i.credit_note for i in invoices),
        credit_notes=sum(i.credit_note for i in invoices),
        debtors=len({i.debtor for i in invoices}),
        results=sum(o.topic == RESULTS for o in outputs),
        dead_letters=sum(o.topic == DLQ for o in outputs),
    )
    found, strays = _by_input(deliveries, outputs)
    fig.stray_outputs = len(strays)
    for stray in strays:
        fig.example("stray outputs", f"{stray.where()} names {stray.source}, no input of this run")
    _check_outputs(fig, invoices, deliveries, found, decode)
    _check_order(fig, invoices, found)
    _check_ledger(fig, invoices, ledger)
    _check_time(fig, invoices, deliveries, found, outage_end)
    return fig


def broken_guarantees(fig: Figures, dropped_partitions: Sequence[str] = ()) -> list[str]:
    """The guarantees the figures break, one sentence each; empty when every one holds."""
    checks = [
        (fig.lost, "inputs lost (no result, no dead letter)"),
        (fig.duplicate_results, f"inputs with more than one output ({fig.duplicate_copies} extra copies)"),
        (fig.duplicate_sales, "sales declared twice in Cesce's ledger"),
        (fig.dead_letters_by_category.get("transient", 0), "transient dead letters"),
        (fig.order_violations, "results out of their debtor's input order"),
        (fig.cesce_order_violations, "sales recorded by Cesce out of their debtor's input order"),
        (fig.missing_sales, "inputs without their sale in Cesce's ledger"),
        (fig.unexpected_outcomes, "outputs other than a declared sale of their input (every input is valid)"),
        (fig.stray_outputs, "outputs naming no input of this run"),
        (len(dropped_partitions), f"partitions the broker truncated, so the run proves nothing: {dropped_partitions}"),
    ]
    return [f"{count} {what}" for count, what in checks if count]


# ---------------------------------------------------------------------------------------------
# The embedded broker's limit


@dataclass(frozen=True, slots=True)
class PartitionUse:
    topic: str
    partition: int
    low: int
    high: int
    records: int
    data_bytes: int

    @property
    def bytes_bound(self) -> int:
        return self.data_bytes + self.high * RECORD_OVERHEAD_BOUND

    def name(self) -> str:
        return f"{self.topic}[{self.partition}]"


def size_check(plan: ChaosPlan, invoices: Sequence[Invoice]) -> dict[str, Any]:
    """The fullest partition the plan can make, against the mock's limits; `fits` False to refuse it."""
    per_partition = KEY_SKEW / MOCK_PARTITIONS
    input_bytes = sum(len(i.value) + len(i.debtor) + RECORD_OVERHEAD_BOUND for i in invoices) * per_partition
    output_bytes = len(invoices) * OUTPUT_BYTES_ESTIMATE * per_partition
    bound = max(input_bytes, output_bytes)
    batches = len(invoices) * per_partition * 2  # every record its own batch, and as many markers
    return {
        "estimated_partition_bytes": round(bound),
        "estimated_partition_batches": round(batches),
        "limit_bytes": MOCK_PARTITION_BYTES,
        "limit_batches": MOCK_PARTITION_BATCHES,
        "fits": bound <= SIZE_BUDGET * MOCK_PARTITION_BYTES and batches <= SIZE_BUDGET * MOCK_PARTITION_BATCHES,
    }


def _partition_uses(
    bootstrap: str, invoices: Sequence[Invoice], deliveries: Mapping[int, Delivery], outputs: Sequence[Output]
) -> list[PartitionUse]:
    data: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for invoice in invoices:
        delivery = deliveries.get(invoice.index)
        if delivery is not None:
            entry = data[(INPUT, delivery.partition)]
            entry[0] += 1
            entry[1] += len(invoice.value) + len(invoice.debtor)
    for output in outputs:
        entry = data[(output.topic, output.partition)]
        entry[0] += 1
        entry[1] += output.size
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-sizes", "enable.auto.commit": False})
    try:
        topics = consumer.list_topics(timeout=10).topics
        uses = []
        for topic in (INPUT, RESULTS, DLQ):
            if topic not in topics:
                continue
            for partition in sorted(topics[topic].partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                records, data_bytes = data.get((topic, partition), [0, 0])
                uses.append(PartitionUse(topic, partition, low, high, records, data_bytes))
        return uses
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# The processes


@dataclass
class _Process:
    instance: str
    number: int
    popen: subprocess.Popen[bytes]
    log: Path
    started: float
    how: str | None = None
    """Why it ended: ``killed``, ``scaled down``, ``final stop``; None while it runs or if it exited by itself."""
    signalled: float | None = None
    ended: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "incarnation": self.number,
            "pid": self.popen.pid,
            "started": round(self.started, 2),
            "ended": round(self.ended, 2) if self.ended is not None else None,
            "how": self.how or "exited by itself",
            "exit_code": self.popen.returncode,
            "seconds_to_stop": round(self.ended - self.signalled, 2)
            if self.ended is not None and self.signalled is not None and self.how != "killed"
            else None,
        }


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group the child leads (start_new_session); never reaped yet, so the id is its own."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signum)


_HEALTH_URL: Final = re.compile(r"health and metrics on http://[^:\s]+:(\d+)")
_OWN_VARIABLES: Final = re.compile(
    r"^(KAFKA_|WORKER_|CESCE_|SCHEMA_REGISTRY_|OTEL_|INVOICES_TOPIC$|SALE_RESULTS_TOPIC$)"
)


class Fleet:
    """The replicas: ``cesce-worker run invoices`` processes, each the leader of its own process group."""

    def __init__(self, env: Mapping[str, str], logs: Path, clock: Callable[[], float]) -> None:
        inherited = {k: v for k, v in os.environ.items() if not _OWN_VARIABLES.match(k)}
        self._env = {**inherited, **env}
        self._logs = logs
        self._clock = clock
        self._live: dict[str, _Process] = {}
        self.history: list[_Process] = []

    def start(self, instance: str) -> None:
        number = sum(p.instance == instance for p in self.history) + 1
        log = self._logs / f"{instance}-{number:02d}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "run", "invoices"],
                env={**self._env, "WORKER_INSTANCE_ID": instance},
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = _Process(instance, number, popen, log, self._clock())
        self._live[instance] = process
        self.history.append(process)

    def running(self) -> list[str]:
        """Instances with a process that is neither exiting nor being stopped."""
        return sorted(i for i, p in self._live.items() if p.how is None and p.popen.poll() is None)

    def live(self) -> list[str]:
        return sorted(self._live)

    def probe(self, instance: str) -> dict[str, Any]:
        """What a live replica says of itself: ``/readyz`` and a few metrics (its port is in its log)."""
        process = self._live.get(instance)
        if process is None:
            return {"instance": instance, "state": "not running"}
        found = _HEALTH_URL.search(process.log.read_text(errors="replace"))
        if found is None:
            return {"instance": instance, "state": "no health endpoint logged yet"}
        url = f"http://127.0.0.1:{found.group(1)}"
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5)
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            return {"instance": instance, "state": f"unreachable: {exc!r}"}
        wanted = ("cesce_worker_in_flight", "cesce_worker_paused", "cesce_worker_lag")
        return {
            "instance": instance,
            "readyz": ready.status_code,
            "checks": ready.json().get("checks")
            if ready.headers.get("content-type", "").startswith("application/json")
            else None,
            "metrics": [line for line in metrics.splitlines() if line.startswith(wanted)],
        }

    def kill(self, instance: str) -> None:
        process = self._live.pop(instance)
        process.how, process.signalled = "killed", self._clock()
        _signal_group(process.popen, signal.SIGKILL)
        process.popen.wait(30)
        process.ended = self._clock()

    def terminate(self, instance: str, how: str) -> None:
        process = self._live[instance]
        process.how, process.signalled = how, self._clock()
        _signal_group(process.popen, signal.SIGTERM)

    def reap(self) -> list[_Process]:
        """The processes that exited since the last call (SIGTERMed ones SIGKILLed past their grace)."""
        gone = []
        now = self._clock()
        for instance, process in list(self._live.items()):
            if process.popen.poll() is None:
                if process.signalled is not None and now - process.signalled > STOP_GRACE_SECONDS:
                    process.how = f"{process.how}, SIGKILLed after {STOP_GRACE_SECONDS:.0f} s"
                    _signal_group(process.popen, signal.SIGKILL)
                    process.popen.wait(30)
                else:
                    continue
            process.ended = now
            del self._live[instance]
            gone.append(process)
        return gone

    def stop_all(self) -> None:
        """SIGTERM every live replica and wait for each, up to the grace, then SIGKILL."""
        for instance in self.live():
            if self._live[instance].signalled is None:
                self.terminate(instance, "final stop")
        while self._live:
            self.reap()
            time.sleep(TICK_SECONDS)

    def close(self) -> None:
        """SIGKILL whatever still runs (an interrupted run); idempotent."""
        for process in self._live.values():
            _signal_group(process.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(30)
            process.ended = self._clock()
        self._live.clear()


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


class Tap:
    """A read_committed reader of the results and the dead letters from their first offset, in a thread."""

    def __init__(self, bootstrap: str, clock: Callable[[], float]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "chaos-observer",  # never joined: partitions are assigned
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
            }
            | dict(MOCK_CLIENT_CONFIG)
        )
        self._clock = clock
        self._waiting = {RESULTS, DLQ}
        self._checked = -1.0
        self._assigned: list[TopicPartition] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-tap", daemon=True)
        self.outputs: list[Output] = []
        self.answered: set[tuple[int, int]] = set()
        """(partition, offset) of the inputs with an output so far."""
        self.error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _assign_new_topics(self, force: bool = False) -> None:
        now = self._clock()
        if not self._waiting or (not force and now - self._checked < 0.5):
            return
        self._checked = now
        existing = self._consumer.list_topics(timeout=10).topics
        for topic in sorted(self._waiting & set(existing)):
            partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(existing[topic].partitions)]
            self._consumer.incremental_assign(partitions)
            self._assigned.extend(partitions)
            self._waiting.discard(topic)

    def _consume(self) -> int:
        batch = self._consumer.consume(1000, 0.1)
        now = self._clock()
        for message in batch:
            if message.error() is None:
                output = _output(message, now)
                self.outputs.append(output)
                if output.source is not None and output.source[0] == INPUT:
                    self.answered.add((output.source[1], output.source[2]))
        return len(batch)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._assign_new_topics()
                self._consume()
        except Exception as exc:
            self.error = f"the reader failed: {exc!r}"

    def read_to_end(self, quiet_seconds: float = 5.0, timeout: float = 120.0) -> None:
        """Stop the thread, then read on (the producers are gone) until every assigned partition is read to its
        high watermark, or nothing came for `quiet_seconds` (a partition may end with transaction markers,
        which a reader never receives)."""
        self._stop.set()
        self._thread.join(30)
        self._assign_new_topics(force=True)
        ends = {
            (tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self._assigned
        }
        deadline, quiet_since = self._clock() + timeout, self._clock()
        while self._clock() - quiet_since < quiet_seconds:
            if self._clock() > deadline:
                raise TimeoutError(f"the outputs could not be read to their end in {timeout:.0f} s")
            positions = self._consumer.position([TopicPartition(t, p) for t, p in ends])
            if all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in positions if ends[(tp.topic, tp.partition)]):
                return
            if self._consume():
                quiet_since = self._clock()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        self._consumer.close()


# ---------------------------------------------------------------------------------------------
# The conductor: when to kill, scale and break Cesce


@dataclass
class Event:
    at: float
    what: str


@dataclass
class _Schedule:
    """The seeded decisions, drawn before the run: kill points by progress and by outage moment."""

    progress_kills: list[float]
    outage_kills: list[float]
    """Seconds after the outage's start."""

    @classmethod
    def draw(cls, plan: ChaosPlan, rng: random.Random) -> _Schedule:
        in_outage = round(plan.kills * OUTAGE_KILL_SHARE) if plan.outage_seconds > 0 else 0
        low, high = KILL_PROGRESS_SPAN
        return cls(
            progress_kills=sorted(rng.uniform(low, high) for _ in range(plan.kills - in_outage)),
            outage_kills=sorted(rng.uniform(0.05, 0.95) * plan.outage_seconds for _ in range(in_outage)),
        )


class Conductor:
    """Runs the chaos against the fleet until every input has its outcome (or the time is up)."""

    def __init__(
        self,
        plan: ChaosPlan,
        *,
        fleet: Fleet,
        admin: SandboxAdmin,
        feed: Feed,
        tap: Tap,
        clock: Callable[[], float],
    ) -> None:
        self.plan, self._fleet, self._admin, self._feed, self._tap, self._clock = plan, fleet, admin, feed, tap, clock
        self._rng = random.Random(f"{plan.seed}:chaos")  # noqa: S311 - a reproducible schedule, not security
        self._schedule = _Schedule.draw(plan, self._rng)
        self._agenda: list[tuple[float, int, str, str]] = []
        self._order = itertools.count()
        self._total = len(feed.invoices)
        self._wanted: set[str] = set()
        self.events: list[Event] = []
        self.timeline: list[dict[str, Any]] = []
        self.kills = 0
        self.crashes = 0
        self.outage_start: float | None = None
        self.outage_end: float | None = None
        self.scaled_up: float | None = None
        self.scaled_down: float | None = None
        self.timed_out = False
        self.stalled: dict[str, Any] | None = None
        self._next_sample = 0.0
        self._answered = 0
        self._progressed = 0.0

    def _event(self, what: str) -> None:
        event = Event(round(self._clock(), 2), what)
        self.events.append(event)
        _log.info("%7.1f s  %s", event.at, what)

    def _later(self, delay: float, action: str, argument: str = "") -> None:
        heapq.heappush(self._agenda, (self._clock() + delay, next(self._order), action, argument))

    def progress(self) -> float:
        return len(self._tap.answered) / self._total

    # the actions

    def _start(self, instance: str) -> None:
        self._wanted.add(instance)
        self._fleet.start(instance)

    def _kill(self) -> None:
        victims = [i for i in self._fleet.running() if i in self._wanted]
        if not victims:
            self._later(0.5, "kill")
            return
        victim = self._rng.choice(victims)
        self._fleet.kill(victim)
        self.kills += 1
        self._event(f"kill {self.kills}: SIGKILL {victim}")
        self._later(self._rng.uniform(*RESTART_DELAY), "restart", victim)

    def _restart(self, instance: str) -> None:
        if instance in self._wanted and instance not in self._fleet.live():
            self._fleet.start(instance)
            self._event(f"restart {instance}")

    def _begin_outage(self) -> None:
        self.outage_start = self._clock()
        if self.plan.outage_seconds > 0:
            change = {"error_rate": 1.0} if self.plan.outage_kind == "errors" else {"maintenance": True}
            self._admin.set_faults(**change)
            self._event(f"Cesce outage begins ({self.plan.outage_kind}: {change})")
        self._later(self.plan.outage_seconds / 3, "scale up")
        self._later(self.plan.outage_seconds, "end outage")
        for offset in self._schedule.outage_kills:
            self._later(offset, "kill")

    def _end_outage(self) -> None:
        if self.plan.outage_seconds > 0:
            self._admin.set_faults(error_rate=self.plan.error_rate, maintenance=False)
            self._event("Cesce outage ends")
        self.outage_end = self._clock()

    def _scale_up(self) -> None:
        fresh = [f"chaos-{n}" for n in range(1, self.plan.replicas + 1) if f"chaos-{n}" not in self._wanted]
        for instance in fresh:
            self._start(instance)
        self.scaled_up = self._clock()
        self._event(f"scale up to {len(self._wanted)} replicas (+{', '.join(fresh) or 'none'})")

    def _scale_down(self) -> None:
        keep = self._rng.choice(sorted(self._wanted))
        for instance in sorted(self._wanted - {keep}):
            self._wanted.discard(instance)
            if instance in self._fleet.running():
                self._fleet.terminate(instance, "scaled down")
        self.scaled_down = self._clock()
        self._event(f"scale down to 1 replica ({keep}): SIGTERM the others")

    # the loop

    def _triggers(self) -> None:
        progress = self.progress()
        if self.outage_start is None and progress >= self.plan.outage_at:
            self._begin_outage()
        while self._schedule.progress_kills and progress >= self._schedule.progress_kills[0]:
            self._schedule.progress_kills.pop(0)
            self._later(self._rng.uniform(0, KILL_JITTER_SECONDS), "kill")
        if self.outage_end is not None and self.scaled_down is None and progress >= self.plan.scale_down_at:
            if self.scaled_up is None:
                self._scale_up()
            self._scale_down()

    def _due(self) -> None:
        actions: dict[str, Callable[[str], None]] = {
            "kill": lambda _: self._kill(),
            "restart": self._restart,
            "scale up": lambda _: self._scale_up(),
            "end outage": lambda _: self._end_outage(),
        }
        while self._agenda and self._agenda[0][0] <= self._clock():
            _, _, action, argument = heapq.heappop(self._agenda)
            actions[action](argument)

    def _reap(self) -> None:
        for process in self._fleet.reap():
            if process.how is None:
                self.crashes += 1
                tail = process.log.read_text(errors="replace").strip().splitlines()[-3:]
                self._event(f"{process.instance} exited by itself with {process.popen.returncode}: {tail}")
                if process.instance in self._wanted:
                    self._later(1.0, "restart", process.instance)
            else:
                self._event(f"{process.instance} gone ({process.how}, exit {process.popen.returncode})")

    def _sample(self) -> None:
        now = self._clock()
        if now < self._next_sample:
            return
        self._next_sample = now + TIMELINE_SECONDS
        deliveries = dict(self._feed.deliveries)
        answered = self._tap.answered
        waiting = [d.produced for d in deliveries.values() if (d.partition, d.offset) not in answered]
        sample = {
            "t": round(now, 1),
            "produced": self._feed.produced,
            "answered": len(answered),
            "outputs": len(self._tap.outputs),
            "replicas": len(self._fleet.running()),
            "oldest_waiting_seconds": round(now - min(waiting), 1) if waiting else 0.0,
        }
        self.timeline.append(sample)
        if len(self.timeline) % PROGRESS_EVERY == 0:
            _log.info(
                "%7.1f s  produced %d, answered %d (outputs %d), %d replicas running, oldest waiting %.0f s",
                *(sample[k] for k in ("t", "produced", "answered", "outputs", "replicas", "oldest_waiting_seconds")),
            )

    def _finished(self) -> bool:
        return (
            self._feed.done.is_set()
            and len(self._tap.answered) >= self._total
            and not self._schedule.progress_kills
            and not any(action == "kill" for _, _, action, _ in self._agenda)
            and self.outage_end is not None
            and self.scaled_down is not None
            and len(self._fleet.live()) <= 1
        )

    def _stalled(self) -> bool:
        """No outcome for `stall_seconds` outside the outage (and its first minute after), inputs waiting."""
        now, answered = self._clock(), len(self._tap.answered)
        if answered > self._answered or answered >= self._total:
            self._answered, self._progressed = answered, now
            return False
        if self.outage_start is not None and self.outage_end is None:
            return False  # Cesce is down: nothing can be answered
        since = max(self._progressed, self.outage_end or 0.0)
        grace = OUTAGE_GRACE_SECONDS if self.outage_end is not None and since == self.outage_end else 0.0
        if now - since < self.plan.stall_seconds + grace:
            return False
        probes = [self._fleet.probe(instance) for instance in self._fleet.live()]
        self.stalled = {
            "since": round(since, 1),
            "answered": answered,
            "waiting": self._feed.produced - answered,
            "replicas": probes,
        }
        self._event(
            f"stalled: no outcome for {now - since:.0f} s, {self._feed.produced - answered} inputs "
            f"waiting; replicas: {[(p['instance'], p.get('readyz')) for p in probes]}"
        )
        return True

    def _tick(self) -> None:
        for error in (self._feed.error, self._tap.error):
            if error is not None:
                raise RuntimeError(error)
        self._reap()
        self._triggers()
        self._due()
        self._sample()

    def run(self) -> None:
        self._start("chaos-1")
        self._event("chaos-1 started; the ERP feed starts")
        self._feed.start()
        while not self._finished():
            if self._clock() > self.plan.timeout_seconds:
                self.timed_out = True
                self._event(f"timed out after {self.plan.timeout_seconds:.0f} s")
                return
            if self._stalled():
                return
            self._tick()
            time.sleep(TICK_SECONDS)
        self._event(f"every input has its outcome; the replicas run {self.plan.settle_seconds:g} s more")
        settle = self._clock() + self.plan.settle_seconds
        while self._clock() < settle:
            self._tick()
            time.sleep(TICK_SECONDS)


# ---------------------------------------------------------------------------------------------
# One run


@dataclass
class ChaosReport:
    """One run: its plan, its figures, what broke, and what happened when (``chaos.json`` is this, as JSON)."""

    plan: ChaosPlan
    figures: Figures
    problems: list[str]
    """Broken guarantees (and a run that could not finish); empty when the run passed."""
    kills: int
    crashes: int
    timed_out: bool
    stalled: dict[str, Any] | None
    outage: dict[str, float | None]
    replicas: list[dict[str, Any]]
    events: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    broker: dict[str, Any]
    sandbox: dict[str, Any]
    worker_warnings: list[dict[str, Any]]
    pids: list[int]
    addresses: list[str]
    logs: str | None
    wall_seconds: float
    code: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def _worker_env(plan: ChaosPlan, bootstrap: str, sandbox_url: str, group: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in MOCK_CLIENT_CONFIG.items()},
        "SCHEMA_REGISTRY_URL": REGISTRY_URL,
        "WORKER_GROUP_ID": group,
        "WORKER_HTTP_HOST": "127.0.0.1",
        "WORKER_HTTP_PORT": "0",
        "INVOICES_TOPIC": INPUT,
        "SALE_RESULTS_TOPIC": RESULTS,
        "CESCE_BASE_URL": sandbox_url,
        "CESCE_CLIENT_ID": "chaos-app",
        "CESCE_CLIENT_SECRET": secrets.token_urlsafe(16),
        "CESCE_USERNAME": "chaos",
        "CESCE_PASSWORD": secrets.token_urlsafe(16),
        "CESCE_TIMEOUT_SECONDS": str(plan.cesce_timeout_seconds),
        **dict(plan.worker_env),
    }


_DIGITS: Final = re.compile(r"\d+")


def _warnings(logs: Path) -> list[dict[str, Any]]:
    """The workers' WARNING and ERROR lines, grouped by logger and message (digits as #), most frequent first."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.startswith("Traceback"):
                    counts[("ERROR", "python", "Traceback (not a JSON log line)")] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                message = _DIGITS.sub("#", str(entry.get("message", "")))[:140]
                counts[(str(entry["level"]), str(entry.get("logger", "")), message)] += 1
    return [
        {"level": level, "logger": logger, "message": message, "count": count}
        for (level, logger, message), count in counts.most_common(15)
    ]


def _code_state() -> dict[str, Any]:
    """The commit the run tested, and which of its files differed from it (other engineers edit the tree)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - git, with fixed arguments
                ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain", "workers").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_in_workers": changed}


def _sandbox_args(scenario: Path, plan: ChaosPlan) -> list[str]:
    latency, seed = str(plan.latency_ms), str(plan.seed)
    return ["sandbox", "--port", "0", "--scenario", str(scenario), "--latency-ms", latency, "--seed", seed]


def run_chaos(plan: ChaosPlan, *, logs: Path | None = None, force: bool = False) -> ChaosReport:
    """One chaos run on a fresh broker and sandbox; every process it started is stopped when it returns.

    `logs`: where the workers' logs go (kept); by default a temporary directory, deleted unless a
    guarantee broke. `force`: run even when the plan may not fit the embedded broker.
    """
    tag = secrets.token_hex(2).upper()
    invoices = make_invoices(plan, tag)
    sizing = size_check(plan, invoices)
    if not sizing["fits"] and not force:
        raise ValueError(f"the plan may pass 80% of the mock broker's per-partition limits: {sizing}")
    started = time.monotonic()

    def clock() -> float:
        return time.monotonic() - started

    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    workdir = logs if logs is not None else Path(tempfile.mkdtemp(prefix="chaos-invoices-"))
    try:
        report = _run(plan, invoices, workdir, clock, sizing)
    except BaseException:
        print(f"the run failed; the workers' logs: {workdir}", file=sys.stderr)
        raise
    keep = logs is not None or bool(report.problems)
    report.logs = str(workdir) if keep else None
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    report.wall_seconds = round(clock(), 1)
    return report


def _run(
    plan: ChaosPlan, invoices: Sequence[Invoice], workdir: Path, clock: Callable[[], float], sizing: dict[str, Any]
) -> ChaosReport:
    scenario = write_scenario(plan.debtors, workdir)
    pids: list[int] = []
    with Child(["broker"], "broker") as broker, Child(_sandbox_args(scenario, plan), "sandbox") as sandbox:
        pids += [broker.pid, sandbox.pid]
        admin = SandboxAdmin(sandbox.address)
        admin.set_faults(
            error_rate=plan.error_rate,
            hang_rate=plan.hang_rate,
            hang_seconds=plan.hang_seconds,
            drop_rate=plan.drop_rate,
        )
        group = f"chaos-invoices-{secrets.token_hex(3)}"
        fleet = Fleet(_worker_env(plan, broker.address, sandbox.address, group), workdir, clock)
        feed = Feed(broker.address, invoices, plan.rate, clock)
        tap = Tap(broker.address, clock)
        conductor = Conductor(plan, fleet=fleet, admin=admin, feed=feed, tap=tap, clock=clock)
        try:
            tap.start()
            conductor.run()
            conductor._event("stopping the replicas (SIGTERM)")
            fleet.stop_all()
            feed.stopping.set()
            feed.join(60)
            tap.read_to_end()
            conductor._event("read every output to the end of its partition")
        finally:
            fleet.close()
            feed.stopping.set()
            tap.close()
            pids += [p.popen.pid for p in fleet.history]
        ledger, stats = admin.ledger(), admin.stats()
        deliveries = dict(feed.deliveries)
        uses = _partition_uses(broker.address, invoices, deliveries, tap.outputs)
        addresses = [broker.address, sandbox.address]
    reader = AvroReader(schema_registry_client(REGISTRY_URL))
    figures = analyse(
        invoices,
        deliveries,
        tap.outputs,
        ledger,
        lambda value: reader.decode(value, RESULTS).value,
        outage_end=conductor.outage_end,
    )
    dropped = [u.name() for u in uses if u.low > 0]
    problems = broken_guarantees(figures, dropped)
    if conductor.timed_out:
        problems.append(f"the run timed out after {plan.timeout_seconds:.0f} s")
    if conductor.stalled is not None:
        problems.append(
            f"the run stalled: no input got its outcome for {plan.stall_seconds:.0f} s from "
            f"{conductor.stalled['since']} s, {conductor.stalled['waiting']} inputs waiting (see 'stalled')"
        )
    if len(deliveries) != len(invoices):
        problems.append(f"only {len(deliveries)} of {len(invoices)} inputs were delivered to the broker")
    return ChaosReport(
        plan=plan,
        figures=figures,
        problems=problems,
        kills=conductor.kills,
        crashes=conductor.crashes,
        timed_out=conductor.timed_out,
        stalled=conductor.stalled,
        outage={
            "start": _round(conductor.outage_start),
            "end": _round(conductor.outage_end),
            "scaled_up": _round(conductor.scaled_up),
            "scaled_down": _round(conductor.scaled_down),
        },
        replicas=[p.summary() for p in fleet.history],
        events=[asdict(e) for e in conductor.events],
        timeline=conductor.timeline,
        broker=_broker_summary(sizing, uses),
        sandbox={
            "faults": stats.get("faults", {}),
            "by_status": stats.get("byStatus", {}),
            "by_route": stats.get("byRoute", {}),
        },
        worker_warnings=_warnings(workdir),
        pids=pids,
        addresses=addresses,
        logs=None,
        wall_seconds=0.0,
        code=_code_state(),
    )


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def _broker_summary(sizing: Mapping[str, Any], uses: Sequence[PartitionUse]) -> dict[str, Any]:
    fullest = max(uses, key=lambda u: u.bytes_bound, default=None)
    longest = max(uses, key=lambda u: u.high - u.low, default=None)
    return {
        "before": dict(sizing),
        "partitions": [asdict(u) | {"bytes_bound": u.bytes_bound} for u in uses],
        "fullest": None if fullest is None else {"partition": fullest.name(), "bytes_bound": fullest.bytes_bound},
        "most_offsets": None
        if longest is None
        else {"partition": longest.name(), "offsets": longest.high - longest.low},
        "dropped": [u.name() for u in uses if u.low > 0],
        "limit_bytes": MOCK_PARTITION_BYTES,
        "limit_batches": MOCK_PARTITION_BATCHES,
    }


# ---------------------------------------------------------------------------------------------
# The report


def _ok(count: int) -> str:
    return "ok" if count == 0 else "BROKEN"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def table(report: ChaosReport) -> str:
    """The figures as the printed table: figure, value, and for each guarantee whether it held."""
    f, plan = report.figures, report.plan
    categories = ", ".join(f"{k} {v}" for k, v in f.dead_letters_by_category.items()) or "none"
    outcomes = ", ".join(f"{k} {v}" for k, v in f.outcomes.items()) or "none"
    faults = report.sandbox.get("faults", {})
    broker = report.broker
    fullest, longest = broker.get("fullest") or {}, broker.get("most_offsets") or {}
    rows = [
        ("inputs", f"{f.inputs:,} ({f.sales:,} sales, {f.credit_notes:,} credit notes) over {f.debtors} debtors", ""),
        ("results", f"{f.results:,} ({outcomes})", ""),
        ("dead letters by category", f"{f.dead_letters:,} ({categories})", ""),
        ("lost", f"{f.lost:,}", _ok(f.lost)),
        (
            "duplicate results (read_committed)",
            f"{f.duplicate_results:,} inputs, {f.duplicate_copies:,} extra copies",
            _ok(f.duplicate_results),
        ),
        (
            "duplicate sales (Cesce's ledger)",
            f"{f.duplicate_sales:,} ({f.ledger_sales:,} sales; {f.duplicate_attempts:,}"
            " redeclarations refused as duplicates)",
            _ok(f.duplicate_sales),
        ),
        (
            "transient dead letters",
            str(f.dead_letters_by_category.get("transient", 0)),
            _ok(f.dead_letters_by_category.get("transient", 0)),
        ),
        ("per-debtor order violations (results)", f"{f.order_violations:,}", _ok(f.order_violations)),
        ("per-debtor order violations (Cesce)", f"{f.cesce_order_violations:,}", _ok(f.cesce_order_violations)),
        ("sales missing at Cesce", f"{f.missing_sales:,}", _ok(f.missing_sales)),
        (
            "other unexpected outputs",
            f"{f.unexpected_outcomes + f.stray_outputs:,}",
            _ok(f.unexpected_outcomes + f.stray_outputs),
        ),
        ("results flow again after the outage", _seconds(f.recovery_seconds), ""),
        ("backlog at the outage's end / caught up", f"{f.outage_backlog} inputs / {_seconds(f.caught_up_seconds)}", ""),
        (
            "end-to-end lag: peak / p99 / p50",
            f"{_seconds(f.lag_peak_seconds)} / {_seconds(f.lag_p99_seconds)} / {_seconds(f.lag_p50_seconds)}",
            "",
        ),
        (
            "kills (SIGKILL, restarted)",
            f"{report.kills} of {plan.kills}; replicas exited by themselves: {report.crashes}",
            "",
        ),
        (
            "replicas",
            f"1 -> {plan.replicas} at {_seconds(report.outage['scaled_up'])} -> 1 at "
            f"{_seconds(report.outage['scaled_down'])}",
            "",
        ),
        ("Cesce outage", f"{plan.outage_seconds:g} s ({plan.outage_kind}) from {_seconds(report.outage['start'])}", ""),
        (
            "Cesce faults injected",
            f"500s {faults.get('errors', 0):,}, held {faults.get('hung', 0):,}, dropped "
            f"{faults.get('dropped', 0):,}, maintenance {faults.get('maintenance', 0):,}",
            "",
        ),
        (
            "broker: fullest partition",
            f"{fullest.get('partition')} {fullest.get('bytes_bound', 0) / 2**20:.2f} MiB "
            f"of {MOCK_PARTITION_BYTES / 2**20:.0f} MiB (upper bound)",
            _ok(len(broker.get("dropped", []))),
        ),
        (
            "broker: most offsets in a partition",
            f"{longest.get('partition')} {longest.get('offsets', 0):,} "
            f"(>= its batches) of {MOCK_PARTITION_BATCHES:,}; records dropped: {broker.get('dropped') or 'none'}",
            "",
        ),
        ("wall time", f"{report.wall_seconds:.0f} s", ""),
    ]
    if report.stalled is not None:
        ready = [(p["instance"], p.get("readyz")) for p in report.stalled["replicas"]]
        waiting, since = report.stalled["waiting"], report.stalled["since"]
        rows.insert(
            11, ("stalled", f"nothing answered from {since} s on, {waiting} waiting; /readyz {ready}", "BROKEN")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}".rstrip() for a, b, c in rows)


def write_report(report: ChaosReport, path: Path) -> None:
    document = report.summary() | {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "confluent_kafka": str(confluent_kafka.__version__),
            "librdkafka": confluent_kafka.libversion()[0],
        },
        "checks_passed": not report.problems,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")


# ---------------------------------------------------------------------------------------------
# The command


def _parser() -> argparse.ArgumentParser:
    defaults = ChaosPlan()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos_invoices", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--invoices", type=int, default=defaults.invoices, help="sales; credit notes come on top (default %(default)s)")
    add("--debtors", type=int, default=defaults.debtors, help="debtors (default %(default)s)")
    add("--kills", type=int, default=defaults.kills, help="SIGKILLs of a random replica (default %(default)s)")
    add("--outage-seconds", type=float, default=defaults.outage_seconds, help="Cesce outage (default %(default)s)")
    add(
        "--outage-kind",
        choices=("errors", "maintenance"),
        default=defaults.outage_kind,
        help="every call answered 500, or maintenance errorCode 18 (default %(default)s)",
    )
    add("--seed", type=int, default=defaults.seed, help="inputs, fault draws and schedule (default %(default)s)")
    add("--rate", type=float, default=defaults.rate, help="inputs produced per second (default %(default)s)")
    add("--replicas", type=int, default=defaults.replicas, help="replicas at the peak (default %(default)s)")
    add("--latency-ms", type=float, default=defaults.latency_ms, help="sandbox latency (default %(default)s)")
    add("--error-rate", type=float, default=defaults.error_rate, help="share answered 500 (default %(default)s)")
    add("--hang-rate", type=float, default=defaults.hang_rate, help="share of answers held (default %(default)s)")
    add("--hang-seconds", type=float, default=defaults.hang_seconds, help="how long (default %(default)s)")
    add("--drop-rate", type=float, default=defaults.drop_rate, help="share of connections cut (default %(default)s)")
    add(
        "--cesce-timeout",
        type=float,
        default=defaults.cesce_timeout_seconds,
        help="the workers' CESCE_TIMEOUT_SECONDS (default %(default)s)",
    )
    add("--timeout", type=float, default=defaults.timeout_seconds, help="give up after (default %(default)s s)")
    add(
        "--stall-seconds",
        type=float,
        default=defaults.stall_seconds,
        help="give up when nothing was answered for this long outside the outage (default %(default)s)",
    )
    add("--worker-env", action="append", default=[], metavar="NAME=VALUE", help="extra variable for the replicas")
    add("--logs", type=Path, help="keep the workers' logs here (default: kept only when a guarantee breaks)")
    add("--force", action="store_true", help="run even if the plan may not fit the embedded broker")
    add("--output", type=Path, default=RESULTS_FILE, help="JSON results (default %(default)s)")
    return parser


def _plan(args: argparse.Namespace) -> ChaosPlan:
    extra = []
    for item in args.worker_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--worker-env wants NAME=VALUE, got {item!r}")
        extra.append((name, value))
    try:
        return ChaosPlan(
            invoices=args.invoices,
            debtors=args.debtors,
            kills=args.kills,
            outage_seconds=args.outage_seconds,
            outage_kind=args.outage_kind,
            seed=args.seed,
            rate=args.rate,
            replicas=args.replicas,
            latency_ms=args.latency_ms,
            error_rate=args.error_rate,
            hang_rate=args.hang_rate,
            hang_seconds=args.hang_seconds,
            drop_rate=args.drop_rate,
            cesce_timeout_seconds=args.cesce_timeout,
            timeout_seconds=args.timeout,
            stall_seconds=args.stall_seconds,
            worker_env=tuple(extra),
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def _terminate_as_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so that a SIGTERM to the harness still stops every process it started


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = _plan(args)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(progress)
    _log.setLevel(logging.INFO)
    _log.propagate = False
    signal.signal(signal.SIGTERM, _terminate_as_exit)
    print(
        f"{plan.invoices:,} sales and their credit notes over {plan.debtors} debtors at {plan.rate:g}/s; "
        f"{plan.kills} kills, replicas 1 -> {plan.replicas} -> 1, a {plan.outage_seconds:g} s Cesce outage, "
        f"faults {plan.error_rate:.0%} 500s / {plan.hang_rate:.0%} held / {plan.drop_rate:.0%} dropped; "
        f"seed {plan.seed}",
        flush=True,
    )
    try:
        report = run_chaos(plan, logs=args.logs, force=args.force)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print()
    print(table(report))
    print()
    for kind, examples in report.figures.examples.items():
        print(f"{kind}:", *examples[:5], sep="\n  ")
    if report.stalled is not None:
        print("stalled; the replicas then:", *(json.dumps(p) for p in report.stalled["replicas"]), sep="\n  ")
    write_report(report, args.output)
    print(f"results written to {args.output}")
    if report.problems:
        print("GUARANTEES BROKEN:", *report.problems, sep="\n  ", file=sys.stderr)
        if report.logs:
            print(f"the workers' logs: {report.logs}", file=sys.stderr)
        return 1
    print("every guarantee held: nothing lost, nothing twice, every debtor in order, no transient dead letter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
