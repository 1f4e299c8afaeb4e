"""One stay of a partition with this member: everything the engine knows of it, in one object.

An `Assignment` is created when the group assigns the partition and dropped when it is revoked
or lost; nothing of it outlives that stay. A partition assigned again (even to the same member, as
every eager rebalance does) starts from a fresh one: librdkafka forgets its pause flag and its
fetch position on reassignment, and so does the engine. Its `number` is unique in the process,
and every record it delivers carries it (`InputRecord.assignment`), so a handler that remembers
things per partition (`workers.runtime.chains.Chains`) knows when what it remembers may be stale:
another member may have handled the partition in between.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Final

from workers.runtime.offsets import PartitionProgress
from workers.runtime.transactions import Encoded

__all__ = ["Assignment"]

_NUMBERS: Final = itertools.count(1)


@dataclass(eq=False)
class Assignment:
    progress: PartitionProgress[Encoded]
    number: int = field(default_factory=lambda: next(_NUMBERS))
    closing: bool = False
    """Revocation began: take no more records, commit what finishes."""
    paused: bool = False
    """As the consumer was last told (a fresh assignment is not paused: librdkafka resets the flag)."""
    submitted: int = 0
    """Records handed to their key's lane and not finished (queued behind their key or running)."""
    deferred: int = 0
    """Records sleeping until they fall due (a `Defer`): a drain does not wait for them."""
    end: int | None = None
    """The partition's last stable offset (librdkafka's statistics), for the lag."""
    fetched: int | None = None
    """librdkafka's application offset (statistics): past the last record handed over, and past the
    transaction markers after it."""

    @property
    def draining(self) -> int:
        """Records a drain waits for: consumed and unfinished, but not asleep on a `Defer`."""
        return self.progress.in_flight - self.deferred

    @property
    def lag(self) -> int | None:
        """Records behind the last stable offset. Once everything handed to the engine is committed, what
        lies between the committed offset and librdkafka's application offset is transaction markers
        (one per transaction on a transactional topic), not records: a caught-up partition reads 0."""
        position = self.progress.position
        if self.progress.idle and self.fetched is not None:
            position = max(position or 0, self.fetched)
        if self.end is None or position is None:
            return None
        return max(0, self.end - position)
