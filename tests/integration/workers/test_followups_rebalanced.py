"""A follow-up's partition that leaves a member and comes back (issue 15, defect 1).

Three members of the credit-requests follow-up group; one request EN TRÁMITE. Member A follows it
alone, then B and C take over (A leaves), then A comes back and B and C leave. What A remembers of
the chain is its handler's memory, so the test keeps A's handler (its `FollowUpHandler`, which is
what a long-running member keeps through a rebalance) across its two stays in the group. The
request must keep being read while A has it back, and once decided publish exactly one FINAL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.integration.runtime.support import produce
from tests.integration.workers.support import read_async
from tests.integration.workers.support import running as serve_running
from tests.integration.workers.test_credit_requests_worker import Topics, decoded, worker_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.cesce import CesceClient, CesceSettings
from workers.credit_requests import credit_requests_specs
from workers.credit_requests.followup import FollowUpHandler
from workers.demo.credit_sample import request_row
from workers.demo.sample import envelope
from workers.runtime import WorkerSpec
from workers.sandbox import RunningSandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_INTERVAL = 0.3


def _member(spec: WorkerSpec, handler: FollowUpHandler) -> WorkerSpec:
    """The follow-up spec, but with `handler` (kept by the test across the member's stays in the group)."""

    @contextlib.asynccontextmanager
    async def factory(_context: object) -> AsyncIterator[FollowUpHandler]:
        yield handler

    return WorkerSpec(
        name=spec.name,
        role=spec.role,
        input_topics=spec.input_topics,
        output_topics=spec.output_topics,
        decoder=spec.decoder,
        handler=factory,
    )


async def _checks(kafka: KafkaBackend, topics: Topics, at_least: int) -> int:
    """Wait until the pending topic holds `at_least` records (each check re-appends one); how many it holds."""
    return len(await read_async(kafka, [topics.pending], expect=at_least, within=45))


@pytest.mark.timeout(180)
async def test_a_partition_that_comes_back_is_followed_again(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    topics = Topics()
    run = unique_topic("m")[-4:].upper()
    row = request_row(f"SOL-{run}", "300000.00", countryCode="ES", taxCode=f"B{run}77", customerReference=f"CLI-{run}")
    env = worker_env(
        kafka,
        sandbox,
        schema_registry,
        topics,
        CREDIT_REQUESTS_KEYED_BY_DEBTOR="true",  # the requests are keyed by debtor: the follow-ups are what is tested
        CLASSIFICATION_FOLLOWUP_SECONDS=str(_INTERVAL),
        KAFKA_SESSION_TIMEOUT_MS="6000",
        KAFKA_HEARTBEAT_INTERVAL_MS="500",
    )
    worker, followup = credit_requests_specs(env)
    produce_env = env | {"WORKER_INSTANCE_ID": "worker"}
    produce(kafka, topics.source, [(row["customerReference"], envelope("c", None, row, "credit_requests"))])
    async with serve_running([worker], produce_env):
        first = decoded(schema_registry, await read_async(kafka, [topics.results], expect=1), topics.results)
    assert [v["outcome"] for v in first] == ["PENDING"]

    settings = CesceSettings.from_env(env)
    async with CesceClient(settings) as cesce:

        def handler() -> FollowUpHandler:
            return FollowUpHandler(cesce, topics.results, topics.pending, timedelta(seconds=_INTERVAL))

        a, b, c = handler(), handler(), handler()
        env_of = {name: env | {"WORKER_INSTANCE_ID": name} for name in "abc"}
        async with serve_running([_member(followup, a)], env_of["a"]):
            seen = await _checks(kafka, topics, 3)
        async with (
            serve_running([_member(followup, b)], env_of["b"]),
            serve_running([_member(followup, c)], env_of["c"]),
        ):
            seen = await _checks(kafka, topics, seen + 3)
        async with serve_running([_member(followup, a)], env_of["a"]):
            seen = await _checks(kafka, topics, seen + 3)  # A follows the request again
            sandbox.admin().resolve("34109150331", first[0]["endorsementNo"], "grant")
            results = decoded(schema_registry, await read_async(kafka, [topics.results], expect=2), topics.results)
            await asyncio.sleep(5 * _INTERVAL)  # nothing more may come
            results = decoded(
                schema_registry, await read_async(kafka, [topics.results], expect=2, within=5), topics.results
            )
    assert [(v["stage"], v["outcome"]) for v in results] == [("ANSWER", "PENDING"), ("FINAL", "GRANTED")]
