"""`RowState` over TCP: one partition of a state topic loaded to its end, tombstones applied, other partitions left."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.kafka_backends import KafkaBackend, consumer_config, producer_config, unique_topic
from workers.runtime import InputRecord, RowState

pytestmark = pytest.mark.integration


class JsonCodec:
    def encode(self, value: Mapping[str, Any], topic: str) -> bytes:
        return json.dumps(value).encode()

    def decode(self, data: bytes | None, topic: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(data or b"")
        return decoded


def record(partition: int, stay: int) -> InputRecord:
    return InputRecord("erp.invoices", partition, 0, None, b"CLI-0001", b"{}", (), None, assignment=stay)


def write(producer: Producer, topic: str, partition: int, rows: Mapping[str, int | None]) -> None:
    producer.begin_transaction()
    for key, value in rows.items():
        encoded = None if value is None else json.dumps({"v": value}).encode()
        producer.produce(topic, key=key, value=encoded, partition=partition)
    producer.commit_transaction()


async def test_a_stay_loads_its_partition_to_the_end_and_only_that_partition(kafka: KafkaBackend) -> None:
    topic = unique_topic("rows")
    state = RowState.of_topic(topic, consumer_config(kafka), JsonCodec())
    assert len(await state.rows(record(1, stay=1))) == 0, "a state topic nobody wrote yet is empty"
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("tx")}))
    producer.init_transactions()
    write(producer, topic, 1, {f"row-{n}": n for n in range(300)})
    write(producer, topic, 1, {"row-0": None, "row-1": 1001})
    write(producer, topic, 0, {"elsewhere": 7})

    rows = await state.rows(record(1, stay=2))
    assert len(rows) == 299
    assert (rows.get(b"row-0"), rows.get(b"row-1"), rows.get(b"row-299")) == (None, {"v": 1001}, {"v": 299})
    assert rows.get(b"elsewhere") is None, "partition 0 belongs to partition 0's stays"

    write(producer, topic, 1, {"row-2": 2002})
    assert (await state.rows(record(1, stay=2))).get(b"row-2") == {"v": 2}, "loaded once per stay"
    assert (await state.rows(record(1, stay=3))).get(b"row-2") == {"v": 2002}, "a new stay reads the new end"
    assert (await state.rows(record(0, stay=3))).get(b"elsewhere") == {"v": 7}
