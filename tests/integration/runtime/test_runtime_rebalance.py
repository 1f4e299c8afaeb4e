"""Several members of one group in this process, rebalanced while the engine holds back (issue 15).

The engines are real group members of the embedded broker over TCP; eager rebalancing revokes and
reassigns every partition each time a member joins or leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from tests.integration.runtime.support import keyed_json, produce, read, running_engine, settings, sources, wait_until
from tests.integration.runtime.test_runtime_engine import echo, json_decode
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.runtime.contract import Handler, InputRecord, Outcome, Retry
from workers.runtime.engine import Engine
from workers.runtime.settings import RuntimeSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_GROUP_TIMING = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


def _member(
    kafka: KafkaBackend, handler: Handler, runtime: RuntimeSettings, *, source: str, sink: str, group: str
) -> contextlib.AbstractAsyncContextManager[Engine]:
    """One more member of `group`, JSON records from `source` to `sink`, the mock's short session."""
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

    def member() -> contextlib.AbstractAsyncContextManager[Engine]:
        runtime = settings(kafka, WORKER_OUTAGE_THRESHOLD=3, WORKER_PROBE_INTERVAL_SECONDS=0.5, WORKER_DRAIN_SECONDS=2)
        return _member(kafka, handler, runtime, source=source, sink=sink, group=group)

    async with member() as a, member() as b:
        engines = [a, b]
        await wait_until(lambda: refused >= 6 and all(e._breaker.is_open for e in engines), within=60)
        async with member() as c:
            engines.append(c)
            # the third member's join: every partition is revoked and assigned again, breakers still open
            await wait_until(lambda: sum(len(e._partitions) for e in engines) == 4 and c._partitions, within=60)
            await asyncio.sleep(1)
            down = False
            await wait_until(lambda: len(handled) == total, within=60)
            assert not any(s.paused for e in engines for s in e._partitions.values())
    assert max(handled.values()) == 1
    assert read(kafka, [f"{source}.dlq"], expect=0, timeout=2) == []


@pytest.mark.timeout(150)
async def test_a_member_evicted_during_its_drain_publishes_nothing(kafka: KafkaBackend) -> None:
    """Issue 15, defect 8: a revocation drain stuck on an answer Cesce holds (longer than the group's session)
    must not outlive the member's place in the group and then publish what the next owner publishes too.
    Every input has exactly one output, whoever handled it."""
    source, sink = unique_topic("in"), unique_topic("out")
    total = produce(kafka, source, keyed_json(keys=40, per_key=5))
    group = unique_topic("group")
    held = asyncio.Event()  # set while a record waits on the held answer
    release = asyncio.Event()
    handled: Counter[tuple[bytes | None, int]] = Counter()

    async def handler(record: InputRecord) -> Outcome:
        if record.key == b"debtor-007" and record.decoded["n"] == 2 and not release.is_set():
            held.set()
            await release.wait()  # an answer held past every timeout, until the test lets it go
        await asyncio.sleep(0.01)
        handled[(record.key, record.decoded["n"])] += 1
        return echo(sink, record)

    def member() -> contextlib.AbstractAsyncContextManager[Engine]:
        runtime = settings(kafka, WORKER_DRAIN_SECONDS=20)  # far longer than the 6 s session
        return _member(kafka, handler, runtime, source=source, sink=sink, group=group)

    async with member():
        await asyncio.wait_for(held.wait(), 30)
        async with member():
            await asyncio.sleep(12)  # the first member's drain, the second's session and assignment
            release.set()
            await wait_until(lambda: len(handled) == total, within=60)
            await asyncio.sleep(2)  # whatever else would be published
    outputs = read(kafka, [sink], expect=total, timeout=30)
    published = Counter(sources(outputs))
    assert len(published) == total
    assert [source_ for source_, count in published.items() if count > 1] == []
