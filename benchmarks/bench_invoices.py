"""Invoices per second: the invoices worker against a naive one-at-a-time loop, both checked.

    .venv/bin/python -m benchmarks.bench_invoices [--invoices 3000] [--debtors 300]
        [--latency-ms 20] [--max-in-flight 64] [--naive-invoices 300] [--sweep 4,16,128]

Against the Cesce sandbox with a fixed added latency (no jitter), the same kind of ERP invoice
changes (Debezium JSON envelopes, op ``c``, interleaved over the debtors, each debtor's invoices
numbered in order) go through:

- **the worker**: ``workers.runtime.run.serve(invoices_spec(env), env, stop)``, in this process,
  with ``WORKER_MAX_IN_FLIGHT`` from ``--max-in-flight``;
- **the naive loop** written below: one record at a time, consume, decode, declare, produce the
  result, commit the transaction. It is what the runtime exists to beat, so the ratio says what
  key-ordered concurrency buys. It is latency-bound (about one call per latency), so by default
  it runs over a smaller set of the same shape (``--naive-invoices``) to keep the run short.

Each run gets a fresh embedded broker and a fresh sandbox, both child processes, and a spawned
observer process produces the invoices and reads the results (``benchmarks.observer``): this
process holds only the system under test, so its CPU time and peak RSS are the worker's own. A
warm-up of a few invoices goes first, so the timed window starts with the group joined, the
token fetched and connections open, and ends when the last result is visible to a
``read_committed`` reader (the commit interval included: that is when downstream sees it).

What is measured, and how: the rate is invoices / seconds from the first produce to the last
result visible (``time.perf_counter`` in the observer). CPU time is ``time.process_time()`` of
this process over that window; the sandbox's and the broker's come from ``/proc/<pid>/stat``, and
a sampler splits all three (and this process's event-loop thread) over the two halves of the run,
which shows which process saturates when. Peak memory is the kernel's VmHWM (peak RSS, the
``ru_maxrss`` figure) of this process, reset before each run through ``/proc/self/clear_refs`` so
it is that run's; not tracemalloc, which would slow every allocation and so the rate it reports.

The ceiling of the worker is ``max_in_flight / latency`` (64 / 20 ms = 3200/s): every call
waits the latency and at most ``max_in_flight`` calls are in the air. The naive loop's is
``1 / latency``. ``--sweep`` repeats the worker run with other ``max_in_flight`` values to show
whether the rate scales with it (if it does not, something other than the latency limits it).

Checked in the same run, or the benchmark exits 1: every invoice has exactly one result and no
dead letter; each debtor's results are in one partition and in the order its invoices were
produced; the sandbox's ledger counts every duplicate-sale key once and holds one sale per
invoice. Numbers are printed as a table and written to ``benchmarks/results/invoices.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from benchmarks.observer import Read, observe, position
from benchmarks.services import (
    Child,
    bench_debtor,
    cesce_env,
    columns,
    invoice_envelope,
    machine,
    machine_ticks,
    mock_kafka_env,
    reset_peak_rss,
    rss_kib,
    thread_cpu_seconds,
    write_json,
    write_scenario,
)
from workers.cesce import CesceClient, CesceSettings, SaleDeclaration
from workers.cesce.catalogue import SALE_TARIFFED
from workers.invoices import invoices_spec
from workers.runtime.embedded import MOCK_CLIENT_CONFIG
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["main"]

INPUT, RESULTS = "erp.invoices", "cesce.sale-results"
DLQ = f"{INPUT}.dlq"
REGISTRY_URL: Final = "mock://bench"
RESULTS_FILE: Final = Path(__file__).parent / "results" / "invoices.json"
WARMUP_DEBTORS: Final = 8
"""Invoices of the warm-up (one each for the first debtors): enough to join the group, fetch the
token and open connections before the clock starts; not counted."""
RUN_TIMEOUT: Final = 120.0
_MAIN_THREAD: Final = threading.get_native_id()  # asyncio.run runs the worker's loop here


# ---------------------------------------------------------------------------------------------
# The input


@dataclass(frozen=True, slots=True)
class Invoice:
    debtor: str
    invoice_no: str
    value: bytes
    """A Debezium-style JSON envelope, op ``c``, as ``workers.demo.sample`` writes them."""


def make_invoices(count: int, debtors: int, run: str) -> list[Invoice]:
    """`count` invoices dealt round-robin over `debtors`: invoice i goes to debtor i mod `debtors`.

    Interleaving is the hard case for key order (consecutive records are different keys, a key's
    records are far apart) and the one the worker's concurrency is for. The invoice number
    carries the debtor and the invoice's position among that debtor's, so order is checkable.
    """
    return [
        _invoice(i % debtors, i // debtors + 1, run, Decimal(1000 + i % 997) + Decimal("0.25")) for i in range(count)
    ]


def make_warmup(debtors: int, run: str) -> list[Invoice]:
    return [_invoice(d, 0, run, Decimal("10.00")) for d in range(min(WARMUP_DEBTORS, debtors))]


def _invoice(debtor_index: int, seq: int, run: str, amount: Decimal) -> Invoice:
    debtor = bench_debtor(debtor_index)
    invoice_no = f"{run}-{debtor_index + 1:04d}-{seq:04d}"
    value = invoice_envelope(debtor, invoice_no, amount, today=date.today(), connector="bench")
    return Invoice(debtor, invoice_no, value)


# ---------------------------------------------------------------------------------------------
# One run: the observer, the samples, the result


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


class _Observer:
    """The parent's end of `benchmarks.observer.observe`, running in a spawned process."""

    def __init__(self, bootstrap: str, warmup: Sequence[Invoice], measured: Sequence[Invoice]) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs librdkafka threads
        self._conn, child_end = context.Pipe()
        self._closed = False
        self._process = context.Process(
            target=observe,
            args=(child_end,),
            kwargs={
                "bootstrap": bootstrap,
                "input_topic": INPUT,
                "output_topics": (RESULTS, DLQ),
                "warmup": [(i.debtor, i.value) for i in warmup],
                "measured": [(i.debtor, i.value) for i in measured],
                "timeout": RUN_TIMEOUT,
            },
            name="bench-observer",
            daemon=True,
        )
        self._process.start()
        child_end.close()

    def _receive(self, timeout: float) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._closed:
            if self._conn.poll(0.2):
                message: tuple[str, Any] = self._conn.recv()
                return message
            if not self._process.is_alive():
                raise RuntimeError(f"the observer process died (exit code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError("the observer said nothing in time")
        return ("closed", None)

    async def expect(self, kind: str, system: asyncio.Task[None]) -> Any:
        """The observer's next message, which must be `kind`; fails as soon as `system` fails."""
        receive = asyncio.ensure_future(asyncio.to_thread(self._receive, RUN_TIMEOUT))
        waiting: set[asyncio.Future[Any]] = {receive, system}
        while True:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if receive in done:
                break
            system.result()  # raises what stopped the system under test
            waiting.discard(system)  # it finished its work (the naive loop stops by itself)
        got, payload = receive.result()
        if got == "error":
            raise RuntimeError(f"the observer failed:\n{payload}")
        if got != kind:
            raise RuntimeError(f"the observer sent {got!r}, expected {kind!r}")
        return payload

    def go(self) -> None:
        self._conn.send("go")

    def close(self) -> None:
        self._closed = True
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float  # perf_counter: CLOCK_MONOTONIC, the same clock as the observer process's
    cpu: float
    loop_cpu: float
    """The main thread's: the asyncio loop where the worker's Python runs (librdkafka has its own threads)."""
    sandbox_cpu: float
    broker_cpu: float
    machine: tuple[int, int, int]

    @classmethod
    def take(cls, sandbox: Child, broker: Child) -> _Sample:
        return cls(
            time.perf_counter(),
            time.process_time(),
            thread_cpu_seconds(_MAIN_THREAD),
            sandbox.cpu_seconds(),
            broker.cpu_seconds(),
            machine_ticks(),
        )


class _Sampler:
    """CPU samples of the three processes every quarter second, to split a run's cost over time."""

    def __init__(self, sandbox: Child, broker: Child) -> None:
        self._sandbox, self._broker = sandbox, broker
        self._stop = threading.Event()
        self.samples = [_Sample.take(sandbox, broker)]
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append(_Sample.take(self._sandbox, self._broker))

    def stop(self) -> list[_Sample]:
        self._stop.set()
        self._thread.join()
        self.samples.append(_Sample.take(self._sandbox, self._broker))
        return self.samples


def _halves(
    samples: Sequence[_Sample], start: float, seconds: float, arrivals: Sequence[tuple[float, int]]
) -> list[dict[str, float]]:
    """Rate and cores busy in the first and second half of the window [start, start + seconds]."""
    middle = min(samples, key=lambda sample: abs(sample.at - (start + seconds / 2)))
    split = middle.at - start
    visible = max((count for at, count in arrivals if at <= split), default=0)
    total = arrivals[-1][1]
    halves = []
    for first, last, count, length in (
        (samples[0], middle, visible, split),
        (middle, samples[-1], total - visible, seconds - split),
    ):
        wall = max(last.at - first.at, 1e-9)
        halves.append(
            {
                "seconds": round(length, 3),
                "rate_per_second": round(count / max(length, 1e-9), 1),
                "process_cores": round((last.cpu - first.cpu) / wall, 2),
                "event_loop_cores": round((last.loop_cpu - first.loop_cpu) / wall, 2),
                "sandbox_cores": round((last.sandbox_cpu - first.sandbox_cpu) / wall, 2),
                "broker_cores": round((last.broker_cpu - first.broker_cpu) / wall, 2),
            }
        )
    return halves


def _sandbox_args(scenario: Path, latency_ms: float) -> list[str]:
    return ["sandbox", "--port", "0", "--scenario", str(scenario), "--latency-ms", str(latency_ms)]


SystemUnderTest = Callable[[str, Mapping[str, str], asyncio.Event], Coroutine[Any, Any, None]]
"""(bootstrap servers, CESCE_* environment, stop) -> runs until `stop` or its work is done."""


async def _timed_run(
    name: str,
    system: str,
    run: SystemUnderTest,
    *,
    scenario: Path,
    latency_ms: float,
    max_in_flight: int,
    warmup: Sequence[Invoice],
    measured: Sequence[Invoice],
) -> tuple[Case, list[Read], dict[str, Any]]:
    """One run on a fresh broker and sandbox; the case, every output read, the sandbox ledger."""
    with Child(["broker"], "broker") as broker, Child(_sandbox_args(scenario, latency_ms), "sandbox") as sandbox:
        baseline = rss_kib()["rss"]
        peak_is_this_run = reset_peak_rss()
        stop = asyncio.Event()
        task = asyncio.create_task(run(broker.address, cesce_env(sandbox.address, "bench"), stop), name=name)
        observer = _Observer(broker.address, warmup, measured)
        try:
            await observer.expect("warm", task)
            sampler = _Sampler(sandbox, broker)
            observer.go()
            timing = await observer.expect("done", task)
            samples = sampler.stop()
            before, after = samples[0], samples[-1]
            reads: list[Read] = await observer.expect("records", task)
        finally:
            stop.set()
            observer.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)
        memory = rss_kib()
        admin = SandboxAdmin(sandbox.address)
        ledger, stats = admin.ledger(), admin.stats()
    arrivals: list[tuple[float, int]] = timing["arrivals"]
    tenth = len(measured) / 10
    timeline = [next((at, n) for at, n in arrivals if n >= min(k * tenth, len(measured))) for k in range(1, 11)]
    case = Case(
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
        rss_baseline_kib=baseline,
        rss_peak_kib=memory["peak"],
        peak_is_this_run=peak_is_this_run,
        steal_percent=round(
            100 * (after.machine[1] - before.machine[1]) / max(after.machine[2] - before.machine[2], 1), 1
        ),
        cesce_requests={route: int(n) for route, n in sorted(stats.get("byRoute", {}).items())},
        timeline=[(round(at, 3), n) for at, n in timeline],
        halves=_halves(samples, timing["start"], timing["seconds"], arrivals),
    )
    return case, reads, ledger


# ---------------------------------------------------------------------------------------------
# (a) the worker


def _worker(max_in_flight: int, commit_interval_ms: int) -> SystemUnderTest:
    async def run(bootstrap: str, cesce: Mapping[str, str], stop: asyncio.Event) -> None:
        env = {
            **mock_kafka_env(bootstrap, REGISTRY_URL),
            "WORKER_INSTANCE_ID": "bench",
            "WORKER_MAX_IN_FLIGHT": str(max_in_flight),
            "WORKER_COMMIT_INTERVAL_MS": str(commit_interval_ms),
            **cesce,
        }
        await serve(invoices_spec(env), env, stop)

    return run


# ---------------------------------------------------------------------------------------------
# (b) the naive loop


def _naive(total: int, steps: dict[str, list[float]]) -> SystemUnderTest:
    """The loop a first version would be: correct (exactly once, in order) and one record at a time.

    `steps` receives, per record, the seconds spent declaring and in the Kafka transaction.
    """

    async def run(bootstrap: str, cesce_env: Mapping[str, str], stop: asyncio.Event) -> None:
        settings = CesceSettings.model_validate(
            {k.removeprefix("CESCE_").lower(): v for k, v in cesce_env.items() if k.startswith("CESCE_")}
        )
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-naive",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
            | dict(MOCK_CLIENT_CONFIG)
        )
        producer = Producer(
            {"bootstrap.servers": bootstrap, "transactional.id": "bench-naive", "partitioner": "murmur2_random"}
        )
        try:
            producer.init_transactions(30)
            consumer.subscribe([INPUT])
            async with CesceClient(settings) as cesce:
                handled = 0
                while handled < total and not stop.is_set():
                    message = consumer.poll(0.05)
                    if message is None:
                        await asyncio.sleep(0)  # let the benchmark's own awaits run between polls
                        continue
                    error = message.error()
                    if error is not None:
                        if error.fatal():
                            raise KafkaException(error)
                        continue  # e.g. the input topic does not exist yet: librdkafka keeps trying
                    topic, partition, offset = position(message)
                    started = time.perf_counter()
                    row = json.loads(message.value() or b"null")["after"]
                    declared = await cesce.sales.declare(
                        row["contractNo"],
                        SaleDeclaration(
                            customerReference=row["customerReference"],
                            invoiceNo=row["invoiceNo"],
                            invoiceDate=date.fromisoformat(row["invoiceDate"]),
                            maturityDate=date.fromisoformat(row["maturityDate"]),
                            currencyAmount=Decimal(row["amount"]),
                            currencyCode=row["currencyCode"],
                        ),
                    )
                    result = {
                        "invoiceNo": row["invoiceNo"],
                        "debtor": row["customerReference"],
                        "statusCode": declared.statusCode,
                        "saleCesceReferenceNo": declared.saleCesceReferenceNo,
                    }
                    declared_at = time.perf_counter()
                    producer.begin_transaction()
                    producer.produce(RESULTS, key=message.key(), value=json.dumps(result).encode())
                    producer.send_offsets_to_transaction(
                        [TopicPartition(topic, partition, offset + 1)],
                        consumer.consumer_group_metadata(),
                    )
                    producer.commit_transaction()
                    steps["declare"].append(declared_at - started)
                    steps["transaction"].append(time.perf_counter() - declared_at)
                    handled += 1
        finally:
            consumer.close()
            producer.flush(10)

    return run


# ---------------------------------------------------------------------------------------------
# The checks


def _decoder(system: str) -> Callable[[bytes], tuple[str, bool]]:
    """value bytes -> (invoiceNo, whether the sale was tariffed as expected)."""
    if system == "naive":

        def naive(value: bytes) -> tuple[str, bool]:
            result = json.loads(value)
            return str(result["invoiceNo"]), result["statusCode"] == SALE_TARIFFED

        return naive
    reader = AvroReader(schema_registry_client(REGISTRY_URL))

    def worker(value: bytes) -> tuple[str, bool]:
        result = reader.decode(value, RESULTS).value
        return str(result["invoiceNo"]), result["outcome"] == "DECLARED"

    return worker


def check_results(system: str, reads: Sequence[Read], produced: Sequence[Invoice]) -> list[str]:
    """Exactly one result per invoice, no dead letter, and each debtor's results in input order."""
    problems: list[str] = []
    dead = [r for r in reads if r.topic == DLQ]
    if dead:
        problems.append(f"{len(dead)} invoices were dead-lettered (first key {dead[0].key})")
    decode = _decoder(system)
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
# The whole benchmark


@dataclass(frozen=True)
class _Plan:
    invoices: int
    debtors: int
    latency_ms: float
    max_in_flight: int
    naive_invoices: int
    sweep: tuple[int, ...]
    commit_interval_ms: int


def _run_case(plan: _Plan, scenario: Path, system: str, max_in_flight: int) -> Case:
    """Run one case in a fresh event loop and check it; a printed line as it finishes."""
    run = secrets.token_hex(3).upper()
    steps: dict[str, list[float]] = defaultdict(list)
    if system == "worker":
        name = f"worker, max_in_flight {max_in_flight}"
        measured = make_invoices(plan.invoices, plan.debtors, run)
        debtors = plan.debtors
        sut = _worker(max_in_flight, plan.commit_interval_ms)
    else:
        name = "naive loop"
        # The same shape as the worker's input (as many invoices per debtor), scaled down.
        debtors = max(1, round(plan.debtors * plan.naive_invoices / plan.invoices))
        measured = make_invoices(plan.naive_invoices, debtors, run)
        sut = _naive(len(measured) + min(WARMUP_DEBTORS, debtors), steps)
    warmup = make_warmup(debtors, run)
    case, reads, ledger = asyncio.run(
        _timed_run(
            name,
            system,
            sut,
            scenario=scenario,
            latency_ms=plan.latency_ms,
            max_in_flight=max_in_flight,
            warmup=warmup,
            measured=measured,
        )
    )
    case.breakdown_ms = {
        step: round(1000 * sum(seconds[-len(measured) :]) / len(measured), 2) for step, seconds in steps.items()
    }
    case.problems = check_results(system, reads, [*warmup, *measured]) + check_ledger(
        ledger, len(warmup) + len(measured)
    )
    verdict = "checks ok" if not case.problems else f"{len(case.problems)} checks FAILED"
    first, second = case.halves
    print(
        f"  {name}: {case.invoices} invoices in {case.seconds:.2f} s, {case.rate:.0f}/s; {verdict} "
        f"(CPU stolen by the hypervisor: {case.steal_percent:.0f}%)\n"
        + "".join(
            f"    {which} half: {half['rate_per_second']:.0f}/s; cores busy: this process {half['process_cores']:.2f} "
            f"(its event loop {half['event_loop_cores']:.2f}), sandbox {half['sandbox_cores']:.2f}, "
            f"broker {half['broker_cores']:.2f}\n"
            for which, half in (("first", first), ("second", second))
        ),
        end="",
        flush=True,
    )
    return case


def _table(cases: Sequence[Case]) -> str:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_invoices", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=3000, help="invoices the worker declares (default 3000)")
    parser.add_argument("--debtors", type=int, default=300, help="debtors they are dealt over (default 300)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox latency per call (default 20)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="WORKER_MAX_IN_FLIGHT (default 64)")
    parser.add_argument(
        "--naive-invoices", type=int, default=300, help="invoices for the naive loop; 0 skips it (default 300)"
    )
    parser.add_argument(
        "--sweep",
        default="4,16,128",
        help="other max_in_flight values to run the worker with, comma separated; '' for none (default 4,16,128)",
    )
    parser.add_argument(
        "--commit-interval-ms", type=int, default=200, help="WORKER_COMMIT_INTERVAL_MS (default 200, the product's)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.invoices < 1 or args.debtors < 1 or args.max_in_flight < 1 or args.latency_ms <= 0:
        raise SystemExit("--invoices, --debtors, --max-in-flight and --latency-ms must be positive")
    sweep = tuple(int(v) for v in args.sweep.split(",") if v.strip())
    plan = _Plan(
        invoices=args.invoices,
        debtors=min(args.debtors, args.invoices),
        latency_ms=args.latency_ms,
        max_in_flight=args.max_in_flight,
        naive_invoices=min(args.naive_invoices, args.invoices),
        sweep=tuple(v for v in sweep if v != args.max_in_flight),
        commit_interval_ms=args.commit_interval_ms,
    )
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    print(
        f"{plan.invoices} invoices over {plan.debtors} debtors, sandbox latency {plan.latency_ms:g} ms (no jitter), "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as directory:
        scenario = write_scenario(plan.debtors, Path(directory))
        cases = [_run_case(plan, scenario, "worker", plan.max_in_flight)]
        if plan.naive_invoices:
            cases.append(_run_case(plan, scenario, "naive", 1))
        cases.extend(_run_case(plan, scenario, "worker", value) for value in plan.sweep)
    worker, naive = cases[0], next((c for c in cases if c.system == "naive"), None)
    print()
    print(_table(cases))
    print()
    if naive is not None:
        print(
            f"worker / naive: {worker.rate / naive.rate:.1f}x (the naive loop ran {naive.invoices} invoices over "
            f"{naive.debtors} debtors, the same shape as the worker's {worker.invoices} over {worker.debtors}); "
            "naive loop per invoice: " + ", ".join(f"{step} {ms:.1f} ms" for step, ms in naive.breakdown_ms.items())
        )
    print(
        f"worker: {100 * worker.rate / worker.ceiling:.0f}% of max_in_flight / latency = {worker.ceiling:.0f}/s; "
        f"CPU time of this process (the worker alone) {worker.per_invoice_ms(worker.cpu_seconds):.2f} ms per invoice; "
        f"peak RSS {worker.rss_peak_kib / 1024:.0f} MiB (VmHWM{'' if worker.peak_is_this_run else ' since start'})"
    )
    problems = [f"{case.name}: {problem}" for case in cases for problem in case.problems]
    report = {
        "parameters": asdict(plan),
        "machine": machine(),
        "ratio_worker_to_naive": round(worker.rate / naive.rate, 2) if naive is not None else None,
        "cases": [case.summary() for case in cases],
        "checks_passed": not problems,
        "problems": problems,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.output, report)
    print(f"results written to {args.output}")
    if problems:
        print("CHECKS FAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("checks: every invoice one result, in input order per debtor, declared once in the ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
