"""The worker's process tree as the invoices benchmark follows it (`benchmarks.bench_measure`), on a made-up ``/proc``.

CPU seconds are utime + stime of every process of the tree, descendants found again at each sample
(a supervisor's engines appear after it), a process that exited keeping what it had when last seen;
the event loop's are each process's main thread; the peak RSS is each process's VmHWM. And the
worker's environment: this process's minus the worker's own variables, telemetry as in production.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.bench_measure import (
    MetricsPoller,
    ProcessTree,
    Usage,
    parse_children,
    parse_peak_kib,
    worker_env,
    worker_metrics,
)
from benchmarks.services import stat_cpu_seconds

TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid: int, utime: int, stime: int, name: str = "python") -> str:
    """A /proc/<pid>/stat line: fields 14 and 15 are utime and stime, in clock ticks."""
    return f"{pid} ({name}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 100 1000 50\n"


def make_process(proc: Path, pid: int, *, cpu: int, loop: int, peak: int | None, children: list[int]) -> None:
    folder = proc / str(pid)
    (folder / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    (folder / "task" / str(pid + 1000)).mkdir(exist_ok=True)  # another thread (librdkafka's)
    (folder / "stat").write_text(stat(pid, cpu, 0))
    (folder / "task" / str(pid) / "stat").write_text(stat(pid, loop, 0))
    (folder / "task" / str(pid) / "children").write_text(" ".join(map(str, children[:1])))
    (folder / "task" / str(pid + 1000) / "children").write_text(" ".join(map(str, children[1:])))
    vm = f"VmHWM:\t  {peak} kB\nVmRSS:\t  {peak // 2} kB\n" if peak is not None else ""
    (folder / "status").write_text(f"Name:\tpython\n{vm}Threads:\t3\n")


def remove_process(proc: Path, pid: int) -> None:
    for path in sorted((proc / str(pid)).rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (proc / str(pid)).rmdir()


def test_a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    assert stat_cpu_seconds(stat(7, 3 * TICKS, 2 * TICKS, name="a (b) c")) == 5.0


def test_children_and_peak_are_parsed() -> None:
    assert parse_children("12 13 \n") == [12, 13]
    assert parse_children("") == []
    assert parse_peak_kib("Name:\tx\nVmPeak:\t 900 kB\nVmHWM:\t  123 kB\n") == 123
    assert parse_peak_kib("Name:\tzombie\nState:\tZ\n") is None


def test_the_tree_sums_its_processes_follows_newcomers_and_keeps_the_departed(tmp_path: Path) -> None:
    make_process(tmp_path, 100, cpu=2 * TICKS, loop=TICKS, peak=50_000, children=[])
    tree = ProcessTree(100, proc=tmp_path)
    assert tree.sample() == Usage(cpu=2.0, loop_cpu=1.0, processes=1)

    # a supervisor's two engines appear, one listed under each of its threads
    make_process(tmp_path, 100, cpu=3 * TICKS, loop=TICKS, peak=50_000, children=[200, 300])
    make_process(tmp_path, 200, cpu=4 * TICKS, loop=3 * TICKS, peak=90_000, children=[])
    make_process(tmp_path, 300, cpu=5 * TICKS, loop=4 * TICKS, peak=None, children=[])  # a zombie has no memory
    assert tree.pids() == [100, 200, 300]
    assert tree.sample() == Usage(cpu=12.0, loop_cpu=8.0, processes=3)
    assert tree.peaks_kib == {100: 50_000, 200: 90_000}

    # one exits: what it had used stays counted, the others go on
    remove_process(tmp_path, 300)
    make_process(tmp_path, 100, cpu=3 * TICKS, loop=TICKS, peak=40_000, children=[200, 300])
    make_process(tmp_path, 200, cpu=6 * TICKS, loop=4 * TICKS, peak=95_000, children=[])
    assert tree.sample() == Usage(cpu=14.0, loop_cpu=9.0, processes=2)
    assert tree.peaks_kib == {100: 50_000, 200: 95_000}  # a peak never goes down


def test_a_tree_whose_root_is_gone_counts_what_it_saw(tmp_path: Path) -> None:
    make_process(tmp_path, 100, cpu=TICKS, loop=TICKS, peak=10, children=[])
    tree = ProcessTree(100, proc=tmp_path)
    tree.sample()
    remove_process(tmp_path, 100)
    assert tree.sample() == Usage(cpu=1.0, loop_cpu=1.0, processes=0)


def test_the_worker_environment_replaces_the_inherited_settings_and_installs_telemetry() -> None:
    env = worker_env(
        {"WORKER_PROCESSES": "2", "INVOICES_KEYED_BY_DEBTOR": "true"},
        bootstrap="127.0.0.1:9092",
        registry_url="http://127.0.0.1:8081",
        cesce={"CESCE_BASE_URL": "https://127.0.0.1:8443"},
        otlp_url="http://127.0.0.1:4318",
        inherited={
            "PATH": "/usr/bin",
            "WORKER_MAX_IN_FLIGHT": "1",
            "OTEL_SDK_DISABLED": "true",
            "KAFKA_DEBUG": "all",
            "LOG_LEVEL": "DEBUG",
            "INVOICES_TOPIC": "elsewhere",
        },
    )
    assert env["PATH"] == "/usr/bin"
    for inherited in ("WORKER_MAX_IN_FLIGHT", "OTEL_SDK_DISABLED", "KAFKA_DEBUG", "LOG_LEVEL", "INVOICES_TOPIC"):
        assert inherited not in env
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert env["SCHEMA_REGISTRY_URL"] == "http://127.0.0.1:8081"
    assert (env["WORKER_PROCESSES"], env["INVOICES_KEYED_BY_DEBTOR"]) == ("2", "true")
    assert env["CESCE_BASE_URL"] == "https://127.0.0.1:8443"
    assert (env["OTEL_TRACES_EXPORTER"], env["OTEL_METRICS_EXPORTER"]) == ("otlp", "none")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"


def test_this_process_tree_can_be_sampled() -> None:
    tree = ProcessTree(os.getpid())
    usage = tree.sample()
    assert usage.processes >= 1
    assert usage.cpu > 0
    assert tree.peaks_kib[os.getpid()] > 0


EXPOSITION = """\
# HELP cesce_client_duration_seconds Cesce HTTP calls, by operation and status
# TYPE cesce_client_duration_seconds histogram
cesce_client_duration_seconds_bucket{operation="declare_sale",status="201",le="0.025"} 3.0
cesce_client_duration_seconds_count{operation="declare_sale",status="201",process="0"} 40.0
cesce_client_duration_seconds_sum{operation="declare_sale",status="201",process="0"} 1.25
cesce_client_duration_seconds_count{operation="token",status="200",process="1"} 2.0
cesce_client_duration_seconds_sum{operation="token",status="200",process="1"} 0.05
cesce_client_duration_seconds_created{operation="token",status="200",process="1"} 1.7e9
cesce_client_throttle_wait_seconds_count{process="0"} 42.0
cesce_client_throttle_wait_seconds_sum{process="0"} 0.42
cesce_worker_in_flight{worker="invoices",process="0"} 30.0
cesce_worker_in_flight{worker="invoices",process="1"} 12.0
cesce_worker_paused{reason="backpressure",worker="invoices"} 1.0
cesce_worker_paused{reason="outage",worker="invoices"} 1.0
cesce_worker_event_loop_lag_seconds_bucket{worker="invoices",le="0.001",process="0"} 90.0
cesce_worker_event_loop_lag_seconds_count{worker="invoices",process="0"} 100.0
cesce_worker_event_loop_lag_seconds_sum{worker="invoices",process="0"} 0.3
cesce_worker_event_loop_lag_seconds_count{worker="invoices",process="1"} 98.0
cesce_worker_event_loop_lag_seconds_sum{worker="invoices",process="1"} 0.2
"""


def test_the_workers_calls_in_flight_and_pauses_are_read_from_its_metrics() -> None:
    assert worker_metrics(EXPOSITION) == {
        "calls": 42.0,
        "call_seconds": 1.3,
        "in_flight": 42.0,
        "backpressure": 1.0,
        "throttle_waits": 42.0,
        "throttle_seconds": 0.42,
        "lag_samples": 198.0,
        "lag_seconds": 0.5,
    }
    assert set(worker_metrics("").values()) == {0.0}


def test_the_poller_averages_over_the_window() -> None:
    scrapes = iter(
        [
            {"calls": 10.0, "call_seconds": 1.0, "in_flight": 0.0, "backpressure": 0.0}
            | {"throttle_waits": 10.0, "throttle_seconds": 0.5, "lag_samples": 10.0, "lag_seconds": 0.01},
            {"calls": 50.0, "call_seconds": 3.0, "in_flight": 60.0, "backpressure": 1.0}
            | {"throttle_waits": 50.0, "throttle_seconds": 2.5, "lag_samples": 30.0, "lag_seconds": 0.05},
        ]
    )
    poller = MetricsPoller(lambda: next(scrapes))
    assert poller.stop() == {
        "calls": 40.0,
        "call_seconds": 2.0,
        "throttle_waits": 40.0,
        "throttle_seconds": 2.0,
        "lag_samples": 20.0,
        "lag_seconds": 0.04,
        "in_flight": 60.0,
        "backpressure": 1.0,
    }
