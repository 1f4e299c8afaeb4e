"""The invoices benchmark's figures, checks and table (pure; no Kafka, no processes here).

`make_case` turns a `benchmarks.bench_measure.Measurement` into a `Case` (rates, ceiling, CPU per
invoice, peak RSS, how the run went in its two `halves`); `check_results` and `check_ledger` say
which guarantee broke; `progress`, `table` and `conclusions` are what is printed, `document` what
is written to ``benchmarks/results/invoices.json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.bench_measure import Measurement, Sample
from benchmarks.bench_workload import DLQ, RESULTS, Invoice
from benchmarks.observer import Read
from benchmarks.services import columns

__all__ = [
    "Case",
    "Decode",
    "breakdown_ms",
    "check_ledger",
    "check_results",
    "conclusions",
    "document",
    "halves",
    "make_case",
    "problems",
    "progress",
    "table",
]

Decode = Callable[[bytes], tuple[str, bool]]
"""A result's value bytes -> (invoiceNo, whether the sale was declared / tariffed as expected)."""


@dataclass
class Case:
    """One timed run and what it cost; `problems` empty when every check passed."""

    name: str
    system: str  # "worker" or "naive"
    invoices: int
    debtors: int
    latency_ms: float
    max_in_flight: int
    seconds: float
    produce_seconds: float
    first_result_seconds: float
    cpu_seconds: float
    sandbox_cpu_seconds: float
    broker_cpu_seconds: float
    rss_baseline_kib: int
    rss_peak_kib: int
    peak_is_this_run: bool
    steal_percent: float
    """Share of the machine's CPU time the hypervisor gave to other guests during the run."""
    cesce_requests: dict[str, int]
    timeline: list[tuple[float, int]]
    """(seconds, results visible) when 10%, 20%, ... 100% of the results were visible."""
    halves: list[dict[str, float]]
    """The first and the second half of the run's time: invoices per second, and the cores kept
    busy by this process, the sandbox and the broker (shows which one saturates as the run goes)."""
    breakdown_ms: dict[str, float] = field(default_factory=dict)
    """The naive loop's mean milliseconds per invoice in each step."""
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.invoices / self.seconds

    @property
    def steady_rate(self) -> float:
        """Between the first and the last visible result: the rate without the pipeline's fill time
        (the consumer's first fetch, the first commit interval), which a short run overweights."""
        (first_at, first_count), (last_at, last_count) = self.timeline[0], self.timeline[-1]
        return (last_count - first_count) / (last_at - first_at) if last_at > first_at else self.rate

    @property
    def ceiling(self) -> float:
        """Invoices per second if every call took exactly the latency and nothing else cost time."""
        return self.max_in_flight / (self.latency_ms / 1000)

    def per_invoice_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.invoices

    def cores_busy(self) -> float:
        """Cores kept busy by this process, the sandbox and the broker together, on average."""
        return (self.cpu_seconds + self.sandbox_cpu_seconds + self.broker_cpu_seconds) / self.seconds

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {
            "rate_per_second": round(self.rate, 1),
            "steady_rate_per_second": round(self.steady_rate, 1),
            "ceiling_per_second": round(self.ceiling, 1),
            "percent_of_ceiling": round(100 * self.rate / self.ceiling, 1),
            "cpu_ms_per_invoice": round(self.per_invoice_ms(self.cpu_seconds), 3),
            "sandbox_cpu_ms_per_invoice": round(self.per_invoice_ms(self.sandbox_cpu_seconds), 3),
            "broker_cpu_ms_per_invoice": round(self.per_invoice_ms(self.broker_cpu_seconds), 3),
            "cores_busy": round(self.cores_busy(), 2),
        }


# ---------------------------------------------------------------------------------------------
# The figures


def make_case(
    name: str,
    system: str,
    measurement: Measurement,
    *,
    measured: Sequence[Invoice],
    latency_ms: float,
    max_in_flight: int,
) -> Case:
    """The figures of one run of `measured` invoices (its checks not made yet: `problems` empty)."""
    timing, samples = measurement.timing, measurement.samples
    before, after = samples[0], samples[-1]
    arrivals: list[tuple[float, int]] = timing["arrivals"]
    tenth = len(measured) / 10
    timeline = [next((at, n) for at, n in arrivals if n >= min(k * tenth, len(measured))) for k in range(1, 11)]
    return Case(
        name=name,
        system=system,
        invoices=len(measured),
        debtors=len({i.debtor for i in measured}),
        latency_ms=latency_ms,
        max_in_flight=max_in_flight,
        seconds=timing["seconds"],
        produce_seconds=timing["produce_seconds"],
        first_result_seconds=next(at for at, count in arrivals if count > 0),
        cpu_seconds=after.cpu - before.cpu,
        sandbox_cpu_seconds=after.sandbox_cpu - before.sandbox_cpu,
        broker_cpu_seconds=after.broker_cpu - before.broker_cpu,
        rss_baseline_kib=measurement.rss_baseline_kib,
        rss_peak_kib=measurement.rss_peak_kib,
        peak_is_this_run=measurement.peak_is_this_run,
        steal_percent=round(
            100 * (after.machine[1] - before.machine[1]) / max(after.machine[2] - before.machine[2], 1), 1
        ),
        cesce_requests={route: int(n) for route, n in sorted(measurement.stats.get("byRoute", {}).items())},
        timeline=[(round(at, 3), n) for at, n in timeline],
        halves=halves(samples, timing["start"], timing["seconds"], arrivals),
    )


def halves(
    samples: Sequence[Sample], start: float, seconds: float, arrivals: Sequence[tuple[float, int]]
) -> list[dict[str, float]]:
    """Rate and cores busy in the first and second half of the window [start, start + seconds]."""
    middle = min(samples, key=lambda sample: abs(sample.at - (start + seconds / 2)))
    split = middle.at - start
    visible = max((count for at, count in arrivals if at <= split), default=0)
    total = arrivals[-1][1]
    result = []
    for first, last, count, length in (
        (samples[0], middle, visible, split),
        (middle, samples[-1], total - visible, seconds - split),
    ):
        wall = max(last.at - first.at, 1e-9)
        result.append(
            {
                "seconds": round(length, 3),
                "rate_per_second": round(count / max(length, 1e-9), 1),
                "process_cores": round((last.cpu - first.cpu) / wall, 2),
                "event_loop_cores": round((last.loop_cpu - first.loop_cpu) / wall, 2),
                "sandbox_cores": round((last.sandbox_cpu - first.sandbox_cpu) / wall, 2),
                "broker_cores": round((last.broker_cpu - first.broker_cpu) / wall, 2),
            }
        )
    return result


def breakdown_ms(steps: Mapping[str, Sequence[float]], measured: int) -> dict[str, float]:
    """Mean milliseconds per invoice in each step, over the last `measured` records (the warm-up's left out)."""
    return {step: round(1000 * sum(seconds[-measured:]) / measured, 2) for step, seconds in steps.items()}


# ---------------------------------------------------------------------------------------------
# The checks


def check_results(reads: Sequence[Read], produced: Sequence[Invoice], decode: Decode) -> list[str]:
    """Exactly one result per invoice, no dead letter, and each debtor's results in input order."""
    problems: list[str] = []
    dead = [r for r in reads if r.topic == DLQ]
    if dead:
        problems.append(f"{len(dead)} invoices were dead-lettered (first key {dead[0].key})")
    by_debtor: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    not_declared = 0
    for read in reads:
        if read.topic != RESULTS:
            continue
        invoice_no, declared = decode(read.value)
        not_declared += not declared
        by_debtor[read.key].append((read.partition, read.offset, invoice_no))
    if not_declared:
        problems.append(f"{not_declared} results are not DECLARED / TARIFICADA")
    expected: dict[str, list[str]] = defaultdict(list)
    for invoice in produced:
        expected[invoice.debtor].append(invoice.invoice_no)
    if set(by_debtor) != set(expected):
        problems.append(f"results for {len(by_debtor)} debtors, invoices for {len(expected)}")
    for debtor, invoices in expected.items():
        got = sorted(by_debtor.get(debtor, []))
        if len({partition for partition, _, _ in got}) > 1:
            problems.append(f"{debtor}: results in more than one partition, so their order is undefined")
        numbers = [invoice_no for _, _, invoice_no in got]
        if numbers != invoices:
            problems.append(f"{debtor}: results {numbers[:5]}... are not the input order {invoices[:5]}...")
    return problems


def check_ledger(ledger: Mapping[str, Any], produced: int) -> list[str]:
    """The sandbox declared every invoice once: no duplicate-sale key counted twice, one sale each."""
    problems: list[str] = []
    counts = [int(entry["count"]) for entry in ledger.get("byDuplicateKey", [])]
    twice = sum(count != 1 for count in counts)
    if twice:
        problems.append(f"ledger: {twice} invoices were declared more than once")
    sales = len(ledger.get("sales", []))
    if sales != produced:
        problems.append(f"ledger: {sales} sales for {produced} invoices")
    return problems


# ---------------------------------------------------------------------------------------------
# What is printed and written


def progress(case: Case) -> str:
    """The lines printed as a case finishes: its rate, its verdict, and its two halves."""
    verdict = "checks ok" if not case.problems else f"{len(case.problems)} checks FAILED"
    lines = [
        f"  {case.name}: {case.invoices} invoices in {case.seconds:.2f} s, {case.rate:.0f}/s; {verdict} "
        f"(CPU stolen by the hypervisor: {case.steal_percent:.0f}%)\n"
    ]
    lines += [
        f"    {which} half: {half['rate_per_second']:.0f}/s; cores busy: this process {half['process_cores']:.2f} "
        f"(its event loop {half['event_loop_cores']:.2f}), sandbox {half['sandbox_cores']:.2f}, "
        f"broker {half['broker_cores']:.2f}\n"
        for which, half in zip(("first", "second"), case.halves, strict=True)
    ]
    return "".join(lines)


def table(cases: Sequence[Case]) -> str:
    head = (
        "run",
        "invoices",
        "seconds",
        "inv/s",
        "steady/s",
        "ceiling/s",
        "% ceiling",
        "CPU ms/inv",
        "sandbox ms/inv",
        "broker ms/inv",
        "cores busy",
        "peak RSS MiB",
    )
    rows = [
        (
            case.name,
            str(case.invoices),
            f"{case.seconds:.2f}",
            f"{case.rate:.0f}",
            f"{case.steady_rate:.0f}",
            f"{case.ceiling:.0f}",
            f"{100 * case.rate / case.ceiling:.0f}%",
            f"{case.per_invoice_ms(case.cpu_seconds):.2f}",
            f"{case.per_invoice_ms(case.sandbox_cpu_seconds):.2f}",
            f"{case.per_invoice_ms(case.broker_cpu_seconds):.2f}",
            f"{case.cores_busy():.2f}",
            f"{case.rss_peak_kib / 1024:.0f} (+{(case.rss_peak_kib - case.rss_baseline_kib) / 1024:.0f})",
        )
        for case in cases
    ]
    return columns([head, *rows])


def _worker_and_naive(cases: Sequence[Case]) -> tuple[Case, Case | None]:
    """The first case is the worker's at the chosen max_in_flight; the naive loop's, if it ran."""
    return cases[0], next((c for c in cases if c.system == "naive"), None)


def conclusions(cases: Sequence[Case]) -> list[str]:
    """The lines under the table: worker / naive (if the naive loop ran), and the worker against its ceiling."""
    worker, naive = _worker_and_naive(cases)
    lines = []
    if naive is not None:
        lines.append(
            f"worker / naive: {worker.rate / naive.rate:.1f}x (the naive loop ran {naive.invoices} invoices over "
            f"{naive.debtors} debtors, the same shape as the worker's {worker.invoices} over {worker.debtors}); "
            "naive loop per invoice: " + ", ".join(f"{step} {ms:.1f} ms" for step, ms in naive.breakdown_ms.items())
        )
    lines.append(
        f"worker: {100 * worker.rate / worker.ceiling:.0f}% of max_in_flight / latency = {worker.ceiling:.0f}/s; "
        f"CPU time of this process (the worker alone) {worker.per_invoice_ms(worker.cpu_seconds):.2f} ms per invoice; "
        f"peak RSS {worker.rss_peak_kib / 1024:.0f} MiB (VmHWM{'' if worker.peak_is_this_run else ' since start'})"
    )
    return lines


def problems(cases: Sequence[Case]) -> list[str]:
    """Every case's failed checks, each led by the case's name."""
    return [f"{case.name}: {problem}" for case in cases for problem in case.problems]


def document(
    parameters: Mapping[str, Any], machine: Mapping[str, Any], cases: Sequence[Case], wall_seconds: float
) -> dict[str, Any]:
    """The JSON results: the parameters, the machine, the worker / naive ratio, every case, the checks."""
    worker, naive = _worker_and_naive(cases)
    failed = problems(cases)
    return {
        "parameters": dict(parameters),
        "machine": dict(machine),
        "ratio_worker_to_naive": round(worker.rate / naive.rate, 2) if naive is not None else None,
        "cases": [case.summary() for case in cases],
        "checks_passed": not failed,
        "problems": failed,
        "wall_seconds": round(wall_seconds, 1),
    }
