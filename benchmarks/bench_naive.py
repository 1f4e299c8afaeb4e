"""The naive baseline: one record at a time (consume, decode, declare, produce the result, commit the transaction).

It is the loop a first version would be, correct (exactly once, in order) and latency-bound: about one
Cesce call per sandbox latency, so its ceiling is ``1 / latency``. It is what the runtime exists to
beat, so the ratio of the two rates says what key-ordered concurrency buys. `naive_loop` is a
`SystemUnderTest` for `benchmarks.bench_measure.timed_run`; `read_result` reads back what it writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from benchmarks.bench_measure import SystemUnderTest
from benchmarks.bench_workload import INPUT, RESULTS
from benchmarks.observer import position
from workers.cesce import CesceClient, CesceSettings, SaleDeclaration
from workers.cesce.catalogue import SALE_TARIFFED
from workers.runtime.embedded import MOCK_CLIENT_CONFIG

__all__ = ["naive_loop", "read_result"]


def naive_loop(total: int, steps: dict[str, list[float]]) -> SystemUnderTest:
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


def read_result(value: bytes) -> tuple[str, bool]:
    """One of the naive loop's results -> (invoiceNo, whether the sale was tariffed as expected)."""
    result = json.loads(value)
    return str(result["invoiceNo"]), result["statusCode"] == SALE_TARIFFED
