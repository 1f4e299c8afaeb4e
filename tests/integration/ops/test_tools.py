"""`cesce-worker produce` and `consume`: the product's doors for scripts and tests.

Line parsing is tested without sockets; the rest runs the handlers in-process against the `kafka`
backend (tests/conftest.py; the embedded broker by default) and the session's embedded Schema Registry, and one test
runs `produce` in another process: the schema ids it writes are the registry's, so this process reads them knowing
nothing of the test schemas.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.kafka_backends import KafkaBackend, consumer_config, producer_config, unique_topic
from workers.ops import consume, produce
from workers.ops.produce import BadLines, prepare, value_encoder
from workers.runtime.serde import AvroCodec, loads_exact

REPO = Path(__file__).resolve().parents[3]
TEST_SCHEMAS = REPO / "tests" / "schemas"
SCHEMA_ARGS = ["--schema", "cesce.test.Row", "--schemas-dir", str(TEST_SCHEMAS)]

TOOLS_COMMAND = [sys.executable, "-m", "workers.cli"]  # `cesce-worker`, in a process of its own


def run_tool(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cesce-worker")
    commands = parser.add_subparsers(dest="command", required=True)
    produce.register(commands, topic_schemas={"mapped.rows": "cesce.test.Row"})
    consume.register(commands)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def lines_file(tmp_path: Path, *documents: Any, name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    text = "\n".join(d if isinstance(d, str) else json.dumps(d) for d in documents)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def printed(text: str) -> list[dict[str, Any]]:
    return [loads_exact(line) for line in text.splitlines() if line.strip()]


# --- parsing, no sockets -------------------------------------------------------------------------


def test_prepare_encodes_every_line_and_skips_blank_ones() -> None:
    records = prepare(
        [
            '{"key": "k", "value": {"amount": 1.10, "n": 2}, "headers": {"h": "v"}}',
            "   ",
            '{"value": "plain text"}',
            '{"key": "gone", "value": null}',
            "{}",
        ],
        value_encoder(None, "t"),
    )
    assert [r.line for r in records] == [1, 3, 4, 5]
    assert records[0].key == b"k"
    assert records[0].value == b'{"amount":1.10,"n":2}'  # numbers keep every digit
    assert records[0].headers == (("h", b"v"),)
    assert records[1].value == b"plain text"
    assert (records[2].key, records[2].value) == (b"gone", None)
    assert (records[3].key, records[3].value, records[3].headers) == (None, None, ())


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", "not JSON"),
        ('["key", "value"]', "expected an object"),
        ('{"key": 7}', "key must be a string"),
        ('{"headers": {"h": 1}}', "headers must be an object of strings"),
        ('{"headers": ["h"]}', "headers must be an object of strings"),
        ('{"vaule": 1}', "unknown member 'vaule'"),
        ('{"value": NaN}', "not JSON"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(line: str, words: str) -> None:
    with pytest.raises(BadLines, match=words) as caught:
        prepare(['{"value": 1}', "", line, '{"value": 2}'], value_encoder(None, "t"))
    assert [error.line for error in caught.value.errors] == [3]


def test_avro_lines_name_the_refused_field() -> None:
    from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog  # noqa: PLC0415
    from workers.runtime.registry import schema_registry_client  # noqa: PLC0415

    dirs = [DEFAULT_SCHEMAS_DIR, TEST_SCHEMAS]
    codec = AvroCodec(schema_registry_client("mock://lines", dirs), "cesce.test.Row", catalog=SchemaCatalog.load(dirs))
    encode = value_encoder(codec, "t")
    good = '{"value": {"id": "A", "amount": "1.00", "issued": "2030-01-10"}}'
    for line, words in [
        ('{"value": {"id": "A", "amount": "1.001", "issued": "2030-01-10"}}', "amount: 1.001 has more than 2"),
        ('{"value": {"id": "A", "amount": "1.00"}}', "issued: missing"),
        ('{"value": "A"}', "must be an object"),
    ]:
        with pytest.raises(BadLines, match=words) as caught:
            prepare([good, line], encode)
        assert [error.line for error in caught.value.errors] == [2]


# --- against a broker ----------------------------------------------------------------------------


@pytest.fixture
def tool_env(kafka: KafkaBackend, schema_registry: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The tools read their settings from the environment: the backend's, spelled as KAFKA_* variables, and the
    session's Schema Registry."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "SCHEMA_REGISTRY_URL": schema_registry}
    for name, value in kafka.client_config.items():
        env["KAFKA_" + name.upper().replace(".", "_")] = value
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def tools(tool_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = run_tool(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return call


def high_watermarks(kafka: KafkaBackend, topic: str) -> int:
    consumer = Consumer(consumer_config(kafka, {"group.id": "watermarks"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


ROWS: list[dict[str, Any]] = [
    {"key": "debtor-1", "value": {"id": "INV-1", "amount": "1234.50", "issued": "2030-01-10"}, "headers": {"h": "1"}},
    {"key": "debtor-1", "value": {"id": "INV-2", "amount": -0.01, "issued": 21924, "note": "abono"}},
    {"key": "debtor-2", "value": None},
]


@pytest.mark.integration
def test_avro_rows_go_out_and_come_back_exact(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    topic = unique_topic("tools-avro")
    status, out, err = tools("produce", "--topic", topic, "--file", str(lines_file(tmp_path, *ROWS)), *SCHEMA_ARGS)
    assert status == 0, err
    delivered = printed(out)
    assert [d["line"] for d in delivered] == [1, 2, 3]
    assert delivered[0]["partition"] == delivered[1]["partition"]  # same key, same partition, in order
    assert delivered[1]["offset"] == delivered[0]["offset"] + 1

    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "3")
    assert status == 0, err
    records = sorted(printed(out), key=lambda r: (r["key"], r["offset"]))
    assert [(r["key"], r["value"], r["value_format"]) for r in records] == [
        ("debtor-1", {"id": "INV-1", "amount": "1234.50", "issued": "2030-01-10", "note": None}, "avro"),
        ("debtor-1", {"id": "INV-2", "amount": "-0.01", "issued": "2030-01-10", "note": "abono"}, "avro"),
        ("debtor-2", None, None),
    ]
    assert records[0]["headers"] == {"h": "1"}
    assert records[1]["headers"] == {}
    by_line = {d["line"]: (d["partition"], d["offset"]) for d in delivered}
    assert [(r["partition"], r["offset"]) for r in records] == [by_line[1], by_line[2], by_line[3]]
    assert all(isinstance(r["timestamp"], int) and r["timestamp"] > 0 for r in records)


@pytest.mark.integration
def test_the_caller_maps_topics_to_schemas(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    # run_tool maps "mapped.rows" to cesce.test.Row; the directory flag is still needed for test schemas
    file = lines_file(tmp_path, ROWS[0])
    status, _, err = tools("produce", "--topic", "mapped.rows", "--file", str(file), "--schemas-dir", str(TEST_SCHEMAS))
    assert status == 0, err
    status, out, err = tools("consume", "--topic", "mapped.rows", "--from-beginning", "--max", "1")
    assert status == 0, err
    assert printed(out)[0]["value"]["amount"] == "1234.50"


@pytest.mark.integration
def test_json_and_text_values_keep_every_digit(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    topic = unique_topic("tools-json")
    file = lines_file(
        tmp_path,
        '{"key": "k", "value": {"amount": 0.10, "when": "2030-01-10", "n": [1, 2.50]}}',
        '{"key": "k", "value": "plain text, not JSON"}',
    )
    status, _, err = tools("produce", "--topic", topic, "--file", str(file))
    assert status == 0, err
    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "2")
    assert status == 0, err
    json_record, text_record = printed(out)
    assert json_record["value_format"] == "json"
    assert json_record["value"] == {"amount": Decimal("0.10"), "when": "2030-01-10", "n": [1, Decimal("2.50")]}
    assert '"amount":0.10' in out
    assert (text_record["value"], text_record["value_format"]) == ("plain text, not JSON", "text")


@pytest.mark.integration
def test_a_bad_line_means_nothing_is_sent(
    tools: Callable[..., tuple[int, str, str]], kafka: KafkaBackend, tmp_path: Path
) -> None:
    topic = unique_topic("tools-bad")
    status, _, err = tools("produce", "--topic", topic, "--file", str(lines_file(tmp_path, *ROWS[:2])), *SCHEMA_ARGS)
    assert status == 0, err
    assert high_watermarks(kafka, topic) == 2

    bad = ROWS[0] | {"value": {"id": "INV-3", "amount": "10.005", "issued": "2030-01-10"}}
    file = lines_file(tmp_path, ROWS[0], ROWS[1], bad, ROWS[0], name="bad.jsonl")
    status, out, err = tools("produce", "--topic", topic, "--file", str(file), *SCHEMA_ARGS)

    assert status == 1
    assert out == ""
    assert f"{file}:3: value: cesce.test.Row.amount: 10.005 has more than 2 decimal places" in err
    assert "nothing was produced" in err
    assert high_watermarks(kafka, topic) == 2


@pytest.mark.integration
def test_a_group_resumes_where_it_committed(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    topic = unique_topic("tools-group")
    file = lines_file(tmp_path, *({"key": f"k{i}", "value": str(i)} for i in range(4)))
    status, _, err = tools("produce", "--topic", topic, "--file", str(file))
    assert status == 0, err

    group = unique_topic("tools-group")
    first = tools("consume", "--topic", topic, "--group", group, "--from-beginning", "--max", "2", "--timeout", "25")
    second = tools("consume", "--topic", topic, "--group", group, "--from-beginning", "--max", "2", "--timeout", "25")

    assert first[0] == second[0] == 0, first[2] + second[2]
    seen = [r["value"] for r in printed(first[1]) + printed(second[1])]
    assert sorted(seen) == [0, 1, 2, 3]  # each record once across the two runs ("0" is JSON text)


@pytest.mark.integration
def test_fewer_records_than_max_is_exit_status_one(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    topic = unique_topic("tools-short")
    status, _, err = tools("produce", "--topic", topic, "--file", str(lines_file(tmp_path, {"value": "only one"})))
    assert status == 0, err
    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "2", "--timeout", "2")
    assert status == 1
    assert [r["value"] for r in printed(out)] == ["only one"]
    assert "1 of 2 record(s)" in err


@pytest.mark.integration
def test_consume_waits_for_a_topic_that_does_not_exist_yet(tools: Callable[..., tuple[int, str, str]]) -> None:
    status, out, err = tools("consume", "--topic", unique_topic("tools-none"), "--max", "1", "--timeout", "1.5")
    assert (status, out) == (1, "")
    assert "0 of 1" in err


@pytest.mark.integration
def test_undecodable_avro_is_shown_as_bytes_with_a_warning(
    tools: Callable[..., tuple[int, str, str]], kafka: KafkaBackend
) -> None:
    topic = unique_topic("tools-unknown-id")
    producer = Producer(producer_config(kafka))
    producer.produce(topic, key=b"k", value=b"\x00\x00\x00\x03\xe7body", headers=[("h", b"\xff")])
    assert producer.flush(10) == 0

    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "1")

    assert status == 0, err
    (record,) = printed(out)
    assert (record["value"], record["value_format"]) == ("AAAAA+dib2R5", "bytes")
    assert record["headers"] == {"h": "\\xff"}
    assert "unknown-schema-id" in err


@pytest.mark.integration
def test_consume_reads_committed_only(tools: Callable[..., tuple[int, str, str]], kafka: KafkaBackend) -> None:
    if kafka.is_mock:
        pytest.skip("the mock cluster shows aborted records to read_committed consumers (workers.runtime.embedded)")
    topic = unique_topic("tools-txn")
    producer = Producer(producer_config(kafka, {"transactional.id": unique_topic("tools-txn")}))
    producer.init_transactions(20)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b'"aborted"')
    producer.flush(10)
    producer.abort_transaction(20)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b'"committed"')
    producer.commit_transaction(20)

    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "2", "--timeout", "5")

    assert status == 1, err  # only one of the two
    assert [r["value"] for r in printed(out)] == ["committed"]


@pytest.fixture
def in_another_process(tool_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TOOLS_COMMAND, *argv],
            cwd=REPO,
            env={**os.environ, **tool_env},
            capture_output=True,
            text=True,
            timeout=45,
            check=False,
        )

    return run


@pytest.mark.integration
def test_schema_ids_agree_between_processes(
    in_another_process: Callable[..., subprocess.CompletedProcess[str]],
    tools: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    topic = unique_topic("tools-processes")
    done = in_another_process("produce", "--topic", topic, "--file", str(lines_file(tmp_path, *ROWS)), *SCHEMA_ARGS)
    assert done.returncode == 0, done.stderr
    assert len(printed(done.stdout)) == 3

    status, out, err = tools("consume", "--topic", topic, "--from-beginning", "--max", "3")

    assert status == 0, err
    values = sorted((r["value"] for r in printed(out) if r["value"]), key=lambda v: v["id"])
    assert [(v["id"], v["amount"], v["issued"]) for v in values] == [
        ("INV-1", "1234.50", "2030-01-10"),
        ("INV-2", "-0.01", "2030-01-10"),
    ]
    assert "not decodable" not in err


@pytest.mark.integration
def test_usage_and_configuration_errors(tools: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    file = lines_file(tmp_path, ROWS[0])
    status, _, err = tools("produce", "--topic", "t", "--file", str(file), "--schema", "cesce.test.Nope")
    assert status == 2
    assert "no schema named 'cesce.test.Nope'" in err
    status, _, err = tools("produce", "--topic", "t", "--file", str(tmp_path / "missing.jsonl"))
    assert status == 2
    assert "missing.jsonl" in err
    with pytest.raises(SystemExit):
        run_tool(["consume", "--topic", "t", "--max", "0"])
