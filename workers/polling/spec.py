"""A contract poller as the runtime runs it: its settings, the first schedule of each contract, its `WorkerSpec`.

On start, the process reads the schedule topic to its end and appends a first schedule for every configured
contract that has none (due at once, with a whole read). Two replicas starting together may both append one; the
poller keeps one chain per contract (`workers.runtime.chains`), and its state comparison makes a second read
harmless anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, Producer
from pydantic import field_validator

from workers.cesce import CesceClient, CesceSettings
from workers.cesce.codecs import check_contract_no
from workers.cesce_handling import cesce_client
from workers.polling.poller import ContractPoller
from workers.polling.schedule import Intervals
from workers.runtime import AvroCodec, CompactedTable, Handler, WorkerContext, WorkerSpec, states
from workers.settings import Settings

__all__ = ["ContractsSettings", "contract_poller_spec", "seed_schedules"]

_SEED_TIMEOUT = 30.0
_log = logging.getLogger(__name__)


class ContractsSettings(Settings):
    """A contract poller's settings: its contracts (comma-separated contractNo, 11 digits each), its intervals."""

    if TYPE_CHECKING:  # each worker declares them, under its own variable names
        contracts: str
        changes: str
        schedule: str
        movements_seconds: float
        full_seconds: float

        @property
        def schemas(self) -> dict[str, str]:
            """Each topic the poller writes -> the record written there."""

    @field_validator("contracts", check_fields=False)
    @classmethod
    def _check(cls, value: str) -> str:
        numbers = [check_contract_no(part.strip()) for part in value.split(",") if part.strip()]
        if not numbers:
            raise ValueError("name at least one contractNo")
        return ",".join(numbers)

    @property
    def contract_numbers(self) -> tuple[str, ...]:
        return tuple(self.contracts.split(","))

    @property
    def intervals(self) -> Intervals:
        return Intervals(timedelta(seconds=self.movements_seconds), timedelta(seconds=self.full_seconds))


async def seed_schedules(
    contracts: Sequence[str],
    table: CompactedTable,
    producer_config: Mapping[str, Any],
    codec: AvroCodec,
    topic: str,
    *,
    first: Callable[[str, datetime], Mapping[str, Any]],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """Append a first schedule (`first` makes it) for each of `contracts` that has none in `table`; those seeded."""
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
            value = codec.encode(first(contract, now), topic)
            producer.produce(topic, key=contract, value=value, on_delivery=delivered)
        if producer.flush(_SEED_TIMEOUT):
            raise TimeoutError(f"the first schedules of {missing} were not written to {topic} in time")

    await asyncio.to_thread(produce)
    if errors:
        raise RuntimeError(f"the first schedules of {missing} were not written to {topic}: {errors[0]}")
    _log.info("first schedules written for %s: each is read whole at once", ", ".join(missing))
    return missing


def contract_poller_spec(
    name: str,
    topics: ContractsSettings,
    cesce_settings: CesceSettings,
    poller: type[ContractPoller[CesceClient, Any]],
    *,
    states_topic: str,
) -> WorkerSpec:
    """The `poller` named `name`, over `topics`: it seeds the schedule topic, then reads Cesce and `states_topic`
    (its compacted last known states)."""
    schedule_schema = poller.schedule_schema

    async def seed(context: WorkerContext) -> None:
        """The first schedules, from a reader of the schedule topic needed only at start."""
        codec = AvroCodec(context.registry, schedule_schema)
        schedule = CompactedTable(topics.schedule, context.kafka(True), codec.decode)
        try:
            contracts, producer = topics.contract_numbers, context.kafka(False)
            await seed_schedules(contracts, schedule, producer, codec, topics.schedule, first=poller.first)
        finally:
            schedule.close()

    @asynccontextmanager
    async def handler(context: WorkerContext) -> AsyncIterator[Handler]:
        await seed(context)
        decode = AvroCodec(context.registry, poller.state_schema).decode
        known = CompactedTable(states_topic, context.kafka(True), decode)
        try:
            async with cesce_client(cesce_settings, context) as cesce:
                yield poller(
                    cesce,
                    known,
                    contracts=topics.contract_numbers,
                    changes_topic=topics.changes,
                    states_topic=states_topic,
                    schedule_topic=topics.schedule,
                    intervals=topics.intervals,
                )
        finally:
            known.close()

    return WorkerSpec(
        name=name,
        input_topics=[topics.schedule],
        output_topics=[topics.changes, states_topic, topics.schedule],
        decoder=states(schedule_schema),
        handler=handler,
        schemas=topics.schemas,
    )
