"""Several members of one group in this process, rebalanced while the engine holds back (issue 15).

The engines are real group members of the embedded broker over TCP; eager rebalancing revokes and
reassigns every partition each time a member joins or leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from tests.integration.runtime_support import keyed_json, produce, read, running_engine, settings, wait_until
from tests.integration.test_runtime_engine import echo, json_decode
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.runtime.contract import InputRecord, Outcome, Retry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


@pytest.mark.timeout(150)
async def test_an_outage_through_a_rebalance_leaves_no_partition_paused(kafka: KafkaBackend) -> None:
    """Two members, Cesce down until their breakers open, a third member joins, Cesce comes back:
    every partition is consumed to its end (a pause from before the rebalance must not outlive it)."""
    source, sink = unique_topic("in"), unique_topic("out")
    total = produce(kafka, source, keyed_json(keys=40, per_key=5))
    group = unique_topic("group")
    down = True
    refused = 0
    handled: Counter[tuple[bytes | None, int]] = Counter()

    async def handler(record: InputRecord) -> Outcome:
        nonlocal refused
        if down:
            refused += 1
            return Retry("18", "mantenimiento")
        handled[(record.key, record.decoded["n"])] += 1
        return echo(sink, record)

    def member() -> contextlib.AbstractAsyncContextManager[object]:
        runtime = settings(kafka, WORKER_OUTAGE_THRESHOLD=3, WORKER_PROBE_INTERVAL_SECONDS=0.5, WORKER_DRAIN_SECONDS=2)
        return running_engine(
            kafka,
            handler=handler,
            decode=json_decode,
            input_topic=source,
            output_topic=sink,
            runtime=runtime,
            group=group,
            consumer_extra=_GROUP_TIMING,
        )

    async with member() as a, member() as b:
        engines = [a, b]
        await wait_until(lambda: refused >= 6 and all(e._breaker.is_open for e in engines), within=60)  # type: ignore[attr-defined]
        async with member() as c:
            engines.append(c)
            # the third member's join: every partition is revoked and assigned again, breakers still open
            await wait_until(lambda: sum(len(e._partitions) for e in engines) == 4 and c._partitions, within=60)  # type: ignore[attr-defined]
            await asyncio.sleep(1)
            down = False
            await wait_until(lambda: len(handled) == total, within=60)
            assert not any(s.paused for e in engines for s in e._partitions.values())  # type: ignore[attr-defined]
    assert max(handled.values()) == 1
    assert read(kafka, [f"{source}.dlq"], expect=0, timeout=2) == []
