"""The replay lock: one `dlq replay` per dead-letter topic on a broker that does not fence.

On a real Kafka cluster two replays of one DLQ are kept apart by the transaction coordinator:
both use ``transactional.id`` ``cesce-dlq-replay.<dlq topic>``, ``init_transactions`` fences the
older producer and aborts its open transaction, and a replay reads the ledger ``read_committed``
only after its own ``init_transactions``. What it reads is final: the fenced replay can commit
nothing more (its next transactional call fails with PRODUCER_FENCED).

librdkafka's mock cluster (``cesce-worker broker``, measured on librdkafka 2.16) gives every
``init_transactions`` a new producer id instead: it fences nobody and aborts nothing, so two
replays would both commit. There the replay takes this lock before it reads the ledger. The lock
lives in the replay ledger topic under key ``<dlq topic>:replay-lock`` (a colon cannot be part of
a topic name, so no ledger entry has that key), and every record of one key is in one partition:
its log is the lock's history, the same for every reader. A replay appends a ``claim``; the first
claim while nobody holds the lock wins, a later one loses until the holder appends its
``release`` or its lease runs out (each committed batch appends a ``renew``). Whether a claim won
is a pure function of the log up to it (`holder_at`), so the two replays agree without talking.
The claim is committed before the ledger is read, so the loser has decided nothing and replays
nothing. (On a real cluster it is the older replay that stops, fenced; here the newer one.)

What it does not give: a holder that stalls longer than its lease (between two batches) can be
taken over while it still runs, and the lease compares the clocks of the machines that wrote the
records. On the mock both replays usually run on one machine, and a batch takes well under a
second against a lease of a minute and more.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from workers.runtime.embedded import is_mock_cluster_id

if TYPE_CHECKING:
    from workers.runtime.transactions import Encoded

__all__ = [
    "LEASE_MARGIN_SECONDS",
    "Holder",
    "LockEvent",
    "LockRecord",
    "ReplayLock",
    "fences",
    "holder_at",
    "lock_key",
]

"""How `workers.runtime.embedded.is_mock_cluster` knows librdkafka's mock cluster."""
LEASE_MARGIN_SECONDS: Final = 60.0
"""Added to ``--timeout`` for the lease: the longest a holder goes without a renew is its ledger
read (at most ``--timeout``) and one transaction."""


def fences(cluster_id: str | None) -> bool:
    """Whether the cluster with this id fences an older producer on ``init_transactions``: all but the mock."""
    return not is_mock_cluster_id(cluster_id)


def lock_key(dlq_topic: str) -> str:
    return f"{dlq_topic}:replay-lock"


class LockEvent(StrEnum):
    CLAIM = "claim"
    RENEW = "renew"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class LockRecord:
    """One record of a lock's history (the value under `lock_key`)."""

    event: LockEvent
    run: str
    """The replay's own id (random, one per run)."""
    at_ms: int
    """When it was written, by the writer's clock (ms since the epoch)."""
    lease_ms: int
    """How long after `at_ms` the writer's hold lasts without another renew."""
    owner: str
    """Who runs it, for the message of a replay that lost: ``host pid N``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "lock": self.event.value,
            "run": self.run,
            "at": self.at_ms,
            "leaseMs": self.lease_ms,
            "owner": self.owner,
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> LockRecord:
        """ValueError (or KeyError/TypeError) for a value that is not a lock record."""
        found = json.loads(data)
        return cls(
            event=LockEvent(found["lock"]),
            run=str(found["run"]),
            at_ms=int(found["at"]),
            lease_ms=int(found["leaseMs"]),
            owner=str(found["owner"]),
        )


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the lock, since when, and until when unless it renews."""

    run: str
    owner: str
    since_ms: int
    seen_ms: int
    lease_ms: int

    @property
    def expires_ms(self) -> int:
        return self.seen_ms + self.lease_ms


def holder_at(history: Iterable[LockRecord], run: str) -> tuple[bool, Holder | None]:
    """Fold the lock's history up to and including `run`'s claim: (that claim was found, the holder then).

    `run` holds the lock when the claim was found and the holder is `run`. A claim takes the lock
    when nobody holds it or the holder's lease ran out before the claim; a renew or a release
    counts only from the holder. Later records do not matter: a claim, once it won, is only
    undone by the holder's own release or its lease running out.
    """
    holder: Holder | None = None
    for record in history:
        if record.event is LockEvent.CLAIM:
            if holder is None or holder.run == record.run or record.at_ms > holder.expires_ms:
                holder = Holder(record.run, record.owner, record.at_ms, record.at_ms, record.lease_ms)
            if record.run == run:
                return True, holder
        elif holder is not None and record.run == holder.run:
            if record.event is LockEvent.RENEW:
                holder = replace(holder, seen_ms=record.at_ms, lease_ms=record.lease_ms)
            else:
                holder = None
    return False, holder


class ReplayLock:
    """This run's side of the lock: the records it writes (through the replay's transactions)."""

    def __init__(
        self, dlq_topic: str, ledger_topic: str, lease_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.dlq_topic = dlq_topic
        self.ledger_topic = ledger_topic
        self.key = lock_key(dlq_topic)
        self.run = uuid.uuid4().hex
        self.owner = f"{socket.gethostname()} pid {os.getpid()}"
        self.lease_ms = int(lease_seconds * 1000)
        self._clock = clock

    def record(self, event: LockEvent) -> LockRecord:
        return LockRecord(event, self.run, int(self._clock() * 1000), self.lease_ms, self.owner)

    def encoded(self, event: LockEvent) -> Encoded:
        """`record(event)`, ready for the replay's transaction."""
        from workers.runtime.transactions import Encoded  # noqa: PLC0415 - keeps `--help` light

        return Encoded(self.ledger_topic, self.key.encode(), self.record(event).encode(), ())

    def history(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> list[LockRecord]:
        """This DLQ's lock records among the ledger's (key, value) pairs, in the order given; others are skipped."""
        key = self.key.encode()
        found: list[LockRecord] = []
        for record_key, value in records:
            if record_key != key or value is None:
                continue
            try:
                found.append(LockRecord.decode(value))
            except (ValueError, KeyError, TypeError):
                continue
        return found
