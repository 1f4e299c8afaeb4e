"""`examples/` and the operator's walk-through that feeds them to the workers: they never drift apart.

Issue 20: "`examples/` with ready JSON-lines files for each input topic, used by the docs' walk-through (which today
says "same variables" for a second worker and then collides on the health port)."

Each example file goes through `produce`'s own parser, each record through the decoder of the worker that reads its
topic (built from the worker's spec, as `cesce-worker run` builds it) and the worker's plan: what the worker would
do with it, without a socket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.walk_through import blocks, commands, words
from workers.change_plans import NoChange
from workers.credit_requests import plan as credit_plan
from workers.invoices import plan as invoices_plan
from workers.non_payments import plan as non_payments_plan
from workers.ops.produce import prepare, value_encoder
from workers.ops.run_command import WORKER_SETTINGS, WORKERS
from workers.runtime.contract import Skip
from workers.runtime.envelope import Envelope
from workers.runtime.registry import schema_registry_client
from workers.runtime.settings import RuntimeSettings

ROOT = Path(__file__).parents[3]
EXAMPLES = ROOT / "examples"

ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "CESCE_BASE_URL": "http://127.0.0.1:8080",
    "CESCE_CLIENT_ID": "app",
    "CESCE_CLIENT_SECRET": "x",
}

Plan = Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], object]

# worker -> its plan and, line by line, what its example file asks of it
EXPECTED: dict[str, tuple[Plan, list[type]]] = {
    "invoices": (
        invoices_plan.plan,
        [invoices_plan.Declare, invoices_plan.Declare, NoChange, invoices_plan.Declare],
    ),
    "credit-requests": (credit_plan.plan, [credit_plan.Classify, credit_plan.Classify, credit_plan.Classify]),
    "non-payments": (non_payments_plan.plan, [non_payments_plan.Declare, non_payments_plan.Declare]),
}


def walk_through_commands() -> list[list[str]]:
    """Every command of the walk-through's code blocks, as words."""
    return [words(command) for block in blocks() for command in commands(block)]


def produced() -> dict[str, str]:
    """Each file the walk-through produces -> the topic it produces it to."""
    files = {}
    for said in walk_through_commands():
        if "produce" in said:
            files[said[said.index("--file") + 1]] = said[said.index("--topic") + 1]
    return files


def input_topic(worker: str) -> str:
    topic: str = WORKER_SETTINGS[worker]().input  # type: ignore[attr-defined]
    return topic


def test_the_walk_through_produces_every_example_to_its_workers_input() -> None:
    files = produced()
    assert sorted(files) == sorted(f"examples/{path.name}" for path in EXAMPLES.glob("*.jsonl"))
    assert sorted(files.values()) == sorted(input_topic(worker) for worker in EXPECTED)
    for file in files:
        assert (ROOT / file).is_file(), file


def test_each_worker_of_the_walk_through_has_its_own_health_port() -> None:
    """A worker serves /healthz, /readyz and /metrics on WORKER_HTTP_PORT: a second one on the same port stops."""
    default = RuntimeSettings.model_fields["http_port"].default
    ports = {}
    for said in walk_through_commands():
        if "run" in said and said[-1] in WORKERS:
            settings = dict(word.split("=", 1) for word in said if re.fullmatch(r"[A-Z_]+=.*", word))
            ports[said[-1]] = int(settings.get("WORKER_HTTP_PORT", default))
    assert sorted(ports) == sorted(set(WORKERS) - {"sales-followup"})
    assert len(set(ports.values())) == len(ports), ports


@pytest.mark.parametrize("worker", sorted(EXPECTED))
def test_each_example_line_parses_and_decodes_as_the_workers_input(worker: str) -> None:
    plan, expected = EXPECTED[worker]
    topic = input_topic(worker)
    file = next(name for name, produced_to in produced().items() if produced_to == topic)
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    records = prepare(lines, value_encoder(None, topic))  # produce's own parser: BadLines if any line is bad
    assert len(records) == len(expected)

    spec = next(spec for spec in WORKERS[worker](ENV) if topic in spec.input_topics)
    decode = spec.decoder(schema_registry_client(f"mock://examples-{worker}"))
    plans = []
    for record in records:
        assert record.key is not None
        assert record.key.startswith(b'{"id":')  # the row's primary key, as Debezium keys a change
        change = decode(record.value, topic)
        assert isinstance(change, Envelope), change
        assert not isinstance(change, Skip)
        plans.append(plan(change.op, change.before, change.after))
    assert [type(p) for p in plans] == expected, plans
