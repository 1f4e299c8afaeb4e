"""A record with nothing to do (a Debezium tombstone or truncate) is skipped: the handler is not called, nothing
is published, the offset goes on, and the log says so once per partition and reason."""

from __future__ import annotations

import logging
import random

import pytest
from opentelemetry.trace import INVALID_SPAN

from workers.runtime.attempts import UNDECODED, Attempts
from workers.runtime.breaker import OutageBreaker
from workers.runtime.contract import InputRecord, Outcome, Skip
from workers.runtime.outbox import Outbox
from workers.runtime.settings import RuntimeSettings


def record(offset: int, partition: int = 0) -> InputRecord:
    return InputRecord("erp.invoices", partition, offset, None, b"k", None, (), UNDECODED)


async def test_a_decoded_skip_never_reaches_the_handler() -> None:
    called: list[InputRecord] = []

    async def handler(record: InputRecord) -> Outcome:
        called.append(record)
        raise AssertionError("not for a tombstone")

    attempts = Attempts(
        worker="w",
        settings=RuntimeSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "x:9092"}),
        decode=lambda data, topic: Skip("tombstone"),
        handler=handler,
        breaker=OutageBreaker(10, 5.0),
        rng=random.Random(0),
    )
    decoded, settled = await attempts.run(record(7), INVALID_SPAN)
    assert settled == (Skip("tombstone"), 1, None)
    assert decoded.decoded == Skip("tombstone")
    assert called == []


def test_a_skip_publishes_nothing_and_is_logged_once_per_partition(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(worker="invoices", encode=lambda output: b"", dlq_topic=lambda topic: topic + ".dlq")
    with caplog.at_level(logging.INFO, logger="workers.runtime.outbox"):
        for offset in range(3):
            assert outbox.outputs(record(offset), INVALID_SPAN, Skip("tombstone"), 1, None) == []
        assert outbox.outputs(record(0, partition=1), INVALID_SPAN, Skip("tombstone"), 1, None) == []
        assert outbox.outputs(record(3), INVALID_SPAN, Skip("truncate"), 1, None) == []
    told = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(told) == 3, told
    assert "erp.invoices[0]@0 skipped: tombstone" in told[0]
