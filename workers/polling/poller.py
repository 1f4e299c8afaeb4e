"""A contract poller: the runtime's handler over a schedule topic read as a delay queue.

The consumer group gives each contract's schedule record to exactly one replica, and a replica that takes a
partition over goes on from the schedule and the states it finds there. For each record:

- a tombstone does nothing; a contract no longer configured has its schedule deleted;
- a second schedule chain of a contract (two replicas seeding one new contract at once, a retried transaction's
  twin) is dropped by `Chains`; a record not due yet waits (`Defer`);
- a due one is read (the worker's `_read`, a whole read when `ContractSchedule.full_read_due`), compared with the
  contract's last known states (the worker's `_compare`, over its compacted states topic read to its end), and its
  changes, state writes and next schedule record are published in one transaction with its offset.

A Cesce failure publishes only the schedule again, one tick later; nothing is dead-lettered for it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, TypeVar

from workers.cesce import CesceError
from workers.polling.schedule import ContractSchedule, Intervals, first_schedule
from workers.runtime import TOMBSTONE, Chains, CompactedTable, Defer, InputRecord, Outcome, Output, Publish

__all__ = ["Comparison", "ContractPoller", "States"]

_ONE_CHAIN: Final = datetime(1970, 1, 1, tzinfo=UTC)  # every schedule of a contract is the same chain

Client_contra = TypeVar("Client_contra", contravariant=True)  # a poller of one Cesce API takes the whole client
T = TypeVar("T")
States = Mapping[str, Mapping[str, Any]]
"""One contract's last known states, by key."""


@dataclass
class Comparison:
    """What one read found: the changes to publish (in order) and the state writes (key -> value, None deletes)."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    writes: dict[str, dict[str, Any] | None] = field(default_factory=dict)


class ContractPoller(ABC, Generic[Client_contra, T]):
    """Callable as the runtime's handler over the schedule topic; a worker reads Cesce (`_read`, with the client
    `_cesce`) and compares (`_compare`). Its class attributes name its records and word its log."""

    schedule_schema: ClassVar[str]
    full_field: ClassVar[str]
    """The schedule's full-read field, as the worker's schedule schema names it."""
    change_schema: ClassVar[str]
    state_schema: ClassVar[str]
    log: ClassVar[logging.Logger]
    setting: ClassVar[str]
    """The variable that lists the contracts, named when a contract's schedule is deleted."""
    subject: ClassVar[str] = "contract %s"
    """What a read reads, in the log line of a failed one."""
    not_due: ClassVar[str]
    """Why a record waits, formatted with its contractNo and its due time."""
    reads: ClassVar[tuple[str, str]]
    """How the log names a movements read and a whole read."""
    items: ClassVar[str]
    """How the log counts what a read found."""

    def __init__(
        self,
        cesce: Client_contra,
        states: CompactedTable,
        *,
        contracts: Collection[str],
        changes_topic: str,
        states_topic: str,
        schedule_topic: str,
        intervals: Intervals,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cesce, self._states = cesce, states
        self._contracts = frozenset(contracts)
        self._changes_topic, self._states_topic = changes_topic, states_topic
        self._schedule = ContractSchedule(
            schedule_topic, self.schedule_schema, intervals, self.full_field, self.log, subject=self.subject
        )
        self._clock = clock
        self._chains = Chains()

    @classmethod
    def first(cls, contract_no: str, now: datetime) -> dict[str, Any]:
        """A new contract's schedule: due now, with a whole read (the state starts empty)."""
        return first_schedule(contract_no, now, full_field=cls.full_field)

    async def __call__(self, record: InputRecord) -> Outcome:
        if record.decoded is TOMBSTONE:  # a contract no longer polled
            return Publish([])
        schedule: Mapping[str, Any] = record.decoded
        contract = schedule["contractNo"]
        if contract not in self._contracts:
            self.log.warning(f"contract %s is no longer in {self.setting}: its schedule is deleted", contract)
            return Publish([Output(self._schedule.topic, contract, None)])
        if not self._chains.admit(contract, (_ONE_CHAIN, contract), record):
            self.log.info("contract %s: a second schedule record dropped", contract)
            return Publish([])
        now = self._clock()
        due: datetime = schedule["nextMovementsAt"]  # a whole read waits for the first tick at or after its time
        if due > now:
            return Defer(due, self.not_due.format(contract, due.isoformat()))
        full = self._schedule.full_read_due(schedule, now)
        try:
            found = await self._read(contract, full=full)
        except CesceError as exc:
            return Publish([self._schedule.failed(schedule, exc, now)])
        known = {k: v for k, v in (await self._states.read()).items() if k.startswith(f"{contract}/")}
        comparison = self._compare(contract, known, found, full=full, now=now)
        self.log.info(
            f"contract %s: %s read, %d {self.items}, %d change(s)",
            contract,
            self.reads[1] if full else self.reads[0],
            len(found),
            len(comparison.changes),
        )
        return Publish([*self._outputs(contract, comparison), self._schedule.next(schedule, now, full=full)])

    @abstractmethod
    async def _read(self, contract: str, *, full: bool) -> list[T]:
        """What Cesce has of `contract`: its recent movements, or all of it for a whole read (or a `CesceError`)."""

    @abstractmethod
    def _compare(self, contract: str, known: States, found: list[T], *, full: bool, now: datetime) -> Comparison:
        """What changed between `known` (the contract's states by key) and what was `found`."""

    @abstractmethod
    def _change_key(self, contract: str, change: Mapping[str, Any]) -> str:
        """The key a change is published with."""

    def _outputs(self, contract: str, found: Comparison) -> list[Output]:
        outputs = [
            Output(self._changes_topic, self._change_key(contract, change), change, schema=self.change_schema)
            for change in found.changes
        ]
        outputs += [
            Output(self._states_topic, key, state, schema=None if state is None else self.state_schema)
            for key, state in found.writes.items()
        ]
        return outputs
