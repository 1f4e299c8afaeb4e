"""The sandbox and the embedded broker as child processes, the CPU and memory probes, and what every benchmark shares.

Both run as ``python -m workers.cli <command>`` rather than in the benchmark's process: the
sandbox (a Python ASGI server) and librdkafka's mock broker would otherwise burn CPU and hold
memory in the very process whose CPU time and peak RSS we attribute to the worker. Each child
prints its address on the first line of stdout (the documented contract of both commands), and
its CPU time is read from ``/proc/<pid>/stat``, so the benchmark can report where the machine's
two cores went. Every child leads its own process group and is signalled through it
(`signal_group`, `stop_group`), never by a name.

What the benchmarks share beside them: the embedded broker's per-partition limits, a worker's
settings for the broker, the registry and the sandbox (`mock_kafka_env`, `cesce_env`), the ERP's
invoice envelope (`invoice_envelope`), and how results are written down (`machine`, `columns`,
`write_json`).

The Schema Registry is an `EmbeddedRegistry` (``workers.ops.registry_server``) that each benchmark
runs in its own process for the whole run, reached over HTTP by every process like a real one: it
answers a few requests at start-up (clients cache ids) and must outlive the broker, since results
are decoded once a run's broker has stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Final, Self

import confluent_kafka

from workers.runtime.embedded import MOCK_CLIENT_CONFIG
from workers.sandbox.scenario import read_scenario

__all__ = [
    "BENCH_CONTRACT",
    "BULK_PRODUCER",
    "MOCK_PARTITION_BATCHES",
    "MOCK_PARTITION_BYTES",
    "Child",
    "bench_debtor",
    "cesce_env",
    "columns",
    "invoice_envelope",
    "machine",
    "machine_ticks",
    "mock_kafka_env",
    "process_cpu_seconds",
    "reset_peak_rss",
    "rss_kib",
    "signal_group",
    "stat_cpu_seconds",
    "stop_children_on_sigterm",
    "stop_group",
    "thread_cpu_seconds",
    "write_json",
    "write_scenario",
]

BENCH_CONTRACT: Final = "34109150331"
"""The default scenario's in-force policy (Máster Oro Integral) that the benchmark's debtors join."""
MOCK_PARTITION_BYTES: Final = 5 * 1024 * 1024
"""What librdkafka's mock keeps per partition (``rdkafka_mock.c``: ``max_size``); beyond it, it drops the
oldest batches without a word."""
MOCK_PARTITION_BATCHES: Final = 100_000
"""... or this many record batches (``max_cnt``), whichever comes first."""
BULK_PRODUCER: Final = {
    "compression.type": "zstd",
    "linger.ms": 200,
    "batch.size": 900_000,  # under the default message.max.bytes: few, large batches (the mock counts batches)
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "enable.idempotence": True,
}
"""A producer that writes a large backlog into the mock broker: few, large, compressed batches, so that it fits
the partitions' limits above (`bench_row_state`, `bench_memory`)."""

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_REPO_ROOT: Final = Path(__file__).resolve().parent.parent
_START_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 15.0


def bench_debtor(index: int) -> str:
    """The customerReference of the benchmark's `index`-th debtor (0-based): BENCH-0001, ..."""
    return f"BENCH-{index + 1:04d}"


def write_scenario(debtors: int, directory: Path) -> Path:
    """The default scenario plus `debtors` classified debtors on `BENCH_CONTRACT`; its path.

    The default scenario has only a handful of debtors, and a benchmark over five keys measures
    key-order waits, not throughput. The limit is far above what the run declares (the sandbox
    does not check exposure, but a reader of the file should not wonder).
    """
    scenario = read_scenario(None)
    contract = next(c for c in scenario["contracts"] if c["contractNo"] == BENCH_CONTRACT)
    contract["debtors"].extend(
        {
            "countryCode": "ES",
            "taxCode": f"B{70000000 + index:08d}",
            "customerReference": bench_debtor(index),
            "companyName": f"DEUDOR DE PRUEBA {index + 1} SL",
            "creditLimitGranted": "10000000,00",
            "paymentTermsRequested": "60",
            "paymentTermsGranted": "60",
            "requestDate": "20230102",
        }
        for index in range(debtors)
    )
    path = directory / "bench-scenario.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), "utf-8")
    return path


def invoice_envelope(debtor: str, invoice_no: str, amount: Decimal, *, today: date, connector: str) -> bytes:
    """An ERP invoice change on `BENCH_CONTRACT` as a Debezium-style JSON envelope, op ``c``, dated `today`
    and due 60 days later (as ``workers.demo.sample`` writes them); `connector` names the benchmark."""
    row = {
        "contractNo": BENCH_CONTRACT,
        "invoiceNo": invoice_no,
        "invoiceDate": today.isoformat(),
        "maturityDate": (today + timedelta(days=60)).isoformat(),
        "amount": str(amount),
        "currencyCode": "EUR",
        "customerReference": debtor,
    }
    source = {"connector": connector, "db": "erp", "table": "invoices"}
    return json.dumps({"before": None, "after": row, "op": "c", "ts_ms": 1763600000000, "source": source}).encode()


def mock_kafka_env(bootstrap: str, registry_url: str) -> dict[str, str]:
    """A worker's Kafka settings on the embedded broker: its address, the mock's client settings
    (`MOCK_CLIENT_CONFIG` as ``KAFKA_*`` variables) and the schema registry."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in MOCK_CLIENT_CONFIG.items()},
        "SCHEMA_REGISTRY_URL": registry_url,
    }


def cesce_env(sandbox_url: str, user: str) -> dict[str, str]:
    """A worker's Cesce client settings against the sandbox: `user` (client ``<user>-app``), fresh secrets."""
    return {
        "CESCE_BASE_URL": sandbox_url,
        "CESCE_CLIENT_ID": f"{user}-app",
        "CESCE_CLIENT_SECRET": secrets.token_urlsafe(16),
        "CESCE_USERNAME": user,
        "CESCE_PASSWORD": secrets.token_urlsafe(16),
    }


def stop_children_on_sigterm() -> None:
    """From now on a SIGTERM to this harness leaves it by SystemExit (143), so every ``with Child(...)``, broker,
    worker and ``finally`` on the way out stops what it started; Python's default ended the harness at once and
    left its broker, sandbox, span sink and worker running. Call it first in a harness's ``main``."""
    signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group `popen` leads (started with ``start_new_session``), if it still runs.

    Its pid is its group's id, and a child that poll() has not reaped keeps its pid, so the id cannot
    have been reused by another process.
    """
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signum)


def stop_group(popen: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the process group `popen` leads, SIGKILL if it has not exited within `timeout`; reaped either way.

    Nothing happens to a process that has already exited, so stopping twice is stopping once.
    """
    if popen.poll() is None:
        signal_group(popen, signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_group(popen, signal.SIGKILL)
            popen.wait(timeout)


class Child:
    """``python -m workers.cli <args>``: started, its first stdout line read, stopped with SIGTERM.

        with Child(["sandbox", "--port", "0"], "sandbox") as sandbox:
            url = sandbox.address

    `module` runs another module of this repository the same way (it must print its address first).
    stderr goes to a temporary file, shown when the child fails to start, so a failure says why.
    """

    def __init__(self, args: list[str], name: str, *, module: str = "workers.cli") -> None:
        self.name = name
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - our own CLI, run by this interpreter
            [sys.executable, "-m", module, *args],
            cwd=_REPO_ROOT,  # the benchmarks package is importable from the repository only
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: stop() signals the group, not a name
        )
        try:
            self.address = self._first_line()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def _first_line(self) -> str:
        stdout = self._process.stdout
        assert stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT)
        line = lines[0].decode().strip() if lines else ""
        if not line:
            self._stderr.seek(0)
            detail = self._stderr.read().decode(errors="replace").strip()
            raise RuntimeError(f"the {self.name} did not start (exit {self._process.poll()}): {detail[-2000:]}")
        return line

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far."""
        return process_cpu_seconds(self._process.pid)

    def stop(self) -> None:
        """SIGTERM to its process group, then SIGKILL if it does not stop in time. Idempotent."""
        stop_group(self._process, _STOP_TIMEOUT)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` from ``/proc/<pid>/stat`` (every thread of the process)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(native_id: int) -> float:
    """utime + stime of one thread of this process (``threading.get_native_id()``), in clock ticks' grain."""
    return _stat_cpu_seconds(Path(f"/proc/self/task/{native_id}/stat"))


def _stat_cpu_seconds(path: Path) -> float:
    return stat_cpu_seconds(path.read_text())


def stat_cpu_seconds(text: str) -> float:
    """utime + stime in seconds from the text of a ``/proc/<pid>/stat`` (or ``.../task/<tid>/stat``)."""
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_ticks() -> tuple[int, int, int]:
    """(busy, stolen, total) clock ticks of the whole machine so far, from ``/proc/stat``.

    Stolen time is what the hypervisor gave other guests while ours wanted to run: on a shared VM
    it is the first suspect when two runs of the same benchmark disagree.
    """
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_kib() -> dict[str, Any]:
    """This process's resident set now and its peak (VmHWM) in KiB."""
    return {"rss": _status_kib("VmRSS"), "peak": _status_kib("VmHWM")}


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5), so the next peak is one run's.

    Without it the peak would be the process's lifetime maximum; False if the kernel refused.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def machine() -> dict[str, Any]:
    """The machine and the client library a run measured, for its JSON results."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "confluent_kafka": str(confluent_kafka.__version__),
        "librdkafka": confluent_kafka.libversion()[0],
    }


def columns(rows: Sequence[Sequence[str]], *, head: bool = True) -> str:
    """`rows` as aligned text columns, two spaces apart; with `head`, the first row is underlined."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not head:
        return "\n".join(lines)
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """A run's results to `path` (its folder made if need be), indented; what JSON cannot hold, as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")
