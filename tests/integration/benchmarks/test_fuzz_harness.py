"""The fuzz harness in short (a few hundred records): the invoices worker keeps every guarantee on hostile input.

It runs `benchmarks.fuzz_invoices.run_fuzz` itself, the same code as the full run, on its own broker,
sandbox and worker processes (stopped by the harness, whatever happens), and asserts each guarantee
on the figures, not only the harness's verdict.
"""

from __future__ import annotations

import pytest

from benchmarks.fuzz_invoices import FuzzPlan, run_fuzz
from benchmarks.fuzz_process import LOG_LINE_LIMIT
from benchmarks.fuzz_records import HOSTILE_KINDS
from workers.runtime.dlq import DESCRIPTION_LIMIT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# a seed whose 400 records draw every hostile kind (deep nesting has 1% of the weight) and every valid shape
PLAN = FuzzPlan(hostile=400, valid=40, big=2, seed=16, debtors=20, stall_seconds=30.0)


def test_a_few_hundred_hostile_records_keep_every_guarantee() -> None:
    lines: list[str] = []
    report = run_fuzz(PLAN, say=lines.append)

    assert report.problems == [], "\n".join([*report.problems, *lines])
    # no crash, nothing left unanswered
    assert report.crashes == 0
    assert not report.stalled
    assert report.produced == PLAN.hostile + PLAN.valid
    # every hostile record: one dead letter with a reason, of its kind's category; none published
    assert report.hostile == PLAN.hostile
    assert report.hostile_dead_lettered == PLAN.hostile
    assert report.hostile_published == report.hostile_missing == 0
    assert not report.hostile_wrong_category
    assert set(report.dead_letters_by_category) <= {"deserialization", "validation"}
    assert sum(report.dead_letters_by_category.values()) == PLAN.hostile
    assert {kind for kind in report.by_kind if kind.startswith("big-")}, "the big records were in the mix"
    assert set(HOSTILE_KINDS) <= set(report.by_kind), "every kind was drawn"
    # every valid invoice, full envelopes and unwrapped rows alike: exactly one DECLARED result, nothing twice,
    # each result naming the ERP change record (not the re-keyed copy the worker read)
    assert {"valid-unwrapped-json", "valid-unwrapped-avro"} <= set(report.by_kind)
    assert report.valid_results == report.valid == PLAN.valid
    assert report.duplicates == report.unmatched_outputs == report.misnamed_results == 0
    # Cesce saw one declaration per valid invoice and nothing else
    assert report.cesce["api_calls"] == report.cesce["valid_declared_once"] == PLAN.valid
    assert report.cesce["calls_for_invalid_input"] == 0
    assert report.cesce["ledger_sales_not_from_valid_invoices"] == 0
    assert not report.cesce["refused_answers"]
    # bounded: memory, dead letters, log lines
    assert 0 < report.rss_after_10_percent_kib <= report.rss_peak_kib
    assert report.rss_growth_mib <= PLAN.rss_growth_mib
    assert report.largest_record_bytes > PLAN.big_bytes  # a big one went through...
    assert 0 < report.largest_description_bytes <= DESCRIPTION_LIMIT  # ...and its dead letter stayed small
    assert report.largest_dead_letter_overhead < 4096
    assert 0 < report.log["longest_line_bytes"] <= LOG_LINE_LIMIT
    # the broker never dropped a record before it was read, and the worker stopped cleanly when asked
    assert report.broker["dropped_before_read"] == []
    assert report.log["exit_code_on_sigterm"] == 0
