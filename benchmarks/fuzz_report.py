"""The fuzz harness's plan, what it keeps of every record, its figures and its checks (pure; no Kafka here).

`FuzzPlan` is a run's parameters and the embedded broker's budget they must respect; `Fate` is
what became of one produced record (its outputs, each an `Output`); `tally` turns the fates into
a `FuzzReport`, `problems` says which guarantee broke, `table` prints it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from benchmarks.fuzz_process import LOG_LINE_LIMIT
from benchmarks.services import MOCK_PARTITION_BATCHES, MOCK_PARTITION_BYTES, columns
from workers.runtime.dlq import DESCRIPTION_LIMIT, ERROR_CODE_LIMIT

__all__ = [
    "DEAD_LETTER_OVERHEAD_LIMIT",
    "MIB",
    "Fate",
    "FuzzPlan",
    "FuzzReport",
    "Output",
    "cesce_figures",
    "digest",
    "problems",
    "table",
    "tally",
]

MIB: Final = 1024 * 1024
PRODUCER_MAX_BYTES: Final = 1_000_000
"""librdkafka's default ``message.max.bytes``: the largest record our producer, or the worker's, sends."""
DEAD_LETTER_OVERHEAD_LIMIT: Final = 4096
"""Bytes a dead letter may add to its input (our headers), its description and code being bounded."""
_SMALL_RECORD_MAX: Final = 128 * 1024
"""The largest record that is not one of the big ones (a huge key, a large header, a deep nesting)."""
_ENVELOPE_SLACK: Final = 4096


@dataclass(frozen=True)
class FuzzPlan:
    hostile: int = 100_000
    valid: int = 1000
    big: int = 8
    big_bytes: int = 900_000
    seed: int = 1
    debtors: int = 100
    latency_ms: float = 0.0
    max_in_flight: int = 64
    window_bytes: int = MIB
    window_records: int = 750
    stall_seconds: float = 60.0
    rss_growth_mib: float = 64.0

    def largest_record(self) -> int:
        return max(self.big_bytes + _ENVELOPE_SLACK if self.big else 0, _SMALL_RECORD_MAX)

    def worst_unread_bytes(self) -> int:
        """The most one partition can hold unread: the window's input (or one record larger than it) and,
        in the dead-letter topic, the same plus our headers on each of the window's records."""
        return max(self.window_bytes, self.largest_record()) + self.window_records * DEAD_LETTER_OVERHEAD_LIMIT

    def budget_problems(self) -> list[str]:
        """Why this plan cannot run on the embedded broker without losing records; empty when it can."""
        found = []
        if self.worst_unread_bytes() > MOCK_PARTITION_BYTES:
            found.append(
                f"up to {self.worst_unread_bytes() / MIB:.1f} MiB could be unread in one partition, more than the "
                f"{MOCK_PARTITION_BYTES // MIB} MiB the embedded broker keeps: lower --window-bytes or --window-records"
            )
        if self.window_records >= MOCK_PARTITION_BATCHES:
            found.append(f"--window-records must stay below the mock's {MOCK_PARTITION_BATCHES} batches")
        if self.largest_record() > PRODUCER_MAX_BYTES:
            found.append(f"--big-bytes {self.big_bytes}: a record over {PRODUCER_MAX_BYTES} bytes cannot be produced")
        return found


@dataclass(frozen=True, slots=True)
class Output:
    """A result or a dead letter, as much of it as the checks need."""

    dead_letter: bool
    digest: bytes
    """Of its key and value: a dead letter carries its input's unchanged."""
    size: int
    category: str | None = None
    reason_ok: bool = False
    """Exactly one non-empty dlq.category, dlq.error.code and dlq.error.description."""
    code: str | None = None
    description_bytes: int = 0
    code_bytes: int = 0
    outcome: str | None = None
    invoice_no: str | None = None
    names: tuple[str, int, int] | None = None
    """A result's sourceTopic, sourcePartition and sourceOffset: the ERP change record it answers."""


@dataclass
class Fate:
    """A produced record and what became of it."""

    kind: str
    expect: frozenset[str]
    size: int
    digest: bytes
    invoice_no: str | None
    outputs: list[Output] = field(default_factory=list)


def digest(key: bytes | None, value: bytes | None) -> bytes:
    """A short fingerprint of a key and a value (None and empty told apart)."""
    hasher = hashlib.blake2b(digest_size=12)
    for part in (key, value):
        hasher.update(b"\x00" if part is None else b"\x01" + len(part).to_bytes(8, "big") + part)
    return hasher.digest()


@dataclass
class FuzzReport:
    """One run's figures; `problems` is empty when every guarantee held."""

    plan: FuzzPlan
    seconds: float = 0.0
    produced: int = 0
    produced_bytes: int = 0
    largest_record_bytes: int = 0
    hostile: int = 0
    valid: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    hostile_dead_lettered: int = 0
    """Hostile records with exactly one dead letter giving a reason, of the category expected, the input unchanged."""
    hostile_wrong_category: dict[str, int] = field(default_factory=dict)
    hostile_published: int = 0
    hostile_missing: int = 0
    valid_results: int = 0
    """Valid invoices with exactly one output: a DECLARED result naming the invoice."""
    valid_missing: int = 0
    duplicates: int = 0
    unmatched_outputs: int = 0
    misnamed_results: int = 0
    """Results whose sourceTopic/sourcePartition/sourceOffset name another record than their input."""
    delivery_failures: list[str] = field(default_factory=list)
    dead_letters_by_category: dict[str, int] = field(default_factory=dict)
    dead_letters_by_code: dict[str, int] = field(default_factory=dict)
    largest_description_bytes: int = 0
    largest_code_bytes: int = 0
    largest_dead_letter_overhead: int = 0
    crashes: int = 0
    crash_details: list[str] = field(default_factory=list)
    stalled: bool = False
    rss_start_kib: int = 0
    rss_after_10_percent_kib: int = 0
    rss_end_kib: int = 0
    rss_peak_kib: int = 0
    worker_cpu_seconds: float = 0.0
    log: dict[str, Any] = field(default_factory=dict)
    cesce: dict[str, Any] = field(default_factory=dict)
    broker: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def rss_growth_mib(self) -> float:
        return (self.rss_end_kib - self.rss_after_10_percent_kib) / 1024

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {"checks_passed": not self.problems}


def tally(report: FuzzReport, fates: Sequence[Fate]) -> None:
    """Fill `report`'s record counts from what became of each record."""
    report.produced = len(fates)
    report.produced_bytes = sum(f.size for f in fates)
    report.largest_record_bytes = max((f.size for f in fates), default=0)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    wrong: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for fate in fates:
        counts = by_kind[fate.kind]
        counts["produced"] += 1
        letters = [o for o in fate.outputs if o.dead_letter]
        results = [o for o in fate.outputs if not o.dead_letter]
        report.duplicates += max(0, len(fate.outputs) - 1)
        for letter in letters:
            categories[letter.category or "none"] += 1
            codes[letter.code or "none"] += 1
            report.largest_description_bytes = max(report.largest_description_bytes, letter.description_bytes)
            report.largest_code_bytes = max(report.largest_code_bytes, letter.code_bytes)
            report.largest_dead_letter_overhead = max(report.largest_dead_letter_overhead, letter.size - fate.size)
        only = fate.outputs[0] if len(fate.outputs) == 1 else None
        if fate.expect:
            report.hostile += 1
            report.hostile_published += bool(results)
            report.hostile_missing += not fate.outputs
            if only is not None and only.dead_letter and only.reason_ok and only.digest == fate.digest:
                if only.category in fate.expect:
                    report.hostile_dead_lettered += 1
                    counts["as expected"] += 1
                else:
                    wrong[f"{fate.kind}: {only.category}"] += 1
        else:
            report.valid += 1
            report.valid_missing += not fate.outputs
            if (
                only is not None
                and not only.dead_letter
                and (only.outcome, only.invoice_no)
                == (
                    "DECLARED",
                    fate.invoice_no,
                )
            ):
                report.valid_results += 1
                counts["as expected"] += 1
    report.by_kind = {kind: dict(counts) for kind, counts in sorted(by_kind.items())}
    report.hostile_wrong_category = dict(wrong)
    report.dead_letters_by_category = dict(categories.most_common())
    report.dead_letters_by_code = dict(codes.most_common(25))


def cesce_figures(stats: Mapping[str, Any], ledger: Mapping[str, Any], fates: Iterable[Fate]) -> dict[str, Any]:
    """The sandbox's request counts and ledger against the valid invoices: every call beyond one declaration
    per valid invoice was made for invalid input."""
    api = {route: int(n) for route, n in stats.get("byRoute", {}).items() if "/oauth2/" not in route}
    valid = {f.invoice_no for f in fates if not f.expect}
    sales = Counter(str(sale.get("invoiceNo")) for sale in ledger.get("sales", []))
    declared_once = sum(1 for invoice in valid if sales.get(str(invoice)) == 1)
    calls = sum(api.values())
    return {
        "api_calls": calls,
        "api_calls_by_route": api,
        "answers_by_status": dict(stats.get("byStatus", {})),
        "valid_declared_once": declared_once,
        "calls_for_invalid_input": calls - declared_once,
        "ledger_sales_not_from_valid_invoices": sum(n for invoice, n in sales.items() if invoice not in valid),
        "refused_answers": {s: n for s, n in stats.get("byStatus", {}).items() if not str(s).startswith("2")},
    }


def problems(report: FuzzReport) -> list[str]:  # noqa: PLR0912 - one branch per guarantee
    """Every guarantee the run broke, in words; empty when all held."""
    plan, cesce, found = report.plan, report.cesce, list(report.problems)
    if report.crashes:
        found.append(f"the worker crashed {report.crashes} time(s): {report.crash_details[0][:300]}")
    if report.stalled:
        found.append(
            f"the worker answered nothing for {plan.stall_seconds:.0f} s "
            f"('transaction aborted' logged {report.log.get('transaction_aborted_lines', 0)} times)"
        )
    if report.produced != plan.hostile + plan.valid or report.delivery_failures:
        found.append(f"{report.produced} records produced; failed deliveries: {report.delivery_failures[:3]}")
    if report.hostile_dead_lettered != report.hostile:
        found.append(
            f"{report.hostile - report.hostile_dead_lettered} of {report.hostile} hostile records not dead-lettered "
            f"once with a reason ({report.hostile_missing} unanswered, {report.hostile_published} published; "
            f"wrong category: {dict(list(report.hostile_wrong_category.items())[:5])})"
        )
    if report.valid_results != report.valid:
        found.append(
            f"{report.valid - report.valid_results} of {report.valid} valid invoices without exactly one DECLARED "
            f"result ({report.valid_missing} unanswered)"
        )
    if report.duplicates or report.unmatched_outputs:
        found.append(f"{report.duplicates} duplicate outputs, {report.unmatched_outputs} naming no produced input")
    if report.misnamed_results:
        found.append(f"{report.misnamed_results} results name another record than their input (sourceTopic...)")
    if report.largest_description_bytes > DESCRIPTION_LIMIT or report.largest_code_bytes > ERROR_CODE_LIMIT:
        found.append(
            f"a dead letter's description ({report.largest_description_bytes} bytes) or code "
            f"({report.largest_code_bytes} bytes) is over its bound"
        )
    if report.largest_dead_letter_overhead > DEAD_LETTER_OVERHEAD_LIMIT:
        found.append(f"a dead letter is {report.largest_dead_letter_overhead} bytes larger than its input")
    if cesce.get("calls_for_invalid_input") or cesce.get("ledger_sales_not_from_valid_invoices"):
        found.append(
            f"Cesce was called for invalid input: {cesce.get('calls_for_invalid_input')} calls beyond one "
            f"declaration per valid invoice, {cesce.get('ledger_sales_not_from_valid_invoices')} other sales"
        )
    if cesce.get("refused_answers"):
        found.append(f"Cesce refused calls: {cesce['refused_answers']}")
    if not report.rss_after_10_percent_kib or report.rss_growth_mib > plan.rss_growth_mib:
        found.append(
            f"worker RSS {report.rss_after_10_percent_kib / 1024:.0f} MiB after 10% of the hostile records, "
            f"{report.rss_end_kib / 1024:.0f} MiB at the end: more than {plan.rss_growth_mib:.0f} MiB of growth"
        )
    if report.log.get("longest_line_bytes", 0) > LOG_LINE_LIMIT:
        found.append(f"the worker logged a line of {report.log['longest_line_bytes']} bytes (> {LOG_LINE_LIMIT})")
    if report.broker.get("dropped_before_read"):
        found.append(f"the broker dropped records before they were read: {report.broker['dropped_before_read'][:3]}")
    return found


def _row(name: str, figure: str, ok: bool) -> tuple[str, str, str]:
    return name, figure, "ok" if ok else "FAILED"


def table(report: FuzzReport) -> str:
    """The guarantees, then the records by kind."""
    cesce, broker, log = report.cesce, report.broker, report.log
    rows = [
        ("guarantee", "figure", "check"),
        _row("crashes (worker exits)", f"{report.crashes}", not report.crashes),
        _row(
            "hostile records dead-lettered with a reason",
            f"{report.hostile_dead_lettered:,} / {report.hostile:,}",
            report.hostile_dead_lettered == report.hostile,
        ),
        _row(
            "valid invoices with exactly one result",
            f"{report.valid_results:,} / {report.valid:,}",
            report.valid_results == report.valid,
        ),
        _row("outputs beyond one per input", f"{report.duplicates}", not report.duplicates),
        _row("results naming another record", f"{report.misnamed_results}", not report.misnamed_results),
        _row(
            "Cesce calls for invalid input",
            f"{cesce.get('calls_for_invalid_input')} ({cesce.get('api_calls')} calls, "
            f"{cesce.get('valid_declared_once')} valid invoices declared once)",
            not cesce.get("calls_for_invalid_input") and not cesce.get("refused_answers"),
        ),
        _row(
            "worker RSS after 10% / at the end / peak",
            f"{report.rss_after_10_percent_kib / 1024:.0f} / {report.rss_end_kib / 1024:.0f} / "
            f"{report.rss_peak_kib / 1024:.0f} MiB ({report.rss_growth_mib:+.1f} MiB)",
            report.rss_after_10_percent_kib > 0 and report.rss_growth_mib <= report.plan.rss_growth_mib,
        ),
        _row(
            "largest dead-letter description / code",
            f"{report.largest_description_bytes:,} / {report.largest_code_bytes} bytes "
            f"(bounds {DESCRIPTION_LIMIT:,} / {ERROR_CODE_LIMIT})",
            report.largest_description_bytes <= DESCRIPTION_LIMIT and report.largest_code_bytes <= ERROR_CODE_LIMIT,
        ),
        _row(
            "largest dead letter minus its input",
            f"{report.largest_dead_letter_overhead:,} bytes (largest input {report.largest_record_bytes:,})",
            report.largest_dead_letter_overhead <= DEAD_LETTER_OVERHEAD_LIMIT,
        ),
        _row(
            "longest worker log line",
            f"{log.get('longest_line_bytes', 0):,} bytes of {log.get('lines', 0):,} lines",
            log.get("longest_line_bytes", 0) <= LOG_LINE_LIMIT,
        ),
        _row(
            "records the broker dropped before they were read",
            f"{len(broker.get('dropped_before_read', []))} (at most {broker.get('worst_unread_per_partition_mib')} "
            f"MiB unread per partition, of the {MOCK_PARTITION_BYTES // MIB} MiB kept)",
            not broker.get("dropped_before_read"),
        ),
    ]
    kinds = [("kind", "produced", "as expected")] + [
        (kind, f"{counts.get('produced', 0):,}", f"{counts.get('as expected', 0):,}")
        for kind, counts in report.by_kind.items()
    ]
    return columns(rows) + "\n\n" + columns(kinds)
