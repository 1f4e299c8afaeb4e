"""Replaying dead letters for `cesce-worker dlq replay`: what to do with each, the summary, the writes.

`decide` is the whole policy, a pure function of one dead letter and its ledger entry:

- no target (no ``dlq.original.topic`` and no ``--to``): refused;
- already in the replay ledger and no ``--again``: skipped (a second run by mistake shows it);
- replayed the maximum number of times already: refused, naming the way out. The count is the
  larger of the record's own ``replay.count`` (replays of the original that failed again) and the
  ledger's (replays of this very dead letter, with ``--again``);
- otherwise replayed with ``replay.count`` one higher.

`open_publisher` creates the transactional producer (``transactional.id``
``cesce-dlq-replay.<dlq topic>``) and calls ``init_transactions``, which on a real cluster fences
any older replay of the same DLQ and aborts its open transaction; only then does the command
read the ledger and decide (`workers.ops.dlq_lock` says why, and what the mock cluster
needs instead). `publish` writes each batch of replayed records and their ledger entries in one
Kafka transaction: a batch is replayed and recorded, or neither. A fenced producer stops the
replay at once, reported as such (`Publication.superseded`). The workers' duplicate detection
makes a replay of something already done harmless anyway.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from workers.ops.dlq_read import DeadLetterRecord, LedgerEntry
from workers.runtime.dlq import OMITTED, REPLAY_COUNT, replay_headers

if TYPE_CHECKING:
    from workers.runtime.transactions import Encoded

__all__ = [
    "DEFAULT_MAX_REPLAYS",
    "DEFAULT_REPLAYS_TOPIC",
    "Action",
    "Decision",
    "Limit",
    "Publication",
    "Publisher",
    "Summary",
    "decide",
    "ledger_entry",
    "open_publisher",
    "publish",
    "replayed_headers",
    "transactional_id",
]

DEFAULT_MAX_REPLAYS: Final = 3
DEFAULT_REPLAYS_TOPIC: Final = "cesce.dlq-replays"
BATCH_SIZE: Final = 500


class Action(StrEnum):
    REPLAY = "replay"
    SKIP = "skip"
    """Replayed already (the ledger says so); ``--again`` replays it anyway."""
    REFUSE = "refuse"
    """At the maximum number of replays, nowhere to send it, or nothing to send (a dead letter without its value)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """The maximum number of replays and where it came from (``DLQ_MAX_REPLAYS`` or ``--max-replays``)."""

    value: int
    source: str


@dataclass(frozen=True, slots=True)
class Decision:
    record: DeadLetterRecord
    action: Action
    target: str | None
    reason: str | None
    replay_count: int
    """The ``replay.count`` a replay writes."""


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def decide(
    record: DeadLetterRecord, entry: LedgerEntry | None, *, to: str | None, again: bool, limit: Limit
) -> Decision:
    target = to or record.original_topic
    previous = max(record.replay_count, entry.replay_count if entry is not None else 0)

    def refuse(reason: str) -> Decision:
        return Decision(record, Action.REFUSE, target, f"{record.ref}: {reason}", previous)

    if target is None:
        return refuse("no dlq.original.topic header says where it came from; give --to TOPIC")
    if record.header(OMITTED) is not None:
        return refuse(
            f"its dead letter holds no key or value ({OMITTED}: {record.header(OMITTED)}: too large to keep); "
            f"the original is at {record.original}, while the topic's retention keeps it"
        )
    if entry is not None and not again:
        reason = f"already replayed at {entry.replayed_at} to {entry.replayed_to}, use --again to replay it anyway"
        return Decision(record, Action.SKIP, target, f"{record.ref}: {reason}", previous)
    if previous >= limit.value:
        return refuse(
            f"replayed {_times(previous)} already ({limit.source}={limit.value}); fix the cause, "
            f"or replay with --max-replays {previous + 1}"
        )
    return Decision(record, Action.REPLAY, target, None, previous + 1)


def replayed_headers(decision: Decision) -> list[tuple[str, bytes | None]]:
    """The replayed record's headers: the original's, ``replay.count`` (the decision's) and ``replay.source``."""
    counted = [*decision.record.headers, (REPLAY_COUNT, str(decision.replay_count - 1).encode())]
    return replay_headers(counted, decision.record.ref)


def ledger_entry(decision: Decision, previous: LedgerEntry | None, now: datetime) -> LedgerEntry:
    record = decision.record
    return LedgerEntry(
        dlq_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        replayed_to=decision.target or "",
        replayed_at=now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        times=(previous.times if previous is not None else 0) + 1,
        replay_count=decision.replay_count,
    )


def transactional_id(dlq_topic: str) -> str:
    return f"cesce-dlq-replay.{dlq_topic}"


@dataclass(slots=True)
class Summary:
    dlq_topic: str
    dry_run: bool
    decisions: Sequence[Decision]
    replayed: Counter[str] = field(default_factory=Counter)
    """Records replayed (or, in a dry run, to be replayed) by target topic."""
    failure: str | None = None
    concurrent: bool = False
    """It stopped (or never started) because another replay of the same DLQ runs or took over."""

    @property
    def skipped(self) -> list[Decision]:
        return [d for d in self.decisions if d.action is Action.SKIP]

    @property
    def refused(self) -> list[Decision]:
        return [d for d in self.decisions if d.action is Action.REFUSE]

    @property
    def exit_status(self) -> int:
        return 1 if self.refused or self.failure is not None else 0

    def lines(self) -> list[str]:
        if not self.decisions and self.failure is None:
            return [f"no dead letters match in {self.dlq_topic}"]
        total = sum(self.replayed.values())
        verb = "would replay" if self.dry_run else "replayed"
        where = ", ".join(f"{count} to {topic}" for topic, count in sorted(self.replayed.items()))
        lines = [f"{verb} {total} dead letter(s) from {self.dlq_topic}" + (f": {where}" if where else "")]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} already replayed:")
            lines.extend(f"  {d.reason}" for d in self.skipped)
        if self.refused:
            lines.append(f"refused {len(self.refused)}:")
            lines.extend(f"  {d.reason}" for d in self.refused)
        if self.failure is not None:
            lines.append(f"failed: {self.failure}")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "dlqTopic": self.dlq_topic,
            "dryRun": self.dry_run,
            "selected": len(self.decisions),
            "replayed": sum(self.replayed.values()),
            "replayedTo": dict(sorted(self.replayed.items())),
            "skipped": [{"deadLetter": d.record.ref, "reason": d.reason} for d in self.skipped],
            "refused": [{"deadLetter": d.record.ref, "reason": d.reason} for d in self.refused],
            "failure": self.failure,
            "concurrentReplay": self.concurrent,
        }


class Publisher(Protocol):
    """What `publish` needs of `workers.runtime.transactions.TransactionalPublisher`."""

    def commit(self, records: Sequence[Encoded], offsets: Sequence[Any], group_metadata: Any) -> None: ...

    def close(self) -> None: ...


def open_publisher(config: Mapping[str, Any]) -> Publisher:
    """The transactional producer, `init_transactions` done: from here on no older replay of the
    same ``transactional.id`` commits anything (on a real cluster; see `workers.ops.dlq_lock`).

    Raises `workers.runtime.transactions.ProducerFailed`, `TransactionAborted` or `KafkaException`.
    """
    from workers.runtime.transactions import TransactionalPublisher  # noqa: PLC0415 - keeps `--help` light

    return TransactionalPublisher(config)


@dataclass(slots=True)
class Publication:
    """What `publish` did: records replayed by target topic, and why it stopped early, if it did."""

    replayed: Counter[str] = field(default_factory=Counter)
    failure: str | None = None
    superseded: bool = False
    """The producer was fenced: another replay of this DLQ started after this one."""


def publish(
    publisher: Publisher,
    decisions: Sequence[Decision],
    ledger: Mapping[str, LedgerEntry],
    ledger_topic: str,
    *,
    progress: bool,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch_size: int = BATCH_SIZE,
    extra: Callable[[], Sequence[Encoded]] = tuple,
) -> Publication:
    """Replay `decisions` (all `Action.REPLAY`), a transaction per batch, each with `extra()` added.

    After a failure nothing more is sent; the batches committed before it stay replayed and recorded.
    """
    from confluent_kafka import KafkaException  # noqa: PLC0415 - keeps `--help` light
    from tqdm import tqdm  # noqa: PLC0415

    from workers.runtime.errors import ProducerFailed, TransactionAborted  # noqa: PLC0415
    from workers.runtime.transactions import Encoded  # noqa: PLC0415

    done = Publication()
    bar = tqdm(total=len(decisions), unit="record", desc="replaying", file=sys.stderr, disable=not progress)
    try:
        for start in range(0, len(decisions), batch_size):
            batch = decisions[start : start + batch_size]
            records: list[Encoded] = []
            for decision in batch:
                record, target = decision.record, decision.target or ""
                headers = cast("list[tuple[str, bytes]]", replayed_headers(decision))  # a null header stays null
                entry = ledger_entry(decision, ledger.get(record.ref), now())
                # a keyless record (a delete copy the re-keyer sent to each partition) goes back to its partition
                keyless = record.key is None and target == record.original_topic
                partition = record.original_partition if keyless else None
                records.append(Encoded(target, record.key, record.value, headers, partition=partition))
                records.append(Encoded(ledger_topic, entry.key.encode(), entry.encode(), ()))
            records.extend(extra())
            first, last = batch[0].record.ref, batch[-1].record.ref
            try:
                publisher.commit(records, [], None)
            except ProducerFailed as exc:  # fatal: this producer can do nothing more
                dlq_topic = batch[0].record.topic
                if exc.fenced:  # a newer replay took over, not any other fatal error
                    done.superseded = True
                    done.failure = (
                        f"another replay of {dlq_topic} took over (it fenced transactional.id "
                        f"{transactional_id(dlq_topic)}): this run stopped and replayed nothing from {first} on ({exc})"
                    )
                else:
                    done.failure = (
                        f"the transactional producer failed for good ({exc}): this run stopped and replayed nothing "
                        f"from {first} on"
                    )
                return done
            except (TransactionAborted, KafkaException) as exc:
                done.failure = (
                    f"the transaction for {first} .. {last} did not commit ({exc}); it was aborted: "
                    "none of that batch was replayed or recorded"
                )
                return done
            done.replayed.update(d.target or "" for d in batch)
            bar.update(len(batch))
    finally:
        bar.close()
    return done
