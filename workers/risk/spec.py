"""The risk poller as the runtime runs it: settings, the state readers, and the first schedule of each contract.

On start, the process reads the schedule topic to its end and appends a first schedule for every
configured contract that has none (`first_schedule`: due at once, with a whole-portfolio read).
Two replicas starting together may both append one; the poller keeps one chain per contract
(`workers.runtime.chains`), and its state comparison makes a second read harmless anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Producer
from pydantic import Field, field_validator

from workers.cesce import CesceSettings
from workers.cesce.codecs import check_contract_no
from workers.cesce_handling import cesce_client
from workers.risk.changes import CHANGE_SCHEMA, LIMIT_SCHEMA
from workers.risk.poller import SCHEDULE_SCHEMA, Intervals, RiskPoller, first_schedule
from workers.runtime import (
    AvroCodec,
    CompactedTable,
    Handler,
    WorkerContext,
    WorkerSpec,
    states,
)
from workers.settings import Settings, from_env

__all__ = ["RiskTopics", "risk_poller_spec", "seed_schedules"]

_SEED_TIMEOUT = 30.0
_log = logging.getLogger(__name__)


class RiskTopics(Settings):
    contracts: str = Field(alias="RISK_CONTRACTS", min_length=1)
    """The contracts to poll, comma-separated contractNo (11 digits each); see `contract_numbers`."""
    changes: str = Field(default="cesce.risk-changes", alias="RISK_CHANGES_TOPIC")
    limits: str = Field(default="cesce.risk-limits", alias="RISK_LIMITS_TOPIC")
    """Compacted: the last known state of every classification record, keyed by contractNo/endorsementNo."""
    schedule: str = Field(default="cesce.risk-schedule", alias="RISK_SCHEDULE_TOPIC")
    """Compacted: one schedule record per contract, keyed by contractNo."""
    movements_seconds: float = Field(default=300.0, gt=0, alias="RISK_MOVEMENTS_INTERVAL_SECONDS")
    """How often each contract's 48-hour movements are read."""
    portfolio_seconds: float = Field(default=86400.0, gt=0, alias="RISK_PORTFOLIO_INTERVAL_SECONDS")
    """How often the whole portfolio is read (and always at a contract's first read)."""

    @field_validator("contracts")
    @classmethod
    def _check(cls, value: str) -> str:
        numbers = [check_contract_no(part.strip()) for part in value.split(",") if part.strip()]
        if not numbers:
            raise ValueError("name at least one contractNo")
        return ",".join(numbers)

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the poller writes -> the record written there."""
        return {self.changes: CHANGE_SCHEMA, self.limits: LIMIT_SCHEMA, self.schedule: SCHEDULE_SCHEMA}

    @property
    def contract_numbers(self) -> tuple[str, ...]:
        return tuple(self.contracts.split(","))

    @property
    def intervals(self) -> Intervals:
        return Intervals(timedelta(seconds=self.movements_seconds), timedelta(seconds=self.portfolio_seconds))


async def seed_schedules(
    contracts: Sequence[str],
    table: CompactedTable,
    producer_config: Mapping[str, Any],
    codec: AvroCodec,
    topic: str,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """Append a first schedule for each of `contracts` that has none in `table`; the contracts seeded."""
    known = await table.read()
    missing = [contract for contract in contracts if contract not in known]
    if not missing:
        return []
    now = clock()
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            errors.append(error)

    def produce() -> None:
        producer = Producer({**producer_config, "enable.idempotence": True})
        for contract in missing:
            value = codec.encode(first_schedule(contract, now), topic)
            producer.produce(topic, key=contract, value=value, on_delivery=delivered)
        if producer.flush(_SEED_TIMEOUT):
            raise TimeoutError(f"the first schedules of {missing} were not written to {topic} in time")

    await asyncio.to_thread(produce)
    if errors:
        raise RuntimeError(f"the first schedules of {missing} were not written to {topic}: {errors[0]}")
    _log.info("first schedules written for %s: each is read whole at once", ", ".join(missing))
    return missing


def risk_poller_spec(env: Mapping[str, str]) -> WorkerSpec:
    """The risk poller, configured by `env` (the settings above, ``CESCE_*``, ``KAFKA_*``)."""
    topics = from_env(RiskTopics, env)
    cesce_settings = CesceSettings.from_env(env)

    async def seed(context: WorkerContext) -> None:
        """The first schedules, from a reader of the schedule topic needed only at start."""
        codec = AvroCodec(context.registry, SCHEDULE_SCHEMA)
        schedule = CompactedTable(topics.schedule, context.kafka(True), codec.decode)
        try:
            await seed_schedules(topics.contract_numbers, schedule, context.kafka(False), codec, topics.schedule)
        finally:
            schedule.close()

    @asynccontextmanager
    async def handler(context: WorkerContext) -> AsyncIterator[Handler]:
        await seed(context)
        limits = CompactedTable(topics.limits, context.kafka(True), AvroCodec(context.registry, LIMIT_SCHEMA).decode)
        try:
            async with cesce_client(cesce_settings, context) as cesce:
                yield RiskPoller(
                    cesce,
                    limits,
                    contracts=topics.contract_numbers,
                    changes_topic=topics.changes,
                    limits_topic=topics.limits,
                    schedule_topic=topics.schedule,
                    intervals=topics.intervals,
                )
        finally:
            limits.close()

    return WorkerSpec(
        name="risk-poller",
        input_topics=[topics.schedule],
        output_topics=[topics.changes, topics.limits, topics.schedule],
        decoder=states(SCHEDULE_SCHEMA),
        handler=handler,
        schemas=topics.schemas,
    )
