"""One chain of records per key in a delay topic, whatever is delivered twice.

A follow-up re-appends its record after each check, so each thing it follows (a credit request, a
claim file) is a chain of records, each one published by handling the one before (its
``source.*`` headers name that parent). A second chain, or a second record in one chain, can
appear: the change that starts a chain delivered again, or a re-append that a retried transaction
left twice (the mock cluster shows aborted records). `Chains` remembers, per key, which chain it
follows and the offset of the record it last handled, and admits a record only if it is that
record again (handled anew after a `Defer`), or its child, or the first of an earlier chain. Chain
names order the same way in every process, so every owner keeps the same chain.

What it remembers belongs to one stay of the partition with this member (`InputRecord.assignment`):
once the partition has been away, other members may have handled the chain further, so a record
of a new stay finds the partition forgotten and is followed as the first met. Memory only, for the
same reason: after a restart the first record met is followed, so a duplicate met first may be
handled once more before its twin's chain is dropped.
"""

from __future__ import annotations

from datetime import datetime

from workers.runtime.contract import InputRecord
from workers.runtime.dlq import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC

__all__ = ["Chains"]

_Followed = dict[str, tuple[tuple[datetime, str], int]]


def _parent_offset(record: InputRecord) -> int | None:
    """The offset of the record of the same partition that published `record`, if one did."""
    topic, partition, offset = (record.header(name) for name in (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET))
    if topic is None or partition is None or offset is None:
        return None
    if topic.decode(errors="replace") != record.topic or partition != str(record.partition).encode():
        return None
    try:
        return int(offset)
    except ValueError:
        return None


class Chains:
    """Which chain this follow-up keeps per key, and where in it it is, per partition and stay."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], tuple[int, _Followed]] = {}

    def admit(self, key: str, chain: tuple[datetime, str], record: InputRecord) -> bool:
        """True to handle `record`, of the chain named `chain` (when it began, what began it); False to drop it."""
        partition = (record.topic, record.partition)
        stay, followed_here = self._partitions.get(partition, (None, None))
        if followed_here is None or stay != record.assignment:
            followed_here = {}
            self._partitions[partition] = (record.assignment, followed_here)
        followed = followed_here.get(key)
        if followed is not None:
            name, last = followed
            if chain > name:
                return False  # a later chain of something already followed
            if chain == name and record.offset != last and _parent_offset(record) != last:
                return False  # a twin of a record already handled, or a stale one
        followed_here[key] = (chain, record.offset)
        return True
