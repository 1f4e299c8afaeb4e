"""Which offsets of a partition may be committed, and which outputs may go out with them.

Records of different keys finish out of order, but a partition's offset is one number: committing
offset N says "everything below N is done". So a record's outputs are held until every earlier
record of its partition has finished, and then released together with the offset that covers
them. Each transaction therefore carries exactly the outputs of the offsets it commits: a crash
before the commit loses both (the records are consumed again), a crash after it loses neither,
and no output is ever published for an offset that will be consumed again.

`skip` holds offsets whose outputs are already in the output topics (found by reconciliation on a
broker without transactional semantics, see `workers.runtime.reconcile`); they finish with no
outputs of their own. `published` holds offsets only some of whose outputs are out (by index):
they are handled again and publish the rest. Pure and synchronous; the engine calls it from the event loop only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

__all__ = ["PartitionProgress"]

T = TypeVar("T")

_PENDING = object()


@dataclass
class PartitionProgress(Generic[T]):
    """Progress of one assigned partition. `T` is whatever the engine publishes (encoded records)."""

    skip: set[int] = field(default_factory=set)
    published: dict[int, set[int]] = field(default_factory=dict)
    _records: dict[int, object] = field(default_factory=dict)  # offset -> _PENDING or list[T], in order
    _committed: int | None = None  # the next offset to commit (exclusive bound), once known

    def begin(self, offset: int) -> bool:
        """Record that `offset` was consumed; False if it is a repeat (already begun or committed)."""
        if offset in self._records or (self._committed is not None and offset < self._committed):
            return False
        if self._committed is None:
            self._committed = offset
        self._records[offset] = _PENDING
        return True

    def finish(self, offset: int, outputs: Iterable[T]) -> None:
        if self._records.get(offset) is not _PENDING:
            raise KeyError(f"offset {offset} is not in flight")
        self._records[offset] = list(outputs)

    def replace(self, offset: int, outputs: Iterable[T]) -> None:
        """Change the outputs of finished, uncommitted `offset` (the cluster refused one of them)."""
        if offset not in self._records or self._records[offset] is _PENDING:
            raise KeyError(f"offset {offset} is not finished and uncommitted")
        self._records[offset] = list(outputs)

    def should_skip(self, offset: int) -> bool:
        """Whether `offset`'s outputs are already published; forgets the mark once used."""
        if offset in self.skip:
            self.skip.discard(offset)
            return True
        return False

    def published_outputs(self, offset: int) -> set[int]:
        """The indexes of `offset`'s outputs already published (a partial publish); forgets them once asked."""
        return self.published.pop(offset, set())

    @property
    def position(self) -> int | None:
        """The next offset to commit (the group's committed offset once confirmed); None before any record."""
        return self._committed

    @property
    def idle(self) -> bool:
        """Nothing consumed is waiting: every record begun has been committed."""
        return not self._records

    @property
    def in_flight(self) -> int:
        return sum(1 for state in self._records.values() if state is _PENDING)

    @property
    def pending_offsets(self) -> list[int]:
        return [offset for offset, state in self._records.items() if state is _PENDING]

    def release(self) -> tuple[list[T], int | None]:
        """Outputs of the finished prefix, in offset order, and the offset to commit after them.

        Nothing is forgotten until `confirm()`: if the transaction fails, the next `release()` offers
        the same outputs again. The offset is None when nothing new can be committed.
        """
        outputs: list[T] = []
        next_offset: int | None = None
        for offset, state in self._records.items():
            if state is _PENDING:
                break
            outputs.extend(cast("list[T]", state))
            next_offset = offset + 1
        return outputs, next_offset

    def confirm(self, next_offset: int) -> None:
        """The transaction carrying everything below `next_offset` committed."""
        for offset in [o for o in self._records if o < next_offset]:
            if self._records[offset] is _PENDING:
                raise ValueError(f"offset {offset} is still in flight")
            del self._records[offset]
        self._committed = max(self._committed or next_offset, next_offset)
