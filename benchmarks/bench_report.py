"""The invoices benchmark's figures, checks and table (pure; no Kafka, no processes here).

`make_case` turns a `benchmarks.bench_measure.Measurement` into a `Case` (rates, ceiling, CPU per
invoice of the worker's process tree, peak RSS per process, 429s, how the run went in its two
`halves`); `check_results` and `check_ledger` say which guarantee broke (lost, doubled, reordered);
`targets` sets each regime's figures against the benchmark's thresholds (PASS / MISS), `limited_by`
says what most likely bounded a case; `progress`, `table`, `target_table` and `conclusions` are
what is printed, `document` what is written to ``benchmarks/results/invoices.json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from benchmarks.bench_measure import Measurement, Sample
from benchmarks.bench_workload import DLQ, RESULTS, Invoice
from benchmarks.observer import Read
from benchmarks.services import columns

__all__ = [
    "TARGET_RATE_LIMITED_SHARE",
    "TARGET_RATIO_TO_NAIVE",
    "TARGET_SHARE_OF_NOMINAL",
    "TARGET_SHARE_OF_RATE_LIMIT",
    "Case",
    "Decode",
    "Target",
    "breakdown_ms",
    "check_ledger",
    "check_results",
    "conclusions",
    "document",
    "halves",
    "limited_by",
    "make_case",
    "problems",
    "progress",
    "table",
    "target_table",
    "targets",
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
    """The system under test's: the worker's whole process tree (every process, every thread), or the naive
    loop's process."""
    sandbox_cpu_seconds: float
    broker_cpu_seconds: float
    rss_baseline_kib: int
    rss_peak_kib: int
    """The largest peak RSS (VmHWM) of one process of the system under test."""
    peak_is_this_run: bool
    steal_percent: float
    """Share of the machine's CPU time the hypervisor gave to other guests during the run."""
    machine_busy_percent: float
    """Share of the machine's CPU time busy during the run, whoever's (``/proc/stat``): ours and other work's."""
    cesce_requests: dict[str, int]
    timeline: list[tuple[float, int]]
    """(seconds, results visible) when 10%, 20%, ... 100% of the results were visible."""
    halves: list[dict[str, float]]
    """The first and the second half of the run's time: invoices per second, and the cores kept
    busy by the system under test, its event loops, the sandbox and the broker (shows which one
    saturates as the run goes)."""
    regimes: list[str] = field(default_factory=list)
    """The regimes this case belongs to (a case shared by two regimes runs once)."""
    jitter_ms: float = 0.0
    rate_limit: float | None = None
    """The sandbox's requests per second, the excess answered 429; None when unlimited."""
    processes: int = 1
    """``WORKER_PROCESSES`` asked for."""
    processes_seen: int = 1
    """The most processes the system under test's tree had at one sample."""
    loop_cpu_seconds: float = 0.0
    rss_peak_sum_kib: int = 0
    """The sum of the peaks of every process of the tree (each at its own moment: an upper bound)."""
    cesce_statuses: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    """Calls the sandbox answered 429 (its ``rateLimited`` counter), warm-up included."""
    exit_code: int | None = None
    client_calls: int = 0
    """Cesce calls the worker made in the window (its ``cesce.client.duration`` histogram; 0 when not read)."""
    client_call_seconds: float = 0.0
    """The time those calls took, added up: over the window's seconds, the mean number of calls in the air."""
    throttle_waits: int = 0
    throttle_wait_seconds: float = 0.0
    """Turns taken in the Cesce client's throttle (pace and pauses, ``cesce.client.throttle.wait``) and the time
    calls waited there before leaving, added up."""
    loop_lag_samples: int = 0
    loop_lag_seconds: float = 0.0
    """The event loops' heartbeats in the window (``cesce.worker.event_loop.lag``) and how late they woke, added up."""
    mean_in_flight: float | None = None
    """The worker's ``cesce.worker.in_flight`` (records consumed, not finished), averaged over its scrapes."""
    backpressure_share: float | None = None
    """Share of the scrapes that found an engine paused because its in-flight bound was full."""
    otlp_requests: int = 0
    otlp_kib: float = 0.0
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
    def nominal_ceiling(self) -> float:
        """``max_in_flight / latency``: invoices per second if every call took exactly the latency (no jitter)."""
        return self.max_in_flight / (self.latency_ms / 1000)

    @property
    def ceiling(self) -> float:
        """Invoices per second if every call took the mean latency (the latency: the jitter is centred on it)
        and nothing else cost time; the rate limit if lower."""
        ceiling = self.max_in_flight / (self.latency_ms / 1000)
        return min(ceiling, self.rate_limit) if self.rate_limit is not None else ceiling

    @property
    def calls(self) -> int:
        """Calls the sandbox answered (every status), warm-up included."""
        return sum(self.cesce_statuses.values())

    @property
    def rate_limited_share(self) -> float:
        return self.rate_limited / self.calls if self.calls else 0.0

    @property
    def calls_in_air(self) -> float | None:
        """Cesce calls in flight on average over the window (Little's law on the client's own timings)."""
        return self.client_call_seconds / self.seconds if self.client_calls else None

    @property
    def mean_call_ms(self) -> float | None:
        """A Cesce call's mean duration as the worker's client timed it (the sandbox's latency and jitter,
        its handling, the network and any wait in the worker's event loop)."""
        return 1000 * self.client_call_seconds / self.client_calls if self.client_calls else None

    @property
    def mean_throttle_wait_ms(self) -> float | None:
        """How long a call waited for its turn in the client's throttle, on average."""
        return 1000 * self.throttle_wait_seconds / self.throttle_waits if self.throttle_waits else None

    @property
    def mean_loop_lag_ms(self) -> float | None:
        """How late an event loop ran what was due, on average: every step of every record waits about that."""
        return 1000 * self.loop_lag_seconds / self.loop_lag_samples if self.loop_lag_samples else None

    def per_invoice_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.invoices

    def cores_busy(self) -> float:
        """Cores kept busy by the system under test, the sandbox and the broker together, on average."""
        return (self.cpu_seconds + self.sandbox_cpu_seconds + self.broker_cpu_seconds) / self.seconds

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {
            "rate_per_second": round(self.rate, 1),
            "steady_rate_per_second": round(self.steady_rate, 1),
            "ceiling_per_second": round(self.ceiling, 1),
            "nominal_ceiling_per_second": round(self.nominal_ceiling, 1),
            "percent_of_ceiling": round(100 * self.rate / self.ceiling, 1),
            "cpu_ms_per_invoice": round(self.per_invoice_ms(self.cpu_seconds), 3),
            "event_loop_cores": round(self.loop_cpu_seconds / self.seconds, 2),
            "sandbox_cpu_ms_per_invoice": round(self.per_invoice_ms(self.sandbox_cpu_seconds), 3),
            "broker_cpu_ms_per_invoice": round(self.per_invoice_ms(self.broker_cpu_seconds), 3),
            "cores_busy": round(self.cores_busy(), 2),
            "calls": self.calls,
            "calls_in_air": round(self.calls_in_air, 1) if self.calls_in_air is not None else None,
            "mean_call_ms": round(self.mean_call_ms, 1) if self.mean_call_ms is not None else None,
            "mean_throttle_wait_ms": round(self.mean_throttle_wait_ms, 1)
            if self.mean_throttle_wait_ms is not None
            else None,
            "mean_loop_lag_ms": round(self.mean_loop_lag_ms, 2) if self.mean_loop_lag_ms is not None else None,
            "rate_limited_percent": round(100 * self.rate_limited_share, 2),
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
    jitter_ms: float = 0.0,
    rate_limit: float | None = None,
    processes: int = 1,
    regimes: Sequence[str] = (),
) -> Case:
    """The figures of one run of `measured` invoices (its checks not made yet: `problems` empty)."""
    timing, samples = measurement.timing, measurement.samples
    before, after = samples[0], samples[-1]
    arrivals: list[tuple[float, int]] = timing["arrivals"]
    tenth = len(measured) / 10
    timeline = [next((at, n) for at, n in arrivals if n >= min(k * tenth, len(measured))) for k in range(1, 11)]
    peaks = measurement.peaks_kib or [measurement.rss_peak_kib]
    otlp = measurement.otlp
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
        rss_peak_kib=max(peaks),
        peak_is_this_run=measurement.peak_is_this_run,
        steal_percent=round(
            100 * (after.machine[1] - before.machine[1]) / max(after.machine[2] - before.machine[2], 1), 1
        ),
        machine_busy_percent=round(
            100 * (after.machine[0] - before.machine[0]) / max(after.machine[2] - before.machine[2], 1), 1
        ),
        cesce_requests={route: int(n) for route, n in sorted(measurement.stats.get("byRoute", {}).items())},
        timeline=[(round(at, 3), n) for at, n in timeline],
        halves=halves(samples, timing["start"], timing["seconds"], arrivals),
        regimes=list(regimes),
        jitter_ms=jitter_ms,
        rate_limit=rate_limit,
        processes=processes,
        processes_seen=max(sample.processes for sample in samples),
        loop_cpu_seconds=after.loop_cpu - before.loop_cpu,
        rss_peak_sum_kib=sum(peaks),
        cesce_statuses={status: int(n) for status, n in sorted(measurement.stats.get("byStatus", {}).items())},
        rate_limited=int(measurement.stats.get("faults", {}).get("rateLimited", 0)),
        exit_code=measurement.exit_code,
        client_calls=round(measurement.metrics.get("calls", 0)),
        client_call_seconds=round(measurement.metrics.get("call_seconds", 0.0), 3),
        throttle_waits=round(measurement.metrics.get("throttle_waits", 0)),
        throttle_wait_seconds=round(measurement.metrics.get("throttle_seconds", 0.0), 3),
        loop_lag_samples=round(measurement.metrics.get("lag_samples", 0)),
        loop_lag_seconds=round(measurement.metrics.get("lag_seconds", 0.0), 4),
        mean_in_flight=round(measurement.metrics["in_flight"], 1) if measurement.metrics else None,
        backpressure_share=round(measurement.metrics["backpressure"], 2) if measurement.metrics else None,
        otlp_requests=sum(int(n) for n in otlp.get("requests", {}).values()),
        otlp_kib=round(sum(int(n) for n in otlp.get("bytes", {}).values()) / 1024, 1),
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


def check_ledger(ledger: Mapping[str, Any], produced: Sequence[Invoice]) -> list[str]:
    """The sandbox declared every invoice once (no duplicate-sale key counted twice, one sale each), and each
    debtor's sales reached it in the order the debtor's invoices were produced (the ledger's order)."""
    problems: list[str] = []
    counts = [int(entry["count"]) for entry in ledger.get("byDuplicateKey", [])]
    twice = sum(count != 1 for count in counts)
    if twice:
        problems.append(f"ledger: {twice} invoices were declared more than once")
    sales = ledger.get("sales", [])
    if len(sales) != len(produced):
        problems.append(f"ledger: {len(sales)} sales for {len(produced)} invoices")
    declared: dict[str, list[str]] = defaultdict(list)
    for sale in sales:
        declared[str(sale.get("customerReference"))].append(str(sale.get("invoiceNo")))
    expected: dict[str, list[str]] = defaultdict(list)
    for invoice in produced:
        expected[invoice.debtor].append(invoice.invoice_no)
    reordered = []
    for debtor, invoices in expected.items():
        got = [number for number in declared.get(debtor, []) if number in set(invoices)]
        if got != [number for number in invoices if number in set(got)]:
            reordered.append(debtor)
    if reordered:
        first = reordered[0]
        problems.append(
            f"ledger: the sales of {len(reordered)} debtors reached Cesce out of production order (first "
            f"{first}: {declared[first][:5]}... for {expected[first][:5]}...)"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# The targets and what limited each case

TARGET_RATIO_TO_NAIVE: Final = 25.0
"""20 ms regime: the worker at least 25 times the naive loop's rate (issue 18)."""
TARGET_SHARE_OF_NOMINAL: Final = 0.90
"""200 ms regime: at least 90% of max_in_flight / latency (64 / 200 ms = 320/s)."""
TARGET_SHARE_OF_RATE_LIMIT: Final = 0.90
"""Rate-limited regime: at least 90% of the sandbox's rate limit..."""
TARGET_RATE_LIMITED_SHARE: Final = 0.01
"""... with under 1% of the calls answered 429."""


@dataclass(frozen=True)
class Target:
    """One figure of a regime against its target; `passed` None for a figure shown without a target."""

    regime: str
    figure: str
    value: str
    target: str
    passed: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "-" if self.passed is None else "PASS" if self.passed else "MISS"


def _worker_of(cases: Sequence[Case], regime: str, processes: int | None = None) -> Case | None:
    """The worker case of `regime` (of `processes` engine processes where the regime has several)."""
    return next(
        (
            c
            for c in cases
            if regime in c.regimes and c.system == "worker" and (processes is None or c.processes == processes)
        ),
        None,
    )


def targets(cases: Sequence[Case]) -> list[Target]:
    """Each regime that ran, its figures against the benchmark's targets (the thresholds above)."""
    found: list[Target] = []
    worker = _worker_of(cases, "20ms")
    naive = next((c for c in cases if "20ms" in c.regimes and c.system == "naive"), None)
    if worker is not None and naive is not None:
        ratio = worker.rate / naive.rate
        found.append(
            Target(
                "20ms",
                "worker / naive loop",
                f"{ratio:.1f}x ({worker.rate:.0f}/s / {naive.rate:.1f}/s)",
                f">= {TARGET_RATIO_TO_NAIVE:.0f}x",
                ratio >= TARGET_RATIO_TO_NAIVE,
            )
        )
    if worker is not None:
        found.append(_of_ceiling("20ms", worker))
    slow = _worker_of(cases, "200ms")
    if slow is not None:
        share = slow.rate / slow.nominal_ceiling
        found.append(
            Target(
                "200ms",
                "rate / (max_in_flight / latency)",
                f"{100 * share:.0f}% ({slow.rate:.0f}/s of {slow.nominal_ceiling:.0f}/s)",
                f">= {100 * TARGET_SHARE_OF_NOMINAL:.0f}%",
                share >= TARGET_SHARE_OF_NOMINAL,
                note=f"latency {slow.latency_ms:g} ms +/- {slow.jitter_ms / 2:g} ms" if slow.jitter_ms else "",
            )
        )
    limited = _worker_of(cases, "rate-limited")
    if limited is not None and limited.rate_limit is not None:
        share = limited.rate / limited.rate_limit
        found.append(
            Target(
                "rate-limited",
                "rate / rate limit",
                f"{100 * share:.0f}% ({limited.rate:.0f}/s of {limited.rate_limit:g}/s)",
                f">= {100 * TARGET_SHARE_OF_RATE_LIMIT:.0f}%",
                share >= TARGET_SHARE_OF_RATE_LIMIT,
            )
        )
        found.append(
            Target(
                "rate-limited",
                "calls answered 429",
                f"{100 * limited.rate_limited_share:.2f}% ({limited.rate_limited} of {limited.calls})",
                f"< {100 * TARGET_RATE_LIMITED_SHARE:.0f}%",
                limited.rate_limited_share < TARGET_RATE_LIMITED_SHARE,
            )
        )
    one = _worker_of(cases, "processes", processes=1)
    for case in (c for c in cases if "processes" in c.regimes and c.system == "worker"):
        speedup = f", {case.rate / one.rate:.2f}x the 1-process rate" if one is not None and case is not one else ""
        found.append(
            Target(
                "processes",
                f"{case.processes} process{'es' if case.processes > 1 else ''}",
                f"{case.rate:.0f}/s{speedup}",
                "-",
                None,
                note=f"{case.processes_seen} process{'es' if case.processes_seen > 1 else ''} in the tree"
                + (
                    " (WORKER_PROCESSES not in effect?)"
                    if case.processes_seen < case.processes
                    else " (a supervisor and its engines)"
                    if case.processes > 1
                    else ""
                ),
            )
        )
    return found


def _of_ceiling(regime: str, case: Case) -> Target:
    return Target(
        regime,
        "worker rate / ceiling",
        f"{100 * case.rate / case.ceiling:.0f}% ({case.rate:.0f}/s of {case.ceiling:.0f}/s)",
        "-",
        None,
    )


def limited_by(case: Case, cpus: int) -> str:
    """What most likely bounded `case`'s rate, from its figures: the rate limit, an event loop, the machine's cores,
    the latency ceiling, or none of them (waits: commit interval, fetches, key order)."""
    if case.rate_limit is not None and case.rate >= 0.8 * case.rate_limit:
        return f"the sandbox's rate limit ({case.rate_limit:g}/s)"
    seconds = max(case.seconds, 1e-9)
    engines = max(min(case.processes, case.processes_seen), 1)  # a supervisor's loop idles: not counted
    loop = case.loop_cpu_seconds / seconds / engines
    busy = case.cores_busy()
    if case.system == "worker" and loop >= 0.85:
        return f"the worker's event loop ({loop:.2f} core per loop, {busy:.2f} of {cpus} cores busy)"
    if busy >= 0.85 * cpus:
        return f"the machine's cores ({busy:.2f} of {cpus} busy: worker, sandbox and broker share them)"
    machine = case.machine_busy_percent / 100 * cpus
    if machine >= 0.85 * cpus:
        return (
            f"the machine's cores, shared with other work ({machine:.2f} of {cpus} busy, "
            f"{busy:.2f} of them this case's processes)"
        )
    if case.rate >= 0.8 * case.ceiling:
        return f"the latency: max_in_flight / mean latency = {case.ceiling:.0f}/s"
    waits = (
        f"neither CPU ({busy:.2f} of {cpus} cores, event loop {loop:.2f}) nor the ceiling "
        f"({100 * case.rate / case.ceiling:.0f}%): waits"
    )
    if case.calls_in_air is not None and case.mean_call_ms is not None:
        waits += (
            f"; {case.calls_in_air:.1f} Cesce calls in the air on average of {case.max_in_flight} allowed, "
            f"{case.mean_call_ms:.0f} ms each (the sandbox's mean {case.latency_ms:g} ms)"
        )
    if case.mean_throttle_wait_ms is not None:
        waits += f", after {case.mean_throttle_wait_ms:.0f} ms in the client's throttle"
    if case.mean_loop_lag_ms is not None:
        waits += f"; the event loops ran what was due {case.mean_loop_lag_ms:.1f} ms late on average"
    if case.mean_in_flight is not None:
        waits += f"; {case.mean_in_flight:.1f} records in flight on average"
        if case.backpressure_share:
            waits += f", in-flight full (paused) at {100 * case.backpressure_share:.0f}% of the scrapes"
    return waits


# ---------------------------------------------------------------------------------------------
# What is printed and written


def progress(case: Case) -> str:
    """The lines printed as a case finishes: its rate, its verdict, and its two halves."""
    verdict = "checks ok" if not case.problems else f"{len(case.problems)} checks FAILED"
    lines = [
        f"  {case.name}: {case.invoices} invoices in {case.seconds:.2f} s, {case.rate:.0f}/s; {verdict} "
        f"(machine {case.machine_busy_percent:.0f}% busy, stolen by the hypervisor {case.steal_percent:.0f}%)\n"
    ]
    lines += [
        f"    {which} half: {half['rate_per_second']:.0f}/s; cores busy: {case.system} {half['process_cores']:.2f} "
        f"(event loops {half['event_loop_cores']:.2f}), sandbox {half['sandbox_cores']:.2f}, "
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
        "loop cores",
        "sandbox ms/inv",
        "broker ms/inv",
        "procs",
        "in flight",
        "in air",
        "call ms",
        "throttle ms",
        "loop lag ms",
        "peak RSS MiB max/sum",
        "429s",
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
            f"{case.loop_cpu_seconds / case.seconds:.2f}",
            f"{case.per_invoice_ms(case.sandbox_cpu_seconds):.2f}",
            f"{case.per_invoice_ms(case.broker_cpu_seconds):.2f}",
            str(case.processes_seen),
            f"{case.mean_in_flight:.1f}" if case.mean_in_flight is not None else "-",
            f"{case.calls_in_air:.1f}" if case.calls_in_air is not None else "-",
            f"{case.mean_call_ms:.1f}" if case.mean_call_ms is not None else "-",
            f"{case.mean_throttle_wait_ms:.1f}" if case.mean_throttle_wait_ms is not None else "-",
            f"{case.mean_loop_lag_ms:.1f}" if case.mean_loop_lag_ms is not None else "-",
            f"{case.rss_peak_kib / 1024:.0f}/{case.rss_peak_sum_kib / 1024:.0f}",
            f"{case.rate_limited}/{case.calls}",
        )
        for case in cases
    ]
    return columns([head, *rows])


def target_table(found: Sequence[Target]) -> str:
    head = ("regime", "figure", "value", "target", "verdict")
    rows = [(t.regime, t.figure, t.value + (f"; {t.note}" if t.note else ""), t.target, t.verdict) for t in found]
    return columns([head, *rows])


def conclusions(cases: Sequence[Case], cpus: int) -> list[str]:
    """The lines under the tables: what limited each case, and the naive loop's breakdown if it ran."""
    lines = [f"{case.name}: limited by {limited_by(case, cpus)}" for case in cases]
    naive = next((c for c in cases if c.system == "naive"), None)
    if naive is not None and naive.breakdown_ms:
        lines.append(
            "naive loop per invoice: " + ", ".join(f"{step} {ms:.1f} ms" for step, ms in naive.breakdown_ms.items())
        )
    return lines


def problems(cases: Sequence[Case]) -> list[str]:
    """Every case's failed checks, each led by the case's name."""
    return [f"{case.name}: {problem}" for case in cases for problem in case.problems]


def document(
    parameters: Mapping[str, Any], machine: Mapping[str, Any], cases: Sequence[Case], wall_seconds: float
) -> dict[str, Any]:
    """The JSON results: the parameters, the machine, every case, the targets, the checks."""
    failed = problems(cases)
    found = targets(cases)
    cpus = int(machine.get("cpus") or 1)
    return {
        "parameters": dict(parameters),
        "machine": dict(machine),
        "cases": [case.summary() | {"limited_by": limited_by(case, cpus)} for case in cases],
        "targets": [asdict(t) | {"verdict": t.verdict} for t in found],
        "targets_met": all(t.passed is not False for t in found),
        "checks_passed": not failed,
        "problems": failed,
        "wall_seconds": round(wall_seconds, 1),
    }
