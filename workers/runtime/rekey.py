"""Re-keying a change stream by what must stay in order (the debtor), in its source's commit order.

Debezium keys each change by its table's primary key, so two invoices of one debtor (a sale and the
credit note that cancels part of it) sit on different partitions, may be handled by different
members, and nothing keeps the credit note from overtaking its sale. The runtime orders by Kafka key,
so `rekeyed` puts a companion in front of the worker (``<name>.rekey``, in the same process, its
own consumer group member and transactional producer):

1. it reads the source topic and hands records over in the database's commit order across every
   partition it holds (`OrderedIntake` by `source_position`: ``source.lsn``, the binlog position,
   ``source.sequence``..., waiting at most ``WORKER_ORDER_MAX_WAIT_MS`` for a partition that shows
   nothing);
2. it writes each change, bytes unchanged, to an internal topic keyed by `key_of` (the debtor), with
   the source's key (the row's primary key) in header ``cesce.row-key`` and the change record's
   place in ``cesce.origin``, in the same transaction as the source offsets (exactly once, in the
   order handed over); such headers coming with the source record are dropped, never trusted;
3. the worker reads the internal topic instead, where one debtor's changes are one key's, in order.

Tombstones and truncates stop at the re-keyer (skipped), undecodable records are dead-lettered there
(into the source topic's dead-letter topic, as the worker would), and the worker's own dead letters
go to the same topic. A delete whose before-image holds only the primary key (PostgreSQL's default)
names no debtor: it is written, without a key, to every partition of the internal topic, where the
worker handles it after every earlier record of the partition; the partition that holds the row's
state answers it and the others skip it (deletes are rare; nothing is kept per row for them). Any
other change without a debtor keeps its source key (the worker refuses it).

The order holds across the partitions one member holds; with several members, each re-keys its own
partitions, and two changes of one debtor on partitions of different members are ordered only by
when each member handles them. The worker's own last line of defence covers that case (a credit
note refused for lack of pending sales waits for its sale, `workers.invoices.credit_notes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from workers.runtime.contract import (
    ORIGIN_HEADER,
    ROW_KEY_HEADER,
    Handler,
    InputRecord,
    Outcome,
    Output,
    Publish,
    Retry,
)
from workers.runtime.dlq import TRACE_HEADERS
from workers.runtime.envelope import Envelope
from workers.runtime.positions import Position, source_position
from workers.runtime.spec import WorkerContext, WorkerSpec

__all__ = ["REKEY_ROLE", "by_row", "ordered_by", "rekeyed"]

REKEY_ROLE = "rekey"
_MAX_KEY_BYTES: Final = 1024  # a debtor's code is tens of characters; more is a row the worker refuses


def _ours(header: str) -> bool:
    """Headers the runtime writes for each record it publishes (the record's trace context, ``source.*``,
    ``cesce.*``); ``dlq.*`` ones go along (a replayed change keeps its replay count)."""
    return header in TRACE_HEADERS or header.startswith(("source.", "cesce."))


_METADATA_TIMEOUT: Final = 10.0
_METADATA_MAX_AGE: Final = 60.0


def _position(decoded: Any) -> Position | None:
    return source_position(decoded) if isinstance(decoded, Envelope) else None


def _rekey(topic: str, key_of: Callable[[Envelope], str | None], partitions: Callable[[], Awaitable[int]]) -> Handler:
    async def handle(record: InputRecord) -> Outcome:
        change: Envelope = record.decoded
        key = key_of(change)
        # the source's own headers go along; ours are written here, never taken from whoever wrote the source
        headers: dict[str, str | bytes] = {name: value for name, value in record.headers if not _ours(name)}
        headers[ORIGIN_HEADER] = f"{record.topic}:{record.partition}:{record.offset}"
        if record.key is not None:
            headers[ROW_KEY_HEADER] = record.key
        if key is None and change.op == "d":  # which debtor it was is known only where the row's state is
            try:
                count = await partitions()
            except KafkaException as exc:
                return Retry("metadata-unavailable", f"{topic}: its partitions could not be read: {exc}")
            # keyless: the worker handles it after every earlier record of the partition (the row's sale included)
            copies = [Output(topic, None, record.value, headers=headers, partition=p) for p in range(count)]
            if copies:
                return Publish(copies)
        return Publish([Output(topic, record.key if key is None else key, record.value, headers=headers)])

    return handle


class _PartitionCount:
    """How many partitions the internal topic has: asked of the cluster at most once a minute (deletes come in
    bursts), through one admin client; 0 while the topic does not exist (nothing was written there to find)."""

    def __init__(self, topic: str, config: Mapping[str, Any]) -> None:
        self._topic = topic
        self._config = dict(config)
        self._admin: AdminClient | None = None
        self._known: tuple[int, float] | None = None  # (count, when asked)

    async def __call__(self) -> int:
        if self._known is not None and time.monotonic() - self._known[1] < _METADATA_MAX_AGE:
            return self._known[0]
        count = await asyncio.to_thread(self._ask)
        self._known = (count, time.monotonic())
        return count

    def _ask(self) -> int:
        """KafkaException when the cluster cannot say (the handler retries the record)."""
        if self._admin is None:
            self._admin = AdminClient(self._config)
        described = self._admin.list_topics(self._topic, timeout=_METADATA_TIMEOUT).topics.get(self._topic)
        if described is None:
            return 0
        if described.error is not None:
            if described.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return 0
            raise KafkaException(described.error)
        return len(described.partitions)


def by_row(key: Callable[[Mapping[str, Any]], str]) -> Callable[[Envelope], str | None]:
    """A `key_of` reading `key` off the change's row (its after-image, else its before-image); None without one,
    for an empty one, and for one too long to be anybody's (the worker refuses that row, keyed as it came)."""

    def key_of(change: Envelope) -> str | None:
        row = change.after if change.after is not None else change.before
        found = None if row is None else key(row)
        return found if found and len(found.encode()) <= _MAX_KEY_BYTES else None

    return key_of


def ordered_by(
    spec: WorkerSpec, key_of: Callable[[Envelope], str | None], *, source_keyed: bool, topic: str | None
) -> list[WorkerSpec]:
    """`spec` as it is when its source already keys by what `key_of` reads (`source_keyed`); otherwise re-keyed
    through `topic` (default ``<input>.by-debtor``) by `rekeyed`."""
    if source_keyed:
        return [spec]
    return rekeyed(spec, topic or f"{spec.input_topics[0]}.by-debtor", key_of)


def rekeyed(spec: WorkerSpec, topic: str, key_of: Callable[[Envelope], str | None]) -> list[WorkerSpec]:
    """The companion that re-keys `spec`'s one input into `topic` by `key_of`, and `spec` reading `topic`."""
    if len(spec.input_topics) != 1:
        raise ValueError(f"{spec.label}: re-keying needs exactly one input topic, got {list(spec.input_topics)}")
    source = spec.input_topics[0]

    @asynccontextmanager
    async def open_handler(context: WorkerContext) -> AsyncIterator[Handler]:
        yield _rekey(topic, key_of, _PartitionCount(topic, context.kafka(False)))

    opener: Callable[[WorkerContext], AbstractAsyncContextManager[Handler]] = open_handler
    companion = WorkerSpec(
        name=spec.name,
        role=REKEY_ROLE if spec.role is None else f"{spec.role}.{REKEY_ROLE}",
        input_topics=[source],
        output_topics=[topic],
        decoder=spec.decoder,
        handler=opener,
        order_by=_position,
        dlq_suffix=spec.dlq_suffix,
        dead_letter_source={source: spec.dead_letter_source.get(source, source)},
    )
    dead_letter_source = {**spec.dead_letter_source, topic: spec.dead_letter_source.get(source, source)}
    worker = replace(spec, input_topics=[topic], dead_letter_source=dead_letter_source)
    return [companion, worker]
