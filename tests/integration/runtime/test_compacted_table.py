"""`CompactedTable`: a compacted topic read to its end as of each call, over TCP."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tests.kafka_backends import KafkaBackend, consumer_config, producer_config, unique_topic
from workers.runtime.table import CompactedTable

pytestmark = pytest.mark.integration


def decode(value: bytes, _topic: str) -> str:
    return value.decode()


async def test_every_committed_value_by_key_tombstones_deleting(kafka: KafkaBackend) -> None:
    topic = unique_topic("state")
    table = CompactedTable(topic, consumer_config(kafka), decode)
    try:
        assert await table.read() == {}, "a topic nobody wrote yet is an empty table"
        producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("tx")}))
        producer.init_transactions()
        producer.begin_transaction()
        for n in range(20):
            producer.produce(topic, key=f"k{n % 5}", value=f"v{n}".encode())
        producer.commit_transaction()
        assert await table.read() == {f"k{n}": f"v{15 + n}" for n in range(5)}, "all of it, once committed"
        producer.begin_transaction()
        producer.produce(topic, key="k1", value=None)
        producer.produce(topic, key="k9", value=b"new")
        producer.commit_transaction()
        after = await table.read()
        assert "k1" not in after
        assert after["k9"] == "new"
        assert await table.read() == after, "nothing new: the same table, at once"
    finally:
        table.close()


async def test_a_value_that_cannot_be_decoded_leaves_its_key_out(kafka: KafkaBackend) -> None:
    topic = unique_topic("state")

    def strict(value: bytes, _topic: str) -> str:
        if value == b"garbage":
            raise ValueError("not a state record")
        return value.decode()

    producer = Producer(producer_config(kafka))
    for key, value in (("a", b"1"), ("b", b"2"), ("b", b"garbage"), ("c", b"3")):
        producer.produce(topic, key=key, value=value)
    producer.flush(10)
    table = CompactedTable(topic, consumer_config(kafka), strict)
    try:
        assert await table.read() == {"a": "1", "c": "3"}
    finally:
        table.close()
