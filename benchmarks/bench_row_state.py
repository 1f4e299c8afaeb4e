"""The invoices worker's row state for 1 million ERP rows: its size, its load time on assignment, its memory.

The embedded broker runs as a child process. The benchmark writes `--rows` ``cesce.state.SentSale``
records (Avro, through the worker's own codec) keyed like Debezium's JSON primary key
(``{"id":N}``), spread evenly over the state topic's 4 partitions, each with the ``source.*``
headers every output of the worker carries, zstd-compressed in large batches. Then, in this
process, through `RowState` as the worker uses it:

- **one partition**: the first record of a stay loads that partition to its end (what a member
  waits for before handling the first record of a partition it was given);
- **all four**: four stays loaded concurrently (a member given every partition), wall-clock time;
- **memory**: the bytes Python holds for the loaded rows of all four partitions (tracemalloc's
  current size after a load made under it, so the loader's garbage is not counted), and this
  process's RSS growth over a load without tracemalloc;
- **decode on read**: what `PartitionRows.get` costs per row (values are kept encoded).

The mock broker keeps only about 5 MiB or 100,000 batches per partition and silently drops the
oldest beyond that (`benchmarks.services.MOCK_PARTITION_BYTES`): the run reads every partition's
low watermark and counts the rows it loaded, and says whether the mock kept everything it was
given (``complete``); it fails (exit 1) if not. Results go to ``benchmarks/results/row_state.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.services import (
    BENCH_CONTRACT,
    BULK_PRODUCER,
    MOCK_PARTITION_BYTES,
    Child,
    bench_debtor,
    machine,
    rss_kib,
    stop_children_on_sigterm,
    write_json,
)
from workers.invoices.handler import STATE_SCHEMA
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime import InputRecord, PartitionRows, RowState
from workers.runtime.embedded import MOCK_CLIENT_CONFIG, MOCK_PARTITIONS
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec

RESULTS_FILE: Final = Path(__file__).parent / "results" / "row_state.json"
_TOPIC: Final = "cesce.invoices.rows"
_INPUT: Final = "erp.invoices.by-debtor"
_READS: Final = 10_000


def sent_sale(n: int, today: date) -> dict[str, Any]:
    """The state of the `n`-th ERP invoice, as the worker keeps it after declaring it."""
    return {
        "contractNo": BENCH_CONTRACT,
        "invoiceNo": f"F{n:09d}",
        "invoiceDate": today - timedelta(days=n % 90),
        "maturityDate": today + timedelta(days=60 - n % 90),
        "amount": Decimal(1000 + n % 997 * 37) / 100,
        "currencyCode": "EUR",
        "endorsementNo": None,
        "customerReference": bench_debtor(n % 5000),
        "subsidiaryNo": None,
        "acquisitionDate": None,
        "taxCodeTransferor": None,
    }


def write_state(bootstrap: str, codec: AvroCodec, rows: int) -> dict[str, Any]:
    """`rows` state records, row n on partition n % 4 with the headers the worker's outbox writes."""
    producer = Producer({"bootstrap.servers": bootstrap, **MOCK_CLIENT_CONFIG, **BULK_PRODUCER})
    today = date.today()
    started = time.monotonic()
    raw = 0
    for n in range(rows):
        partition = n % MOCK_PARTITIONS
        key = b'{"id":%d}' % n
        value = codec.encode(sent_sale(n, today), _TOPIC)
        headers: list[tuple[str, str | bytes | None]] = [
            ("source.topic", _INPUT.encode()),
            ("source.partition", str(partition).encode()),
            ("source.offset", str(n // MOCK_PARTITIONS).encode()),
            ("source.output", b"1/2"),
        ]
        raw += len(key) + len(value) + sum(len(name) + len(text or b"") for name, text in headers)
        while True:
            try:
                producer.produce(_TOPIC, key=key, value=value, headers=headers, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(300) > 0:
        raise TimeoutError("the state records were not all delivered")
    return {
        "rows": rows,
        "uncompressed_mib": round(raw / 2**20, 1),
        "write_seconds": round(time.monotonic() - started, 1),
    }


def watermarks(bootstrap: str) -> dict[int, tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-row-state", **MOCK_CLIENT_CONFIG})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(_TOPIC, p), timeout=10) for p in range(MOCK_PARTITIONS)
        }
    finally:
        consumer.close()


def _first_record(partition: int, stay: int) -> InputRecord:
    return InputRecord(_INPUT, partition, 0, None, b"BENCH-0001", b"", (), None, assignment=stay)


async def _load(state: RowState, partitions: Sequence[int], stay: int) -> tuple[float, list[PartitionRows]]:
    started = time.perf_counter()
    loaded = await asyncio.gather(*(state.rows(_first_record(p, stay)) for p in partitions))
    return time.perf_counter() - started, list(loaded)


async def measure(bootstrap: str, codec: AvroCodec) -> dict[str, Any]:
    config = {"bootstrap.servers": bootstrap, **MOCK_CLIENT_CONFIG}
    every = range(MOCK_PARTITIONS)
    one_seconds, (first,) = await _load(RowState.of_topic(_TOPIC, config, codec), [0], stay=1)
    del first
    rss_before = rss_kib()["rss"]
    all_seconds, loaded = await _load(RowState.of_topic(_TOPIC, config, codec), every, stay=1)
    rss_growth_kib = rss_kib()["rss"] - rss_before
    counts = [len(rows) for rows in loaded]
    keys = [b'{"id":%d}' % n for n in range(0, sum(counts), max(1, sum(counts) // _READS))][:_READS]
    started = time.perf_counter()
    found = sum(loaded[int(key[6:-1]) % MOCK_PARTITIONS].get(key) is not None for key in keys)
    read_us = (time.perf_counter() - started) / max(1, len(keys)) * 1e6
    del loaded
    tracemalloc.start()
    _seconds, held = await _load(RowState.of_topic(_TOPIC, config, codec), every, stay=1)
    held_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = sum(len(r) for r in held)
    return {
        "rows_loaded_per_partition": counts,
        "load_one_partition_seconds": round(one_seconds, 2),
        "load_all_partitions_seconds": round(all_seconds, 2),
        "rows_per_second_all": round(sum(counts) / all_seconds),
        "held_mib": round(held_bytes / 2**20, 1),
        "held_bytes_per_row": round(held_bytes / max(1, rows)),
        "rss_growth_mib": round(rss_growth_kib / 1024, 1),
        "decode_on_read_microseconds": round(read_us, 1),
        "reads_found": f"{found}/{len(keys)}",
    }


def run(rows: int) -> dict[str, Any]:
    with (
        Child(["broker"], "broker") as broker,
        EmbeddedRegistry() as registry,
        schema_registry_client(registry.url) as client,
    ):
        codec = AvroCodec(client, STATE_SCHEMA)
        written = write_state(broker.address, codec, rows)
        marks = watermarks(broker.address)
        measured = asyncio.run(measure(broker.address, codec))
    kept = sum(measured["rows_loaded_per_partition"])
    return {
        "written": written,
        "mock": {
            "partition_limit_mib": MOCK_PARTITION_BYTES / 2**20,
            "watermarks": {str(p): list(mark) for p, mark in marks.items()},
            "complete": kept == rows and all(low == 0 for low, _ in marks.values()),
        },
        "load": measured,
        "machine": machine(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_row_state", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ERP rows in the state (default 1,000,000)")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"results file (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    stop_children_on_sigterm()
    result = run(args.rows)
    print(json.dumps(result, indent=2))
    write_json(args.output, result)
    if not result["mock"]["complete"]:
        print("the mock broker dropped state records: the load measured less than was written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
