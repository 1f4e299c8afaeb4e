"""What the chaos run reads back from Kafka: the outputs, ``read_committed``, and every partition's watermarks.

`Tap` reads ``cesce.sale-results`` and ``erp.invoices.dlq`` from their first offset, in a thread, each
record as an `Output` naming its input (``source.*`` headers, or ``dlq.original.*``). The worker reads
the re-keying companion's ``erp.invoices.by-debtor``, so its results and dead letters name a record of
that topic; the tap reads it too, and `Origins` carries each output over to the ERP record its copy
names (the copy's own ``source.*`` headers), keeping the copy as `Output.via`. `partition_uses`
measures every partition after the run, for the checks against the embedded broker's limits.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from benchmarks.chaos_report import BY_DEBTOR, DLQ, INPUT, RESULTS, Delivery, Output, PartitionUse
from benchmarks.chaos_workload import Invoice
from benchmarks.observer import position
from workers.runtime.dlq import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC
from workers.runtime.embedded import MOCK_CLIENT_CONFIG

__all__ = ["Origins", "Tap", "partition_uses"]


def _headers(message: Message) -> dict[str, bytes]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {name: value if isinstance(value, bytes) else (value or "").encode() for name, value in pairs}


def _source(headers: Mapping[str, bytes]) -> tuple[str, int, int] | None:
    for topic, partition, offset in (
        (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET),
        ("dlq.original.topic", "dlq.original.partition", "dlq.original.offset"),
    ):
        with contextlib.suppress(KeyError, UnicodeDecodeError, ValueError):
            return headers[topic].decode(), int(headers[partition]), int(headers[offset])
    return None


def _output(message: Message, arrived: float) -> Output:
    topic, partition, offset = position(message)
    headers = _headers(message)
    key, value = message.key() or b"", message.value() or b""
    key_bytes = key if isinstance(key, bytes) else str(key).encode()
    category = headers.get("dlq.category")
    return Output(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key_bytes.decode(errors="replace"),
        source=_source(headers),
        category=category.decode(errors="replace") if category is not None else None,
        value=value,
        size=len(key_bytes) + len(value) + sum(len(name) + len(v) for name, v in headers.items()),
        arrived=arrived,
    )


class Origins:
    """Which input each re-keyed copy carries, and the outputs read before their copy (resolved when it comes)."""

    def __init__(self) -> None:
        self._inputs: dict[tuple[int, int], tuple[str, int, int] | None] = {}
        self._waiting: dict[tuple[int, int], list[Output]] = defaultdict(list)

    def copy(self, copy: Output) -> list[Output]:
        """Note the `BY_DEBTOR` record `copy` (its `source` the input it carries); the outputs that waited for it."""
        self._inputs[(copy.partition, copy.offset)] = copy.source
        return [self._carried(output, copy.source) for output in self._waiting.pop((copy.partition, copy.offset), [])]

    def resolve(self, output: Output) -> Output | None:
        """`output` naming the input itself; None while the copy it names was not read yet (it waits for it)."""
        if output.source is None or output.source[0] != BY_DEBTOR:
            return output
        where = (output.source[1], output.source[2])
        if where not in self._inputs:
            self._waiting[where].append(output)
            return None
        return self._carried(output, self._inputs[where])

    @staticmethod
    def _carried(output: Output, source: tuple[str, int, int] | None) -> Output:
        return replace(output, source=source, via=output.source)

    def unresolved(self) -> list[Output]:
        """Outputs naming a copy never read (strays, as they name no input)."""
        return [output for outputs in self._waiting.values() for output in outputs]


class Tap:
    """A read_committed reader of the results and the dead letters from their first offset, in a thread."""

    def __init__(self, bootstrap: str, clock: Callable[[], float]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "chaos-observer",  # never joined: partitions are assigned
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
            }
            | dict(MOCK_CLIENT_CONFIG)
        )
        self._clock = clock
        self._waiting = {RESULTS, DLQ, BY_DEBTOR}
        self._checked = -1.0
        self._assigned: list[TopicPartition] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-tap", daemon=True)
        self.outputs: list[Output] = []
        self.copies: list[Output] = []
        """The re-keyed copies of the inputs (``erp.invoices.by-debtor``), `source` the input each carries."""
        self.origins = Origins()
        self.answered: set[tuple[int, int]] = set()
        """(partition, offset) of the inputs with an output so far."""
        self.error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _assign_new_topics(self, force: bool = False) -> None:
        now = self._clock()
        if not self._waiting or (not force and now - self._checked < 0.5):
            return
        self._checked = now
        existing = self._consumer.list_topics(timeout=10).topics
        for topic in sorted(self._waiting & set(existing)):
            partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(existing[topic].partitions)]
            self._consumer.incremental_assign(partitions)
            self._assigned.extend(partitions)
            self._waiting.discard(topic)

    def _consume(self) -> int:
        batch = self._consumer.consume(1000, 0.1)
        now = self._clock()
        for message in batch:
            if message.error() is not None:
                continue
            read = _output(message, now)
            if read.topic == BY_DEBTOR:
                self.copies.append(read)
                resolved = self.origins.copy(read)
            else:
                output = self.origins.resolve(read)
                resolved = [] if output is None else [output]
            for output in resolved:
                self.outputs.append(output)
                if output.source is not None and output.source[0] == INPUT:
                    self.answered.add((output.source[1], output.source[2]))
        return len(batch)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._assign_new_topics()
                self._consume()
        except Exception as exc:
            self.error = f"the reader failed: {exc!r}"

    def read_to_end(self, quiet_seconds: float = 5.0, timeout: float = 120.0) -> None:
        """Stop the thread, then read on (the producers are gone) until every assigned partition is read to its
        high watermark, or nothing came for `quiet_seconds` (a partition may end with transaction markers,
        which a reader never receives)."""
        self._stop.set()
        self._thread.join(30)
        self._assign_new_topics(force=True)
        ends = {
            (tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self._assigned
        }
        deadline, quiet_since = self._clock() + timeout, self._clock()
        while self._clock() - quiet_since < quiet_seconds:
            if self._clock() > deadline:
                raise TimeoutError(f"the outputs could not be read to their end in {timeout:.0f} s")
            positions = self._consumer.position([TopicPartition(t, p) for t, p in ends])
            if all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in positions if ends[(tp.topic, tp.partition)]):
                break
            if self._consume():
                quiet_since = self._clock()
        self.outputs.extend(self.origins.unresolved())

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        self._consumer.close()


def partition_uses(
    bootstrap: str, invoices: Sequence[Invoice], deliveries: Mapping[int, Delivery], outputs: Sequence[Output]
) -> list[PartitionUse]:
    data: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for invoice in invoices:
        delivery = deliveries.get(invoice.index)
        if delivery is not None:
            entry = data[(INPUT, delivery.partition)]
            entry[0] += 1
            entry[1] += len(invoice.value) + len(invoice.debtor)
    for output in outputs:
        entry = data[(output.topic, output.partition)]
        entry[0] += 1
        entry[1] += output.size
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-sizes", "enable.auto.commit": False})
    try:
        topics = consumer.list_topics(timeout=10).topics
        uses = []
        for topic in (INPUT, BY_DEBTOR, RESULTS, DLQ):
            if topic not in topics:
                continue
            for partition in sorted(topics[topic].partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                records, data_bytes = data.get((topic, partition), [0, 0])
                uses.append(PartitionUse(topic, partition, low, high, records, data_bytes))
        return uses
    finally:
        consumer.close()
