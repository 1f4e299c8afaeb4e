"""``WORKER_DLQ_SUFFIX`` end to end over the `kafka` backend (the embedded broker by default): the invoices worker, as
`cesce-worker run` builds it (its re-keying companion included), dead-letters a record it cannot decode to
``<topic>.dead``, and ``cesce-worker dlq list`` run with the same environment finds it there."""

from __future__ import annotations

import json

import pytest

from tests.integration.ops.test_dlq_tools import Tool, ledger_topic, tools  # noqa: F401 - the dlq tools' fixtures
from tests.integration.runtime.support import produce, read
from tests.integration.workers.support import read_async, running, worker_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.ops.run_command import WORKERS
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


@pytest.mark.timeout(120)
async def test_a_worker_with_suffix_dead_dead_letters_to_topic_dead_and_dlq_list_finds_it(
    kafka: KafkaBackend,
    sandbox: RunningSandbox,
    schema_registry: str,
    tools: Tool,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 20: "The dead-letter topic's suffix is a setting (`.dlq` by default)"."""
    source = unique_topic("erp.invoices")
    env = {
        **worker_env(kafka, sandbox, schema_registry, unique_topic("invoices")),
        "INVOICES_TOPIC": source,
        "INVOICES_BY_DEBTOR_TOPIC": f"{source}.by-debtor",
        "SALE_RESULTS_TOPIC": unique_topic("cesce.sale-results"),
        "WORKER_DLQ_SUFFIX": ".dead",
    }
    specs = WORKERS["invoices"](env)
    assert [spec.dlq_topic(spec.input_topics[0]) for spec in specs] == [f"{source}.dead"] * 2
    produce(kafka, source, [("INV-1", b"this is not a change record")])

    async with running(specs, env):
        [letter] = await read_async(kafka, [f"{source}.dead"], expect=1)
    headers = {k: (v or b"").decode() for k, v in letter.headers() or []}
    assert (letter.key(), letter.value()) == (b"INV-1", b"this is not a change record")
    assert (headers["dlq.original.topic"], headers["dlq.category"]) == (source, "deserialization")
    assert read(kafka, [f"{source}.dlq"], expect=1, timeout=2) == []  # nothing where the default would put it

    monkeypatch.setenv("WORKER_DLQ_SUFFIX", ".dead")  # the operator's shell, as the worker's
    status, out, err = tools("dlq", "list", "--topic", f"{source}.dead", "--json")
    assert (status, err) == (0, "")
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert (listed["topic"], listed["key"], listed["category"]) == (f"{source}.dead", "INV-1", "deserialization")
    assert listed["original"]["topic"] == source
