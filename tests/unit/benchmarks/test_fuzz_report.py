"""The fuzz harness's verdicts: each broken guarantee is a problem, and a clean run has none (no Kafka here)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.fuzz_records import DESERIALIZATION, VALIDATION, FuzzInput
from benchmarks.fuzz_report import Fate, FuzzPlan, FuzzReport, Output, cesce_figures, digest, problems, tally

PLAN = FuzzPlan(hostile=2, valid=1, big=0)
HOSTILE = digest(b"k", b"\x00garbage")
VALID = digest(b"BENCH-0001", b"{}")


def letter(category: str = "deserialization", **changes: object) -> Output:
    fields: dict[str, object] = {
        "dead_letter": True,
        "digest": HOSTILE,
        "size": 700,
        "category": category,
        "reason_ok": True,
        "code": "not-json",
        "description_bytes": 40,
        "code_bytes": 8,
    }
    return Output(**(fields | changes))  # type: ignore[arg-type]


def declared(invoice_no: str = "R-V000000") -> Output:
    return Output(dead_letter=False, digest=digest(b"x", b"y"), size=300, outcome="DECLARED", invoice_no=invoice_no)


def fates(hostile: list[list[Output]], valid: list[list[Output]]) -> list[Fate]:
    made = [Fate("random-bytes", DESERIALIZATION, 100, HOSTILE, None, outputs) for outputs in hostile]
    return made + [Fate("valid-json", frozenset(), 200, VALID, "R-V000000", outputs) for outputs in valid]


def report_of(found: list[Fate], **changes: object) -> FuzzReport:
    report = FuzzReport(
        PLAN,
        rss_after_10_percent_kib=100_000,
        rss_end_kib=101_000,
        rss_peak_kib=120_000,
        log={"longest_line_bytes": 600, "lines": 3},
        cesce={"api_calls": 1, "valid_declared_once": 1, "calls_for_invalid_input": 0, "refused_answers": {}},
        broker={"dropped_before_read": []},
    )
    tally(report, found)
    return replace(report, **changes)  # type: ignore[arg-type]


def test_a_clean_run_has_no_problem() -> None:
    report = report_of(fates([[letter()], [letter()]], [[declared()]]))

    assert problems(report) == []
    assert (report.hostile_dead_lettered, report.valid_results) == (2, 1)
    assert report.by_kind == {
        "random-bytes": {"produced": 2, "as expected": 2},
        "valid-json": {"produced": 1, "as expected": 1},
    }


@pytest.mark.parametrize(
    ("hostile", "valid", "words"),
    [
        ([[letter()], []], [[declared()]], "not dead-lettered"),  # one unanswered
        ([[letter()], [letter("validation")]], [[declared()]], "wrong category"),
        ([[letter()], [letter(reason_ok=False)]], [[declared()]], "not dead-lettered"),  # no reason given
        ([[letter()], [letter(digest=b"changed")]], [[declared()]], "not dead-lettered"),  # value not kept
        ([[letter()], [declared("H")]], [[declared()]], "1 published"),
        ([[letter()], [letter()]], [[]], "valid invoices without"),  # the wedge: a valid invoice unanswered
        ([[letter()], [letter()]], [[letter()]], "valid invoices without"),
        ([[letter()], [letter()]], [[declared("another")]], "valid invoices without"),
        ([[letter()], [letter()]], [[declared(), declared()]], "duplicate"),
        ([[letter()], [letter(description_bytes=5000)]], [[declared()]], "over its bound"),
    ],
)
def test_each_broken_guarantee_is_a_problem(hostile: list[list[Output]], valid: list[list[Output]], words: str) -> None:
    found = problems(report_of(fates(hostile, valid)))

    assert any(words in problem for problem in found), found


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"crashes": 1, "crash_details": ["exit code -11"]}, "crashed"),
        ({"stalled": True}, "answered nothing"),
        ({"rss_end_kib": 200_000}, "growth"),
        ({"rss_after_10_percent_kib": 0}, "growth"),
        ({"log": {"longest_line_bytes": 2_000_000}}, "logged a line"),
        ({"broker": {"dropped_before_read": ["erp.invoices[0]"]}}, "dropped records before"),
        ({"cesce": {"calls_for_invalid_input": 3, "ledger_sales_not_from_valid_invoices": 0}}, "invalid input"),
        ({"cesce": {"calls_for_invalid_input": 0, "refused_answers": {"422": 1}}}, "refused"),
        ({"misnamed_results": 1}, "name another record"),
    ],
)
def test_each_broken_bound_is_a_problem(changes: dict[str, object], words: str) -> None:
    found = problems(report_of(fates([[letter()], [letter()]], [[declared()]]), **changes))

    assert any(words in problem for problem in found), found


def test_calls_beyond_one_declaration_per_valid_invoice_are_for_invalid_input() -> None:
    found = fates([[letter()], [letter()]], [[declared()]])
    stats = {
        "byRoute": {"POST /oauth2/v1/token": 1, "POST /sales/v1/contracts/{contractNo}/sales": 4},
        "byStatus": {"201": 1, "422": 3},
    }
    ledger = {"sales": [{"invoiceNo": "R-V000000"}, {"invoiceNo": "R-H000007"}]}

    figures = cesce_figures(stats, ledger, found)

    assert figures["api_calls"] == 4  # the token is not an API call
    assert figures["valid_declared_once"] == 1
    assert figures["calls_for_invalid_input"] == 3
    assert figures["ledger_sales_not_from_valid_invoices"] == 1
    assert figures["refused_answers"] == {"422": 3}


def test_the_plan_refuses_a_window_the_broker_cannot_keep() -> None:
    assert FuzzPlan().budget_problems() == []
    assert FuzzPlan(window_records=5000).budget_problems()
    assert FuzzPlan(big_bytes=2_000_000).budget_problems()


def test_the_input_is_the_same_for_the_same_seed_and_mixes_every_kind() -> None:
    def make(seed: int) -> list[tuple[str, bytes | None, frozenset[str]]]:
        records = FuzzInput(
            hostile=300, valid=30, big=2, big_bytes=1000, debtors=5, seed=seed, run="T", registry_url="mock://t"
        )
        return [(r.kind, r.value, r.expect) for r in records.records()]

    first = make(7)
    assert len(first) == 330
    assert sum(1 for _, _, expect in first if not expect) == 30
    assert sum(1 for kind, _, _ in first if kind.startswith("big-")) == 2
    assert {expect for _, _, expect in first} == {frozenset(), DESERIALIZATION, VALIDATION}
    assert [(k, e) for k, _, e in make(7)] == [(k, e) for k, _, e in first]
    assert make(8) != first
