"""Records consumed but not yet handed to their key's lane, and in which order they are handed over.

`FifoIntake`: in the order they were fetched; what most workers want, since their inputs are keyed
by what must stay in order and each partition is already in order.

`OrderedIntake`: in their source's commit order across every partition this member holds (a
`Position` per record, see `workers.runtime.positions`). A record is handed over only when no other
record held here has an earlier position and every other partition has either shown a later one
(it has a record waiting) or has nothing more to give right now (librdkafka reported the end of the
partition, ``enable.partition.eof``); or once it has waited `max_wait` seconds, so that a partition
that never delivers (paused elsewhere, slow broker) delays records but never stalls them. Records
without a position (they could not be decoded yet) go first: they are dead-lettered or retried,
never ordered. A record whose position cannot be known yet (the Schema Registry did not answer:
`UNRESOLVED`) holds every other back until `resolve` learns it, retried every second. Pure and
synchronous; the engine calls it from the event loop.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Generic, Protocol, TypeVar

from workers.runtime.positions import Position

__all__ = ["UNRESOLVED", "FifoIntake", "Intake", "OrderedIntake", "Unresolved"]

P = TypeVar("P")  # a partition
P_contra = TypeVar("P_contra", contravariant=True)
T = TypeVar("T")  # what is held (the engine's (assignment, record))

_FIRST: Position = ()  # sorts before every position
_RESOLVE_EVERY: Final = 1.0  # seconds between attempts to learn a held record's position (the registry was down)


class Unresolved:
    """A record whose position cannot be known yet (its schema could not be fetched): nothing may pass it."""


UNRESOLVED: Final = Unresolved()


class Intake(Protocol[P_contra, T]):
    def assigned(self, partitions: Iterable[P_contra]) -> None: ...
    def add(self, partition: P_contra, item: T, position: Position | Unresolved | None) -> None: ...
    def resolve(self, find: Callable[[T], tuple[T, Position | Unresolved | None]]) -> None:
        """Try again to learn the position of each held record whose position was `UNRESOLVED`."""

    def take(self) -> T | None:
        """The next item to hand over, or None (nothing held, or nothing may go yet)."""

    def reached_end(self, partition: P_contra) -> None: ...
    def forget(self, partitions: Iterable[P_contra], keep: Callable[[T], bool]) -> None:
        """Drop `partitions` and every item for which `keep` is False (revoked while waiting)."""

    def full(self, limit: int) -> bool:
        """Whether consumption should be held back (with `holds`, which partitions)."""

    def holds(self, partition: P_contra) -> bool: ...
    def __len__(self) -> int: ...
    def wake_at(self) -> float | None:
        """When `take` may answer differently with no new record (a wait ending), if ever."""


class FifoIntake(Generic[P, T]):
    """Fetch order."""

    def __init__(self) -> None:
        self._items: deque[tuple[P, T]] = deque()

    def assigned(self, partitions: Iterable[P]) -> None:
        pass

    def add(self, partition: P, item: T, position: Position | Unresolved | None) -> None:
        self._items.append((partition, item))

    def resolve(self, find: Callable[[T], tuple[T, Position | Unresolved | None]]) -> None:
        pass

    def take(self) -> T | None:
        return self._items.popleft()[1] if self._items else None

    def reached_end(self, partition: P) -> None:
        pass

    def forget(self, partitions: Iterable[P], keep: Callable[[T], bool]) -> None:
        self._items = deque(entry for entry in self._items if keep(entry[1]))

    def full(self, limit: int) -> bool:
        return len(self._items) >= limit  # as many fetched ahead as are being handled

    def holds(self, partition: P) -> bool:
        return True  # a full intake holds every partition back

    def __len__(self) -> int:
        return len(self._items)

    def wake_at(self) -> float | None:
        return None


@dataclass(order=True)
class _Held(Generic[T]):
    position: Position
    arrival: int
    since: float = field(compare=False)
    item: T = field(compare=False)
    pending: bool = field(default=False, compare=False)
    """Its position is not known yet (`UNRESOLVED`): everything waits for it."""


class OrderedIntake(Generic[P, T]):
    """Commit order across partitions, each partition waited for at most `max_wait` seconds."""

    def __init__(self, max_wait: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_wait = max_wait
        self._clock = clock
        self._queues: dict[P, deque[_Held[T]]] = {}
        self._at_end: set[P] = set()  # partitions whose every fetched record is here or handed over
        self._arrivals = itertools.count()

    def assigned(self, partitions: Iterable[P]) -> None:
        for partition in partitions:
            self._queues.setdefault(partition, deque())
            self._at_end.discard(partition)

    def add(self, partition: P, item: T, position: Position | Unresolved | None) -> None:
        queue = self._queues.setdefault(partition, deque())
        self._at_end.discard(partition)
        pending = isinstance(position, Unresolved)
        known = _FIRST if position is None or isinstance(position, Unresolved) else position
        queue.append(_Held(known, next(self._arrivals), self._clock(), item, pending))

    def resolve(self, find: Callable[[T], tuple[T, Position | Unresolved | None]]) -> None:
        for queue in self._queues.values():
            if queue and queue[0].pending:
                head = queue[0]
                item, position = find(head.item)
                if not isinstance(position, Unresolved):
                    queue[0] = _Held(_FIRST if position is None else position, head.arrival, head.since, item)

    def reached_end(self, partition: P) -> None:
        if partition in self._queues:
            self._at_end.add(partition)

    def take(self) -> T | None:
        heads = [(queue[0], partition) for partition, queue in self._queues.items() if queue]
        if not heads or any(head.pending for head, _ in heads):
            return None
        first, partition = min(heads, key=lambda head: head[0])
        waited_enough = self._clock() - first.since >= self._max_wait
        silent = [p for p, queue in self._queues.items() if not queue and p not in self._at_end]
        if first.position != _FIRST and silent and not waited_enough:
            return None  # a silent partition may still show an earlier change
        self._queues[partition].popleft()
        return first.item

    def forget(self, partitions: Iterable[P], keep: Callable[[T], bool]) -> None:
        for partition in partitions:
            self._queues.pop(partition, None)
            self._at_end.discard(partition)
        for partition, queue in self._queues.items():
            self._queues[partition] = deque(held for held in queue if keep(held.item))

    def full(self, limit: int) -> bool:
        return len(self) >= limit

    def holds(self, partition: P) -> bool:
        """Whether `partition` has records waiting here (pause it when full; a silent one must keep fetching)."""
        return bool(self._queues.get(partition))

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def wake_at(self) -> float | None:
        """When the oldest waiting record's wait ends (the engine calls `take` again then), if any waits."""
        heads = [queue[0] for queue in self._queues.values() if queue]
        if any(head.pending for head in heads):
            return self._clock() + _RESOLVE_EVERY
        return min(heads).since + self._max_wait if heads else None  # the head `take` waits on: the earliest
