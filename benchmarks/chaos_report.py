"""The chaos run's plan, the analysis of what it produced, read and recorded, its checks and its table (pure; no Kafka).

`ChaosPlan` is a run's parameters, and `size_check` sizes it against the embedded broker's per-partition
limits before it starts. `Delivery` (where an input landed) and `Output` (a result or a dead letter as a
``read_committed`` reader saw it) are what a run observes; `analyse` turns them and Cesce's ledger into
`Figures`, `broken_guarantees` says which guarantee broke, in words, and `ChaosReport` is the whole run,
printed by `table` (``benchmarks.chaos_invoices`` describes the run itself).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from benchmarks.services import MOCK_PARTITION_BATCHES, MOCK_PARTITION_BYTES, columns
from workers.cesce.codecs import decode_amount
from workers.runtime.embedded import MOCK_PARTITIONS

if TYPE_CHECKING:
    from benchmarks.chaos_workload import Invoice

__all__ = [
    "BY_DEBTOR",
    "DLQ",
    "INPUT",
    "RESULTS",
    "ChaosPlan",
    "ChaosReport",
    "Decode",
    "Delivery",
    "Figures",
    "Output",
    "PartitionUse",
    "analyse",
    "broken_guarantees",
    "broker_summary",
    "size_check",
    "table",
]

INPUT: Final = "erp.invoices"
RESULTS: Final = "cesce.sale-results"
DLQ: Final = f"{INPUT}.dlq"
BY_DEBTOR: Final = f"{INPUT}.by-debtor"
"""Where the re-keying companion of ``cesce-worker run invoices`` writes each change keyed by its debtor (the
default): the worker reads it, so its results and dead letters name a record of it, which names the input."""
DECLARED_OUTCOMES: Final = frozenset({"DECLARED", "ALREADY_DECLARED"})

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

EXAMPLES: Final = 10


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
    via: tuple[str, int, int] | None = None
    """The re-keyed copy of the input it answers (a record of `BY_DEBTOR`), when it named that copy."""

    def where(self) -> str:
        answering = "" if self.via is None else f" (answering {self.via[0]}[{self.via[1]}]@{self.via[2]})"
        return f"{self.topic}[{self.partition}]@{self.offset}{answering}"


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
                delivery = deliveries.get(invoice.index)
                # the result's own sourceTopic/Partition/Offset name the ERP change, whichever record it answered
                named = (result.get("sourceTopic"), result.get("sourcePartition"), result.get("sourceOffset"))
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
                elif delivery is not None and named != (INPUT, delivery.partition, delivery.offset):
                    fig.unexpected_outcomes += 1
                    fig.example(
                        "unexpected outcomes",
                        f"{_where(invoice, deliveries)} {invoice.label()}: {output.where()} names {named} "
                        "in its sourceTopic/sourcePartition/sourceOffset",
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


def broker_summary(sizing: Mapping[str, Any], uses: Sequence[PartitionUse]) -> dict[str, Any]:
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
    return columns(rows, head=False)
