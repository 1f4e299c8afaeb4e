"""The memory benchmark's pure parts (`benchmarks.bench_memory`): /proc status, the steady value, the rate."""

from __future__ import annotations

import os

from benchmarks.bench_memory import ProcessMemory, in_flight, parse_status, process_tree, rate, steady

_STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t 1894560 kB
VmSize:\t 1829024 kB
VmHWM:\t  151234 kB
VmRSS:\t  118000 kB
RssAnon:\t  101000 kB
RssFile:\t   17000 kB
Threads:\t22
voluntary_ctxt_switches:\t120
"""


def test_parse_status_reads_the_kib_fields() -> None:
    fields = parse_status(_STATUS)
    assert fields["VmHWM"] == 151234
    assert fields["VmRSS"] == 118000
    assert fields["RssAnon"] == 101000
    assert "Threads" not in fields  # a count, not a size
    assert "Pid" not in fields


def test_parse_status_of_this_process() -> None:
    with open(f"/proc/{os.getpid()}/status") as status:
        fields = parse_status(status.read())
    assert 0 < fields["VmRSS"] <= fields["VmHWM"]


def test_process_tree_starts_with_the_process() -> None:
    assert process_tree(os.getpid())[0] == os.getpid()


def test_a_process_peak_is_the_highest_the_kernel_reported() -> None:
    memory = ProcessMemory(1)
    memory.add({"VmRSS": 100, "VmHWM": 150})
    memory.add({"VmRSS": 120, "VmHWM": 140})  # a peak reset between samples does not lower ours
    memory.add({"VmRSS": 90})
    assert memory.peak_kib == 150
    assert memory.rss_kib == [100, 120, 90]


def test_steady_is_the_median_of_the_last_third() -> None:
    assert steady([]) == 0
    assert steady([5]) == 5
    assert steady([10, 200, 300, 100, 101, 102, 103, 104, 105]) == 104  # the climb at the start is left out
    assert steady([1, 1, 1, 7, 9, 8]) == 8


def test_rate_counts_from_the_first_declaration_to_the_window_end() -> None:
    seconds = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rate(seconds, [0, 0, 10, 30, 50], backlog=1000) == {
        "invoices_per_second": 20.0,
        "over_seconds": 2.0,
        "backlog_ran_out": False,
    }


def test_rate_stops_where_the_backlog_ran_out() -> None:
    seconds = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rate(seconds, [0, 10, 60, 100, 100], backlog=100) == {
        "invoices_per_second": 45.0,
        "over_seconds": 2.0,
        "backlog_ran_out": True,
    }


def test_rate_without_any_declaration() -> None:
    assert rate([0.0, 1.0], [0, 0], backlog=10)["invoices_per_second"] == 0.0


_METRICS = """# HELP cesce_worker_in_flight Records being handled (consumed, not yet finished)
# TYPE cesce_worker_in_flight gauge
cesce_worker_in_flight{otel_scope_name="cesce-workers",otel_scope_version="",worker="invoices.rekey"} 3.0
cesce_worker_in_flight{otel_scope_name="cesce-workers",otel_scope_version="",worker="invoices"} 64.0
cesce_worker_paused{otel_scope_name="cesce-workers",reason="backpressure",worker="invoices"} 1.0
"""


def test_in_flight_reads_each_engines_gauge() -> None:
    assert in_flight(_METRICS) == {"invoices.rekey": 3, "invoices": 64}
    assert in_flight("") == {}
