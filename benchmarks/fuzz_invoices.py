"""Fuzz: the invoices worker fed 100,000 hostile records mixed with valid invoices, every guarantee checked.

    .venv/bin/python -m benchmarks.fuzz_invoices [--hostile 100000] [--valid 1000] [--big 8]
        [--big-bytes 900000] [--seed 1] [--window-bytes 1048576] [--window-records 750]

A real ``cesce-worker run invoices`` process (so a crash is an exit, and its memory is its own,
read from ``/proc``) runs on the embedded broker (``cesce-worker broker``) against the sandbox
(``cesce-worker sandbox``), both child processes as in the other benchmarks. This process produces
the records of `benchmarks.fuzz_records` to ``erp.invoices`` and reads ``cesce.sale-results`` and
``erp.invoices.dlq`` ``read_committed``. The worker runs as by default: its re-keying companion reads
``erp.invoices``, dead-letters what it cannot decode (naming the input in ``dlq.original.*``) and
writes every other change, keyed by its debtor, to ``erp.invoices.by-debtor``, which the worker reads;
so its results (``source.*`` headers) and dead letters (``dlq.original.*``) name a record of that
topic. This process reads it too: each copy names its input in its own ``source.*`` headers, so
every input is matched to what became of it, through its copy when it has one. A result must also
name the input itself in ``sourceTopic``/``sourcePartition``/``sourceOffset``.

The guarantees, each a check (the run exits 1 when one breaks):

- **no crash**: the worker process never exits on its own (an exit is counted and the worker
  restarted, so the run still says what happened to every record);
- **every hostile record dead-lettered with a reason**: exactly one dead letter, with one
  non-empty ``dlq.category``, ``dlq.error.code`` and ``dlq.error.description`` each, the category
  its kind calls for (``deserialization`` or ``validation``), and its key and value unchanged (the
  worker's dead letters are keyed by the debtor, as the copy they dead-letter: the input's key is
  in their ``cesce.row-key`` header); no result; the description within `DESCRIPTION_LIMIT` and the
  dead letter's own headers bounded;
- **every valid invoice one result**: exactly one ``DECLARED`` on ``cesce.sale-results``, no dead letter;
- **no Cesce call for invalid input**: the sandbox's request counts and ledger (``/sandbox-admin``)
  show one declaration per valid invoice and nothing else, and no refused call;
- **bounded memory**: the worker's RSS at the end is within ``--rss-growth-mib`` of its RSS after the
  first 10% of the hostile records; its peak (VmHWM) is reported;
- **bounded logs**: no line the worker logs is longer than `LOG_LINE_LIMIT`;
- **the broker's budget**: librdkafka's mock keeps about 5 MiB or 100,000 batches per partition (4
  partitions per topic) and silently drops the oldest beyond that, far less than the run sends. So
  the run is paced: at most ``--window-records`` records and ``--window-bytes`` bytes are in flight
  (produced, their output not yet read), which bounds the unread data of any partition; the bound is
  checked before the run, and during it every partition's log start offset is compared with its
  readers' positions (the worker's for the input, this process's for the outputs): a record the
  broker dropped before it was read is a failure. A worker that stops making progress for
  ``--stall-seconds`` ends the run with the records it left unanswered (missing results fail it).

Numbers are printed as a table and written to ``benchmarks/results/fuzz.json``.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from benchmarks.fuzz_process import WorkerProcess
from benchmarks.fuzz_records import FuzzInput, FuzzRecord
from benchmarks.fuzz_report import (
    MIB,
    Fate,
    FuzzPlan,
    FuzzReport,
    Output,
    cesce_figures,
    digest,
    problems,
    table,
    tally,
)
from benchmarks.observer import position
from benchmarks.services import (
    MOCK_PARTITION_BATCHES,
    MOCK_PARTITION_BYTES,
    Child,
    cesce_env,
    machine,
    mock_kafka_env,
    stop_children_on_sigterm,
    write_json,
    write_scenario,
)
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.contract import ROW_KEY_HEADER
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, MOCK_PARTITIONS
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["FuzzPlan", "FuzzReport", "main", "run_fuzz", "table"]

INPUT: Final = "erp.invoices"
RESULTS: Final = "cesce.sale-results"
DLQ: Final = f"{INPUT}.dlq"
BY_DEBTOR: Final = f"{INPUT}.by-debtor"
"""The re-keying companion's output, the worker's input."""
TOPICS: Final = (INPUT, BY_DEBTOR, RESULTS, DLQ)
_READ: Final = (BY_DEBTOR, RESULTS, DLQ)
RESULTS_FILE: Final = Path(__file__).parent / "results" / "fuzz.json"
_PROGRESS_SECONDS: Final = 5.0
_SAMPLE_SECONDS: Final = 0.5
_RETENTION_CHECK_SECONDS: Final = 2.0
_DRAIN_SECONDS: Final = 60.0

Partition = tuple[str, int]
Record = tuple[str, int, int]
"""topic, partition, offset"""


# ---------------------------------------------------------------------------------------------
# Kafka: the producer, the reader of the outputs, the log starts


def _producer(bootstrap: str) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "enable.idempotence": True, "linger.ms": 5}
    )


class _Reader:
    """A read_committed reader of the results and the dead letters, assigned from the beginning."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "fuzz-observer",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 20,
            }
            | dict(MOCK_CLIENT_CONFIG)
        )
        self.partitions = [TopicPartition(t, p) for t in _READ for p in range(MOCK_PARTITIONS)]
        self.consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in self.partitions])
        self.at_end: set[Partition] = set()

    def poll(self, timeout: float) -> list[Message]:
        messages = []
        for message in self.consumer.consume(1000, timeout):
            error = message.error()
            where = (message.topic() or "", message.partition() or 0)
            if error is None:
                messages.append(message)
                self.at_end.discard(where)
            elif error.code() == KafkaError._PARTITION_EOF:  # also past a transaction marker at the end
                self.at_end.add(where)
            elif error.fatal():
                raise confluent_kafka.KafkaException(error)
        return messages

    def positions(self) -> dict[Partition, int]:
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in self.consumer.position(self.partitions)}

    def close(self) -> None:
        self.consumer.close()


def _log_bounds(consumer: Consumer, topics: Sequence[str]) -> dict[Partition, tuple[int, int]]:
    """(log start, end) of every partition: the start moves up when the mock drops its oldest batches."""
    return {
        (topic, partition): consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        for topic in topics
        for partition in range(MOCK_PARTITIONS)
    }


def _header_list(message: Message) -> list[tuple[str, bytes]]:
    """A consumed record's headers in order (librdkafka gives a list of (name, bytes or None))."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(name, text.encode() if isinstance(text, str) else text or b"") for name, text in pairs]


def _named(named: dict[str, list[bytes]], prefix: str) -> Record | None:
    """The record that ``<prefix>topic/partition/offset`` headers name (their last values), if they all read."""
    try:
        topic, partition, offset = (named[f"{prefix}{field}"][-1] for field in ("topic", "partition", "offset"))
        return topic.decode(), int(partition), int(offset)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _named_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    named: dict[str, list[bytes]] = defaultdict(list)
    for name, text in headers:
        named[name].append(text)
    return named


def _output(topic: str, message: Message, results: AvroReader) -> tuple[Output, Record | None]:
    """What the checks keep of a result or a dead letter, and the record it answers: the input, or its re-keyed
    copy (``source.*`` headers of a result, ``dlq.original.*`` of a dead letter)."""
    headers = _header_list(message)
    named = _named_headers(headers)
    key, value = message.key(), message.value()
    size = len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in headers)
    if topic == DLQ:
        reason = ("dlq.category", "dlq.error.code", "dlq.error.description")
        original = _named(named, "dlq.original.")
        if original is not None and original[0] == BY_DEBTOR:
            # the copy's key is the debtor; the input's key travels in its header, absent for a null key
            key = named[ROW_KEY_HEADER][-1] if named[ROW_KEY_HEADER] else None
        return Output(
            dead_letter=True,
            digest=digest(key, value),
            size=size,
            category=named["dlq.category"][0].decode(errors="replace") if named["dlq.category"] else None,
            reason_ok=all(len(named[name]) == 1 and named[name][0] for name in reason),
            code=named["dlq.error.code"][0].decode(errors="replace")[:60] if named["dlq.error.code"] else None,
            description_bytes=max((len(v) for v in named["dlq.error.description"]), default=0),
            code_bytes=max((len(v) for v in named["dlq.error.code"]), default=0),
        ), original
    result = results.decode(value or b"", RESULTS).value
    return Output(
        dead_letter=False,
        digest=digest(key, value),
        size=size,
        outcome=str(result["outcome"]),
        invoice_no=str(result["invoiceNo"]),
        names=(str(result["sourceTopic"]), int(result["sourcePartition"]), int(result["sourceOffset"])),
    ), _named(named, "source.")


# ---------------------------------------------------------------------------------------------
# One run


class _Run:
    """What became of every record produced: fed by the delivery reports and by the outputs read."""

    def __init__(self, results: AvroReader) -> None:
        self.fates: list[Fate] = []
        self.at: dict[tuple[int, int], int] = {}
        """(partition, offset) of a delivered input -> its index in `fates`."""
        self.copies: dict[tuple[int, int], tuple[int, int]] = {}
        """(partition, offset) of a re-keyed copy (`BY_DEBTOR`) -> (partition, offset) of the input it carries."""
        self.early: dict[Record, list[Output]] = defaultdict(list)
        """Outputs read before the input's delivery report, or before the copy they name."""
        self.misnamed = 0
        """Results whose sourceTopic/sourcePartition/sourceOffset name another record than their input."""
        self.unplaced = 0
        self.delivery_failures: list[str] = []
        self.unfinished = 0
        self.unfinished_bytes = 0
        self.hostile_finished = 0
        self.last_progress = time.monotonic()
        self._results = results

    def add(self, record: FuzzRecord) -> Callable[[Any, Any], None]:
        """Count `record` in flight; the delivery callback that places it."""
        index = len(self.fates)
        self.fates.append(
            Fate(record.kind, record.expect, record.size, digest(record.key, record.value), record.invoice_no)
        )
        self.unfinished += 1
        self.unfinished_bytes += record.size

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                self.delivery_failures.append(f"{record.kind} #{record.index}: {error}")
                return
            where = (message.partition(), message.offset())
            self.at[where] = index
            for output in self.early.pop((INPUT, *where), []):
                self._attach(index, output, where)

        return delivered

    def read(self, message: Message) -> None:
        topic, partition, offset = position(message)
        if topic == BY_DEBTOR:
            carried = _named(_named_headers(_header_list(message)), "source.")
            if carried is None or carried[0] != INPUT:
                self.unplaced += 1
                return
            self.copies[(partition, offset)] = (carried[1], carried[2])
            for output in self.early.pop((BY_DEBTOR, partition, offset), []):
                self._place(carried, output)
            return
        output, answers = _output(topic, message, self._results)
        if answers is None:
            self.unplaced += 1
        else:
            self._place(answers, output)

    def _place(self, answers: Record, output: Output) -> None:
        """Attach `output` to the input that `answers` is, or carries; keep it until both are known."""
        topic, partition, offset = answers
        if topic == BY_DEBTOR:
            if (partition, offset) not in self.copies:
                self.early[answers].append(output)
                return
            partition, offset = self.copies[(partition, offset)]
        elif topic != INPUT:
            self.unplaced += 1
            return
        where = (partition, offset)
        if where in self.at:
            self._attach(self.at[where], output, where)
        else:
            self.early[(INPUT, *where)].append(output)

    def _attach(self, index: int, output: Output, where: tuple[int, int]) -> None:
        fate = self.fates[index]
        if output.names is not None and output.names != (INPUT, *where):
            self.misnamed += 1
        fate.outputs.append(output)
        if len(fate.outputs) == 1:
            self.unfinished -= 1
            self.unfinished_bytes -= fate.size
            self.hostile_finished += bool(fate.expect)
            self.last_progress = time.monotonic()

    def unanswered_starts(self) -> dict[Partition, int]:
        """Per partition of the input and of the copies, the lowest offset whose output was not read yet."""
        lowest: dict[Partition, int] = {}
        unanswered = {where for where, index in self.at.items() if not self.fates[index].outputs}
        places = [((INPUT, p), o, (p, o)) for p, o in unanswered]
        places += [((BY_DEBTOR, p), o, carried) for (p, o), carried in self.copies.items() if carried in unanswered]
        for partition, offset, carried in places:
            if carried in unanswered:
                lowest[partition] = min(offset, lowest.get(partition, offset))
        return lowest

    def done(self) -> bool:
        return self.unfinished == 0 and len(self.at) == len(self.fates)


def _worker_env(plan: FuzzPlan, bootstrap: str, registry_url: str, sandbox_url: str, run_id: str) -> dict[str, str]:
    """The product's defaults (the re-keying companion included) but for the group, the health port and the logs."""
    return {
        **mock_kafka_env(bootstrap, registry_url),
        "WORKER_GROUP_ID": f"fuzz-invoices-{run_id}",
        "WORKER_INSTANCE_ID": "fuzz",
        "WORKER_HTTP_HOST": "127.0.0.1",
        "WORKER_HTTP_PORT": "0",
        "WORKER_MAX_IN_FLIGHT": str(plan.max_in_flight),
        "LOG_FORMAT": "json",
        **cesce_env(sandbox_url, "fuzz"),
    }


def run_fuzz(plan: FuzzPlan, say: Callable[[str], None] = print) -> FuzzReport:
    """One run on a fresh broker, sandbox and worker process, every one stopped at the end; the report, checked."""
    report = FuzzReport(plan, problems=plan.budget_problems())
    if report.problems:
        return report
    run_id = secrets.token_hex(3).upper()
    started = time.perf_counter()
    # the registry in this process, over HTTP like any: the worker process, the inputs' encoder and the outputs'
    # decoder share its ids
    with (
        tempfile.TemporaryDirectory(prefix="fuzz-invoices-") as directory,
        EmbeddedRegistry() as registry,
        schema_registry_client(registry.url) as client,
    ):
        state = _Run(AvroReader(client))
        scenario = write_scenario(plan.debtors, Path(directory))
        sandbox_args = ["sandbox", "--port", "0", "--scenario", str(scenario), "--latency-ms", str(plan.latency_ms)]
        # the broker creates the workers' topics, TOPICS among them, before it prints its address
        with Child(["broker"], "broker") as broker, Child(sandbox_args, "sandbox") as sandbox:
            env = _worker_env(plan, broker.address, registry.url, sandbox.address, run_id)
            records = FuzzInput(
                hostile=plan.hostile,
                valid=plan.valid,
                big=plan.big,
                big_bytes=plan.big_bytes,
                debtors=plan.debtors,
                seed=plan.seed,
                run=run_id,
                registry_url=registry.url,
            )
            try:
                with WorkerProcess(env, directory) as worker:
                    _Session(plan, report, state, worker, bootstrap=broker.address, say=say).run(records.records())
            finally:
                records.close()
            admin = SandboxAdmin(sandbox.address)
            report.cesce = cesce_figures(admin.stats(), admin.ledger(), state.fates)
    report.seconds = round(time.perf_counter() - started, 1)
    report.unmatched_outputs = state.unplaced + sum(len(outputs) for outputs in state.early.values())
    report.misnamed_results = state.misnamed
    report.delivery_failures = state.delivery_failures[:20]
    tally(report, state.fates)
    report.broker["input_mib"] = round(report.produced_bytes / MIB, 1)
    report.problems = problems(report)
    return report


class _Session:
    """The loop: produce within the window, read the outputs, watch the worker; then stop it and read to the end."""

    def __init__(
        self,
        plan: FuzzPlan,
        report: FuzzReport,
        state: _Run,
        worker: WorkerProcess,
        *,
        bootstrap: str,
        say: Callable[[str], None],
    ) -> None:
        self.plan, self.report, self.state, self.worker, self.say = plan, report, state, worker, say
        self.bootstrap = bootstrap
        self.dropped_unread: set[str] = set()

    def run(self, records: Iterator[FuzzRecord]) -> None:
        producer, reader = _producer(self.bootstrap), _Reader(self.bootstrap)
        bounds = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "fuzz-log-bounds"})
        try:
            self._loop(records, producer, reader, bounds)
            report, worker = self.report, self.worker
            report.rss_end_kib = worker.rss_kib()
            report.rss_peak_kib = worker.peak_rss_kib()
            report.worker_cpu_seconds = round(worker.cpu_seconds(), 1)
            exit_code = worker.stop()
            report.log = worker.log_figures() | {"exit_code_on_sigterm": exit_code}
            producer.flush(30)
            self._drain(reader, bounds)
            self._check_retention(bounds, reader)
            report.broker = self._broker_figures(_log_bounds(bounds, TOPICS))
        finally:
            reader.close()
            bounds.close()

    def _loop(self, records: Iterator[FuzzRecord], producer: Producer, reader: _Reader, bounds: Consumer) -> None:
        plan, state, report, worker = self.plan, self.state, self.report, self.worker
        total = plan.hostile + plan.valid
        report.rss_start_kib = worker.rss_kib()
        pending = next(records, None)
        next_sample = next_check = next_say = time.monotonic()
        while True:
            while (
                pending is not None
                and state.unfinished < plan.window_records
                and (state.unfinished == 0 or state.unfinished_bytes + pending.size <= plan.window_bytes)
            ):
                _send(producer, pending, state.add(pending))
                pending = next(records, None)
            producer.poll(0)
            for message in reader.poll(0.05):
                state.read(message)
            if worker.exited():
                report.crashes += 1
                report.crash_details.append(worker.crash_text())
                self.say(f"  the worker exited ({report.crash_details[-1][:300]}); starting it again")
                worker.restart()
            if not report.rss_after_10_percent_kib and state.hostile_finished >= plan.hostile / 10:
                report.rss_after_10_percent_kib = worker.rss_kib()
            now = time.monotonic()
            if now >= next_sample:  # the peak (VmHWM) and the CPU time, while the worker runs
                next_sample = now + _SAMPLE_SECONDS
                worker.rss_kib()
            if now >= next_check:
                next_check = now + _RETENTION_CHECK_SECONDS
                self._check_retention(bounds, reader)
            if now >= next_say:
                next_say = now + _PROGRESS_SECONDS
                answered = len(state.fates) - state.unfinished
                self.say(
                    f"  {len(state.fates):,}/{total:,} produced, {answered:,} answered; "
                    f"worker RSS {worker.rss_kib() / 1024:.0f} MiB"
                )
            if pending is None and state.done():
                return
            if now - state.last_progress > plan.stall_seconds:
                report.stalled = True
                self.say(f"  nothing answered for {plan.stall_seconds:.0f} s: {state.unfinished} record(s) left")
                return

    def _check_retention(self, bounds: Consumer, reader: _Reader) -> None:
        """Note every partition whose log start passed a record nobody had read: the broker dropped it unread."""
        starts = {where: start for where, (start, _) in _log_bounds(bounds, TOPICS).items()}
        for (topic, partition), offset in self.state.unanswered_starts().items():
            if starts[(topic, partition)] > offset:
                self.dropped_unread.add(f"{topic}[{partition}]: the log starts past unanswered offset {offset}")
        for (topic, partition), at in reader.positions().items():
            if starts[(topic, partition)] > at:
                self.dropped_unread.add(f"{topic}[{partition}]: the log starts past offset {at}, not read yet")

    def _drain(self, reader: _Reader, bounds: Consumer) -> None:
        """Read every output the stopped worker left: each partition to its end (or its end-of-partition event)."""
        ends = {where: end for where, (_, end) in _log_bounds(bounds, _READ).items()}
        reader.at_end.clear()
        deadline = time.monotonic() + _DRAIN_SECONDS
        while time.monotonic() < deadline:
            for message in reader.poll(0.1):
                self.state.read(message)
            positions = reader.positions()
            if all(positions[where] >= end or where in reader.at_end for where, end in ends.items()):
                return
        self.report.problems.append(f"the outputs could not be read to their end within {_DRAIN_SECONDS:.0f} s")

    def _broker_figures(self, bounds: dict[Partition, tuple[int, int]]) -> dict[str, Any]:
        return {
            "partitions_per_topic": MOCK_PARTITIONS,
            "kept_per_partition_mib": MOCK_PARTITION_BYTES / MIB,
            "kept_per_partition_batches": MOCK_PARTITION_BATCHES,
            "window_records": self.plan.window_records,
            "window_mib": round(self.plan.window_bytes / MIB, 2),
            "worst_unread_per_partition_mib": round(self.plan.worst_unread_bytes() / MIB, 2),
            # offsets (transaction markers included): everything below a log start was dropped by the mock, after
            # it had been read (or `dropped_before_read` says otherwise)
            "log_end_offsets": {t: sum(end for (topic, _), (_, end) in bounds.items() if topic == t) for t in TOPICS},
            "log_start_offsets": {
                t: sum(start for (topic, _), (start, _) in bounds.items() if topic == t) for t in TOPICS
            },
            "dropped_before_read": sorted(self.dropped_unread)[:20],
        }


def _send(producer: Producer, record: FuzzRecord, on_delivery: Callable[[Any, Any], None]) -> None:
    while True:
        try:
            producer.produce(
                INPUT, key=record.key, value=record.value, headers=list(record.headers), on_delivery=on_delivery
            )
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.05)


# ---------------------------------------------------------------------------------------------
# The command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz_invoices", description=__doc__.split("\n")[0])
    defaults = FuzzPlan()
    for name, help_text in (
        ("hostile", "hostile records"),
        ("valid", "valid invoices mixed with them"),
        ("big", "hostile records with a string of --big-bytes characters, spread over the run"),
        ("big-bytes", "characters of each big string"),
        ("seed", "seed of the record generator (the same seed, the same records)"),
        ("debtors", "debtors of the valid invoices"),
        ("max-in-flight", "WORKER_MAX_IN_FLIGHT"),
        ("window-bytes", "bytes produced whose output is not read yet, at most"),
        ("window-records", "records produced whose output is not read yet, at most"),
    ):
        attribute = name.replace("-", "_")
        default = getattr(defaults, attribute)
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{help_text} (default {default})")
    for name, help_text in (
        ("latency-ms", "sandbox latency per call"),
        ("stall-seconds", "end the run when no record is answered for this long"),
        ("rss-growth-mib", "the most the worker's RSS may grow from 10%% of the run to its end"),
    ):
        attribute = name.replace("-", "_")
        default = getattr(defaults, attribute)
        parser.add_argument(f"--{name}", type=float, default=default, help=f"{help_text} (default {default:g})")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_children_on_sigterm()
    plan = FuzzPlan(**{k: v for k, v in vars(args).items() if k != "output"})
    if plan.hostile < 1 or plan.valid < 0 or plan.big < 0 or plan.debtors < 1 or plan.window_records < 1:
        raise SystemExit("--hostile and --debtors must be positive, --valid and --big not negative")
    print(
        f"{plan.hostile:,} hostile records ({plan.big} of {plan.big_bytes:,} characters) and {plan.valid:,} valid "
        f"invoices, seed {plan.seed}; at most {plan.window_records:,} records / {plan.window_bytes / MIB:.1f} MiB "
        f"in flight (worst case {plan.worst_unread_bytes() / MIB:.1f} MiB unread in a partition; the embedded broker "
        f"keeps {MOCK_PARTITION_BYTES // MIB} MiB or {MOCK_PARTITION_BATCHES:,} batches per partition, "
        f"{MOCK_PARTITIONS} per topic)",
        flush=True,
    )
    report = run_fuzz(plan, say=lambda line: print(line, flush=True))
    print()
    print(table(report))
    print()
    summary = {"parameters": asdict(plan), "machine": machine()} | report.summary()
    summary.pop("plan", None)
    write_json(args.output, summary)
    print(
        f"{report.produced:,} records ({report.produced_bytes / MIB:.0f} MiB) in {report.seconds:.0f} s; "
        f"worker CPU {report.worker_cpu_seconds:.0f} s"
    )
    dropped = report.broker.get("log_start_offsets", {})
    if dropped:
        print(
            f"the embedded broker dropped the first {dropped.get(INPUT, 0):,} offsets of {INPUT} and "
            f"{dropped.get(DLQ, 0):,} of {DLQ} (it keeps {MOCK_PARTITION_BYTES // MIB} MiB per partition), "
            f"{len(report.broker.get('dropped_before_read', [])) or 'none'} before they were read"
        )
    print(f"results written to {args.output}")
    if report.problems:
        print("CHECKS FAILED:", *report.problems, sep="\n  ", file=sys.stderr)
        return 1
    print(
        "checks: no crash, every hostile record dead-lettered with a reason, every valid invoice one result, "
        "no Cesce call for invalid input, bounded memory, dead letters and logs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
