"""The risk poller on a large portfolio: the first reconciliation, then how soon a change is published.

The sandbox (a child process, no added latency) serves the default scenario plus `--debtors`
classified debtors on contract 34109150331; the embedded broker is a child process too; the
poller runs in this process (``serve(risk_poller_spec(env))``, movements every
``--interval`` seconds). Measured:

- **reconciliation**: from the poller's start to the last of the portfolio's NEW_LIMIT / CANCELLED
  changes visible to a ``read_committed`` reader (every page read, every record compared, one
  transaction with a change and a state record per debtor), with this process's CPU time and peak
  RSS over that window;
- **change latency**: `--changes` limits reduced one at a time through the sandbox's admin API,
  each timed until its REDUCED change is visible: one movements interval at most plus one tick
  (movements, the 300xxx pages, the whole state read to its end, the comparison).

The run fails (exit 1) unless every debtor got exactly one change and every reduction exactly one
REDUCED. Numbers are printed and written to ``benchmarks/results/risk.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from benchmarks.bench_measure import Window, broker_and_sandbox
from benchmarks.services import (
    BENCH_CONTRACT,
    cesce_env,
    mock_kafka_env,
    stop_children_on_sigterm,
    write_json,
    write_scenario,
)
from workers.ops.registry_server import EmbeddedRegistry
from workers.risk import risk_poller_spec
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

RESULTS_FILE: Final = Path(__file__).parent / "results" / "risk.json"
_DEFAULT_DEBTORS: Final = 7  # the default scenario's own debtors on the contract (6 in force, 1 cancelled)


class _Arrivals:
    """Every record of `topic`, with when it became visible to a read_committed reader (a thread of its own)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.values: list[bytes] = []
        self._seen = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(bootstrap, topic), daemon=True)
        self._thread.start()

    def _run(self, bootstrap: str, topic: str) -> None:
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-risk", "isolation.level": "read_committed"}
        )
        try:
            while not self._stop.is_set():  # the topic appears with the poller's first transaction
                described = consumer.list_topics(topic, timeout=5).topics.get(topic)
                if described is not None and described.error is None and described.partitions:
                    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in described.partitions])
                    break
                time.sleep(0.1)
            while not self._stop.is_set():
                batch = [m.value() or b"" for m in consumer.consume(1000, 0.05) if m.error() is None]
                if batch:
                    with self._seen:
                        self.values.extend(batch)
                        self._seen.notify_all()
        finally:
            consumer.close()

    def wait_for(self, count: int, timeout: float = 300.0) -> float:
        """Block until `count` records arrived; the monotonic time it happened (raises on timeout)."""
        with self._seen:
            if not self._seen.wait_for(lambda: len(self.values) >= count, timeout):
                raise TimeoutError(f"{len(self.values)} of {count} risk changes after {timeout} s")
            return time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _env(bootstrap: str, registry_url: str, sandbox_url: str, interval: float) -> dict[str, str]:
    return {
        **mock_kafka_env(bootstrap, registry_url),
        "WORKER_INSTANCE_ID": "bench",
        "RISK_CONTRACTS": BENCH_CONTRACT,
        "RISK_MOVEMENTS_INTERVAL_SECONDS": str(interval),
        **cesce_env(sandbox_url, "bench"),
    }


async def _run(debtors: int, changes: int, interval: float) -> dict[str, Any]:
    expected = debtors + _DEFAULT_DEBTORS
    # the registry outlives the broker: results are decoded once it has stopped
    with (
        tempfile.TemporaryDirectory() as directory,
        EmbeddedRegistry() as registry,
        schema_registry_client(registry.url) as client,
    ):
        reader = AvroReader(client)
        scenario = write_scenario(debtors, Path(directory))
        with broker_and_sandbox(scenario) as (broker, sandbox):
            env = _env(broker.address, registry.url, sandbox.address, interval)
            admin = SandboxAdmin(sandbox.address)
            topic = env.get("RISK_CHANGES_TOPIC", "cesce.risk-changes")
            stop = asyncio.Event()
            window = Window()
            poller = asyncio.create_task(serve(risk_poller_spec(env), env, stop))
            arrivals = _Arrivals(broker.address, topic)
            try:
                reconciliation = await asyncio.to_thread(arrivals.wait_for, expected) - window.started
                cpu = window.cpu_seconds()
                peak = window.peak_rss_kib()
                latencies = []
                for n in range(changes):
                    number = str(_DEFAULT_DEBTORS + 1 + n * (debtors // max(changes, 1)))
                    began = time.monotonic()
                    admin.set_limit(BENCH_CONTRACT, number, "5000,00")
                    latencies.append(await asyncio.to_thread(arrivals.wait_for, expected + n + 1) - began)
                await asyncio.sleep(3 * interval)  # later ticks over the same window: nothing more may come
            finally:
                arrivals.close()
                stop.set()
                await poller
        # decoded while the registry and its client are open, once the broker has stopped
        values = [reader.decode(value, topic).value for value in arrivals.values]
    per_debtor = {v["taxCode"] for v in values if v["source"] == "PORTFOLIO"}
    reduced = [v for v in values if v["kind"] == "REDUCED"]
    return {
        "debtors": expected,
        "reconciliation_seconds": round(reconciliation, 2),
        "debtors_per_second": round(expected / reconciliation),
        "reconciliation_cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(peak / 1024),
        "change_latency_seconds": {
            "median": round(statistics.median(latencies), 2),
            "max": round(max(latencies), 2),
        },
        "movements_interval_seconds": interval,
        "checks": {
            "one_change_per_debtor": len(per_debtor) == expected,
            "nothing_twice": len(values) == expected + changes,
            "one_reduced_per_change": len(reduced) == changes == len({v["changeId"] for v in reduced}),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_risk", description=__doc__.split("\n")[0])
    parser.add_argument("--debtors", type=int, default=10000, help="debtors added to the contract (default 10000)")
    parser.add_argument("--changes", type=int, default=5, help="limits reduced one at a time (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="movements interval in seconds (default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    stop_children_on_sigterm()
    result = asyncio.run(_run(args.debtors, args.changes, args.interval))
    print(json.dumps(result, indent=2))
    write_json(args.output, result)
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
