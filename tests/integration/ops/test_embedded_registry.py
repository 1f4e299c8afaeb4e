"""The embedded Schema Registry over HTTP, with confluent-kafka's own client and serializers as the outside client.

Every endpoint the client uses and every error code it meets; compatibility at each level; a
Confluent-framed round trip; `cesce-worker broker`'s second line; and a consumer in another
process, knowing only the registry's URL, reading what the invoices worker published.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.runtime.support import produce, read
from tests.integration.workers.support import worker_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.demo.sample import sample_changes
from workers.invoices import invoices_specs
from workers.ops.registry_server import CONTENT_TYPE, EmbeddedRegistry
from workers.runtime.run import serve_all
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def record(*fields: tuple[str, Any, dict[str, Any]]) -> Schema:
    declared = [{"name": name, "type": type_, **extra} for name, type_, extra in fields]
    return Schema(json.dumps({"type": "record", "name": "Row", "namespace": "t", "fields": declared}), "AVRO")


V1 = record(("id", "string", {}))
ADDS_WITH_DEFAULT = record(("id", "string", {}), ("note", "string", {"default": ""}))
ADDS_WITHOUT_DEFAULT = record(("id", "string", {}), ("note", "string", {}))
DROPS_ID = record(("note", "string", {"default": ""}))


@pytest.fixture
def registry() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry() as running:
        yield running


@pytest.fixture
def client(registry: EmbeddedRegistry) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": registry.url}) as made:
        yield made


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[int, int, str]:
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args, **kwargs)
    return caught.value.http_status_code, caught.value.error_code, caught.value.error_message


def test_register_read_back_and_look_up(client: SchemaRegistryClient) -> None:
    assert client.get_subjects() == []
    assert client.register_schema("rows-value", V1) == 1
    assert client.register_schema("rows-value", V1) == 1  # idempotent
    assert client.register_schema("other-value", V1) == 1  # one schema, one id, in every subject
    assert client.register_schema("rows-value", ADDS_WITH_DEFAULT) == 2
    assert json.loads(client.get_schema(1).schema_str or "") == json.loads(V1.schema_str or "")
    assert client.get_schema_types() == ["AVRO"]
    assert client.get_subjects() == ["other-value", "rows-value"]
    assert client.get_versions("rows-value") == [1, 2]
    first = client.get_version("rows-value", 1)
    assert (first.subject, first.version, first.schema_id) == ("rows-value", 1, 1)
    latest = client.get_latest_version("rows-value")
    assert (latest.version, latest.schema_id) == (2, 2)
    found = client.lookup_schema("rows-value", V1)
    assert (found.subject, found.version, found.schema_id) == ("rows-value", 1, 1)
    assert [(v.subject, v.version) for v in client.get_schema_versions(1)] == [("other-value", 1), ("rows-value", 1)]
    assert client.get_subjects_by_schema_id(1) == ["other-value", "rows-value"]


def test_not_found_and_invalid(client: SchemaRegistryClient) -> None:
    client.register_schema("rows-value", V1)
    assert refused(client.get_schema, 99) == (404, 40403, "Schema 99 not found")
    assert refused(client.get_versions, "nope") == (404, 40401, "Subject 'nope' not found.")
    assert refused(client.get_version, "nope", 1) == (404, 40401, "Subject 'nope' not found.")
    assert refused(client.get_version, "rows-value", 9) == (404, 40402, "Version 9 not found.")
    assert refused(client.lookup_schema, "nope", V1) == (404, 40401, "Subject 'nope' not found.")
    assert refused(client.lookup_schema, "rows-value", ADDS_WITH_DEFAULT) == (404, 40403, "Schema not found")
    status, code, message = refused(client.register_schema, "rows-value", Schema('{"type": "nope"}', "AVRO"))
    assert (status, code) == (422, 42201)
    assert message.startswith("Invalid schema")
    assert refused(client.register_schema, "j", Schema('{"type": "object"}', "JSON"))[:2] == (422, 42201)
    assert refused(client.set_compatibility, level="SIDEWAYS")[:2] == (422, 42203)
    assert refused(client.get_compatibility, "rows-value") == (
        404,
        40408,
        "Subject 'rows-value' does not have subject-level compatibility configured",
    )


def test_soft_then_permanent_deletes(client: SchemaRegistryClient) -> None:
    client.register_schema("rows-value", V1)
    client.register_schema("rows-value", ADDS_WITH_DEFAULT)
    assert client.delete_version("rows-value", 1) == 1
    assert refused(client.delete_version, "rows-value", 1)[1] == 40406
    assert client.get_versions("rows-value") == [2]
    assert client.get_versions("rows-value", deleted=True) == [1, 2]
    assert client.get_schema(1).schema_str  # a soft-deleted version's id still resolves for consumers
    assert refused(client.delete_version, "rows-value", 2, permanent=True)[1] == 40407
    assert refused(client.delete_subject, "rows-value", permanent=True)[1] == 40405
    assert client.delete_subject("rows-value") == [2]
    assert refused(client.delete_subject, "rows-value")[1] == 40404
    assert client.get_subjects() == []
    assert client.get_subjects(deleted=True) == ["rows-value"]
    assert client.delete_subject("rows-value", permanent=True) == [1, 2]
    assert refused(client.get_versions, "rows-value", deleted=True)[1] == 40401
    assert client.register_schema("rows-value", V1) == 1  # a schema keeps its id
    assert client.get_versions("rows-value") == [1]


@pytest.mark.parametrize(
    ("level", "compatible", "incompatible"),
    [
        ("BACKWARD", ADDS_WITH_DEFAULT, ADDS_WITHOUT_DEFAULT),
        ("BACKWARD_TRANSITIVE", ADDS_WITH_DEFAULT, ADDS_WITHOUT_DEFAULT),
        ("FORWARD", ADDS_WITHOUT_DEFAULT, DROPS_ID),
        ("FORWARD_TRANSITIVE", ADDS_WITHOUT_DEFAULT, DROPS_ID),
        ("FULL", ADDS_WITH_DEFAULT, ADDS_WITHOUT_DEFAULT),
        ("FULL_TRANSITIVE", ADDS_WITH_DEFAULT, DROPS_ID),
    ],
)
def test_each_compatibility_level_accepts_a_compatible_change_and_refuses_an_incompatible_one(
    client: SchemaRegistryClient, level: str, compatible: Schema, incompatible: Schema
) -> None:
    subject = f"{level.lower()}-value"
    client.register_schema(subject, V1)
    client.set_compatibility(subject, level)
    assert client.get_compatibility(subject) == level
    assert client.test_compatibility(subject, compatible) is True
    assert client.test_compatibility(subject, incompatible, version=1) is False
    assert client.test_compatibility_all_versions(subject, incompatible) is False
    status, code, message = refused(client.register_schema, subject, incompatible)
    assert (status, code) == (409, 409)
    assert message.startswith(f'Schema being registered is incompatible with an earlier schema for subject "{subject}"')
    assert message.endswith(f"{{validateFields: 'false', compatibility: '{level}'}}]")
    assert client.register_schema(subject, compatible) == 2


def test_none_accepts_anything_and_verbose_says_why(registry: EmbeddedRegistry, client: SchemaRegistryClient) -> None:
    client.register_schema("rows-value", V1)
    url = f"{registry.url}/compatibility/subjects/rows-value/versions/latest?verbose=true"
    answer = httpx.post(url, json={"schema": ADDS_WITHOUT_DEFAULT.schema_str})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE
    assert answer.json()["is_compatible"] is False
    assert answer.json()["messages"][0].startswith("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'")
    client.set_compatibility("rows-value", "NONE")
    assert client.register_schema("rows-value", record(("id", "long", {}))) == 2


def test_global_and_subject_config(client: SchemaRegistryClient) -> None:
    assert client.get_compatibility() == "BACKWARD"
    client.set_config(config=ServerConfig(compatibility=ConfigCompatibilityLevel.FULL))
    assert client.get_config().compatibility_level is ConfigCompatibilityLevel.FULL
    client.set_compatibility("rows-value", "FORWARD")
    assert client.get_config("rows-value").compatibility_level is ConfigCompatibilityLevel.FORWARD
    assert client.delete_config("rows-value").compatibility_level is ConfigCompatibilityLevel.FORWARD
    assert client.delete_config().compatibility_level is ConfigCompatibilityLevel.FULL
    assert client.get_compatibility() == "BACKWARD"


def test_unknown_paths_and_methods(registry: EmbeddedRegistry) -> None:
    with httpx.Client(base_url=registry.url) as http:
        missing = http.get("/no/such/path")
        assert (missing.status_code, missing.json()) == (404, {"error_code": 404, "message": "HTTP 404 Not Found"})
        assert missing.headers["content-type"] == CONTENT_TYPE
        assert http.patch("/subjects").json()["error_code"] == 405
        assert http.get("/").json() == {}


def test_avro_serializer_and_deserializer_round_trip_exact_decimals(
    registry: EmbeddedRegistry, client: SchemaRegistryClient
) -> None:
    schema = json.dumps(
        {
            "type": "record",
            "name": "Amount",
            "namespace": "t",
            "fields": [
                {"name": "value", "type": {"type": "bytes", "logicalType": "decimal", "precision": 17, "scale": 2}}
            ],
        }
    )
    context = SerializationContext("amounts", MessageField.VALUE)
    data = AvroSerializer(client, schema)({"value": Decimal("1234567.89")}, context)
    assert data is not None
    assert data[:5] == b"\x00\x00\x00\x00\x01"  # magic byte, id 1 from the registry
    with SchemaRegistryClient({"url": registry.url}) as another:  # nothing cached
        assert AvroDeserializer(another)(data, context) == {"value": Decimal("1234567.89")}
    assert client.get_subjects() == ["amounts-value"]


def test_stop_ends_kept_alive_connections_joins_its_threads_and_frees_the_port() -> None:
    before = set(threading.enumerate())  # the session's own registry may be running: only this one's threads count
    registry = EmbeddedRegistry().start()
    port = int(registry.url.rsplit(":", 1)[1])
    kept = httpx.Client(base_url=registry.url)  # keep-alive: its connection stays open after the answer
    assert kept.get("/subjects").json() == []
    assert set(threading.enumerate()) - before  # it serves from threads of its own
    registry.stop()
    registry.stop()  # idempotent
    kept.close()
    assert not registry.running
    assert [t.name for t in set(threading.enumerate()) - before] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = registry.url


def test_the_broker_command_prints_the_registry_on_its_second_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        bootstrap, url = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:")
        assert url.startswith("http://127.0.0.1:")
        with SchemaRegistryClient({"url": url}) as client:
            assert client.get_subjects() == []
            assert client.register_schema("rows-value", V1) == 1
            assert client.get_subjects() == ["rows-value"]
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0
        if process.stdout is not None:
            process.stdout.close()


# Plain confluent-kafka in another interpreter: no code of ours, only the addresses.
OUTSIDE_CONSUMER = """
import json, sys
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

bootstrap, registry_url, topic, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "outside", "isolation.level": "read_committed"})
consumer.assign([TopicPartition(topic, p, 0) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions])
registry = SchemaRegistryClient({"url": registry_url})
deserialize = AvroDeserializer(registry)
found = 0
while found < expected:
    message = consumer.poll(10)
    if message is None:
        sys.exit("timed out")
    if message.error():
        continue
    value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
    print(json.dumps({k: [type(v).__name__, str(v)] for k, v in value.items()}))
    found += 1
consumer.close()
registry.close()
"""


@pytest.mark.timeout(120)
async def test_a_consumer_in_another_process_decodes_the_invoices_workers_results(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    change = sample_changes(unique_topic("o")[-6:])[0]  # a new invoice Cesce declares
    produce(kafka, source, [(change.key, change.value)])
    env = {
        **worker_env(kafka, sandbox, schema_registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "SALE_RESULTS_TOPIC": results,
    }
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_all(invoices_specs(env), env, stop))
    try:
        await asyncio.to_thread(read, kafka, [results], expect=1, timeout=60)
    finally:
        stop.set()
        await worker
    outside = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", OUTSIDE_CONSUMER, kafka.bootstrap_servers, schema_registry, results, "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outside.returncode == 0, outside.stderr
    [value] = [json.loads(line) for line in outside.stdout.splitlines()]
    row = json.loads(change.value)["after"]
    assert value["outcome"] == ["str", "DECLARED"]
    assert value["invoiceNo"] == ["str", row["invoiceNo"]]
    assert value["amount"] == ["Decimal", row["amount"]]  # every digit, as the ERP sent it
    assert value["commercialRiskPremium"][0] == "Decimal"
