"""``cesce-worker run`` with several engine processes: one parent supervising its children.

Against the embedded broker and a sandbox: two children share the invoices (each declared exactly
once), the parent answers ``/readyz`` and ``/metrics`` for both and stops them on SIGTERM, a child
killed with SIGKILL is restarted (and counted), and a parent killed with SIGKILL leaves no child.
Every process a test starts is gone when it ends, failed or not.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ops.test_operations_process import (
    WorkerProcess,
    invoices_env,
    json_lines,
    samples,
    wait_for,
    worker_run,
)
from tests.integration.runtime.support import read
from tests.integration.workers.test_invoices_rekeyed import DEBTORS, change, produce_at, row
from tests.kafka_backends import KafkaBackend, unique_topic
from tests.processes import process_running
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

_STARTED = re.compile(r"process (\d+) (?:started|restarted) \(pid (\d+)")


def child_pids(worker: WorkerProcess) -> dict[int, list[int]]:
    """Each child's pids, in the order the parent logged their starts."""
    pids: dict[int, list[int]] = {}
    for entry in json_lines(worker.stderr()):
        found = _STARTED.match(entry["message"])
        if found and entry["logger"] == "workers.runtime.supervisor":
            pids.setdefault(int(found.group(1)), []).append(int(found.group(2)))
    return pids


@contextmanager
def no_child_left(worker: WorkerProcess) -> Iterator[None]:
    """Kill (SIGKILL) every child the parent logged that still runs at the end, so a failed test leaves none."""
    try:
        yield
    finally:
        for pids in child_pids(worker).values():
            for pid in pids:
                if process_running(pid):
                    os.kill(pid, signal.SIGKILL)


def invoices(kafka: KafkaBackend, source: str, count: int) -> list[str]:
    """`count` new invoices keyed by debtor, a debtor per partition of `source` (every partition gets some)."""
    run = unique_topic("p")[-6:]
    numbers = [f"F{run}-{n:03d}" for n in range(count)]
    produce_at(
        kafka,
        source,
        [
            (n % 4, DEBTORS[n % 4].encode(), change("c", row(number, DEBTORS[n % 4], "100.00"), 100 + n))
            for n, number in enumerate(numbers)
        ],
    )
    return numbers


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_two_processes_declare_each_invoice_once_answer_as_one_and_stop_on_sigterm(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    env = invoices_env(
        kafka,
        sandbox,
        schema_registry,
        source,
        results,
        WORKER_PROCESSES="2",
        WORKER_MAX_IN_FLIGHT="9",
        INVOICES_KEYED_BY_DEBTOR="true",
    )
    # the topic exists with its 4 partitions before the members join: a tombstone on each, which the worker skips
    produce_at(kafka, source, [(partition, b"created", None) for partition in range(4)])
    with worker_run(env, tmp_path) as worker, no_child_left(worker):
        ready = worker.ready(within=60).json()
        assert ready["checks"]["process.0"] == "ok"
        assert ready["checks"]["process.1"] == "ok"
        assert ready["checks"]["invoices.kafka"] == "ok"
        assert ready["checks"]["invoices.cesce"] == "ok"
        assert worker.get("/healthz").json() == {"alive": True, "reason": "ok"}

        numbers = invoices(kafka, source, 24)
        messages = read(kafka, [results, f"{source}.dlq"], expect=len(numbers), timeout=90)
        assert [m.topic() for m in messages] == [results] * len(numbers)

        exposition = worker.get("/metrics").text
        families = {family.name: family for family in text_string_to_metric_families(exposition)}
        published = {process: 0.0 for process in ("0", "1")}
        for sample in families["cesce_worker_records"].samples:
            if sample.name == "cesce_worker_records_total" and sample.labels["outcome"] == "published":
                published[sample.labels["process"]] += sample.value
        assert all(published.values()), f"each child declared invoices of its partitions: {published}"
        assert sum(published.values()) == len(numbers), published
        declared = [line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")]
        assert len(declared) == len(set(declared)), f"a family declared twice:\n{exposition}"
        assert "cesce_worker_records_total" in declared
        pids = child_pids(worker)
        assert sorted(pids) == [0, 1], pids
        assert all(len(p) == 1 for p in pids.values()), pids

        assert worker.terminate(within=60) == 0
        for [pid] in pids.values():
            assert not process_running(pid), f"child {pid} outlived its parent's clean stop"

    ledger = sandbox.admin().ledger()
    declared = [sale["invoiceNo"] for sale in ledger["sales"]]
    assert sorted(declared) == sorted(numbers), "every invoice declared, exactly once"
    assert {int(entry["count"]) for entry in ledger["byDuplicateKey"]} == {1}
    entries = json_lines(worker.stderr())
    messages_logged = [e["message"] for e in entries]
    assert any("process 0, instance it.0, in flight 5" in m for m in messages_logged), messages_logged
    assert any("process 1, instance it.1, in flight 4" in m for m in messages_logged), messages_logged
    # one stderr for the tree: each engine's lines name it, the supervisor's name none
    assigned = {
        e.get("engine") for e in entries if e["logger"] == "workers.runtime.engine" and "assigned" in e["message"]
    }
    assert assigned == {0, 1}, entries
    assert all("engine" not in e for e in entries if e["logger"] == "workers.runtime.supervisor")


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_killed_child_is_restarted_and_a_killed_parent_leaves_no_child(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    env = invoices_env(
        kafka, sandbox, schema_registry, source, results, WORKER_PROCESSES="2", INVOICES_KEYED_BY_DEBTOR="true"
    )
    produce_at(kafka, source, [(partition, b"created", None) for partition in range(4)])
    with worker_run(env, tmp_path) as worker, no_child_left(worker):
        worker.ready(within=60)
        [first] = child_pids(worker)[1]
        os.kill(first, signal.SIGKILL)

        def restarted() -> int | None:
            pids = child_pids(worker).get(1, [])
            return pids[1] if len(pids) > 1 else None

        second = wait_for(restarted, 30, lambda: f"child 1 never restarted:\n{worker.stderr()[-3000:]}")
        assert any(
            "process 1" in e["message"] and "killed by SIGKILL" in e["message"] for e in json_lines(worker.stderr())
        )
        ready = worker.ready(within=60).json()
        assert ready["checks"]["process.1"] == "ok"
        restarts = samples(worker.get("/metrics").text, "cesce_worker_process_restarts_total", process="1")
        assert restarts == [1.0], restarts

        children = [pid for pids in child_pids(worker).values() for pid in pids if process_running(pid)]
        assert sorted(children) == sorted([child_pids(worker)[0][0], second])
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
        deadline = time.monotonic() + 40
        while any(process_running(pid) for pid in children):
            assert time.monotonic() < deadline, f"children left behind their parent: {children}"
            time.sleep(0.2)


@pytest.mark.timeout(60)
def test_one_process_runs_the_engine_itself(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    env = invoices_env(
        kafka, sandbox, schema_registry, source, results, WORKER_PROCESSES="1", INVOICES_KEYED_BY_DEBTOR="true"
    )
    produce_at(kafka, source, [(partition, b"created", None) for partition in range(4)])
    with worker_run(env, tmp_path) as worker:
        checks = worker.ready(within=40).json()["checks"]
        assert "process.0" not in checks
        assert checks["invoices.kafka"] == "ok"
        assert worker.terminate() == 0
    assert child_pids(worker) == {}
