"""What every worker that calls Cesce shares: a client per handler, and what to do about its errors.

`with_cesce` opens one `CesceClient` for a handler's lifetime (the runtime's handler factory), and
`row_state` gives it the worker's `RowState`: what it last sent to Cesce per ERP row, which
`carry_change` (the prelude of every change handler) compares each change with.
`failure_outcome` is the one mapping from a Cesce error to the runtime's outcome:

- a field the client refused before sending: a ``validation`` dead letter naming the field;
- a business rejection or an unknown record (Cesce's errorCode, else the HTTP status): ``business``;
- a transient failure (timeouts, 5xx, 429 with its Retry-After, maintenance): `Retry`;
- refused credentials or an answer in no documented shape: `Retry` as well. Both are problems of
  configuration or of the other side that no record can fix; retrying lets the outage breaker
  pause consumption until they are mended, instead of dead-lettering every record meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final, TypeVar

from workers.cesce import (
    CesceAuthError,
    CesceClient,
    CesceError,
    CesceNotFound,
    CesceProtocolError,
    CesceRejection,
    CesceSettings,
    CesceTransientError,
    CesceValidationError,
)
from workers.change_plans import Deleted, NoChange, Refuse, Row
from workers.runtime import (
    ROW_KEY_HEADER,
    AvroCodec,
    DeadLetter,
    DecoderFactory,
    Envelope,
    ErrorCategory,
    Handler,
    InputRecord,
    Outcome,
    Output,
    PartitionRows,
    Publish,
    Retry,
    RowState,
    Skip,
    StateUnavailable,
    WorkerContext,
    WorkerSpec,
)

P = TypeVar("P")

_log = logging.getLogger(__name__)

__all__ = [
    "NEVER_SENT",
    "Loop",
    "RowMemory",
    "carry_change",
    "cesce_client",
    "describe",
    "failure_outcome",
    "recall",
    "row_state",
    "with_cesce",
    "worker_and_companion",
]


def with_cesce(
    settings: CesceSettings, make: Callable[[CesceClient, WorkerContext], Handler]
) -> Callable[[WorkerContext], AbstractAsyncContextManager[Handler]]:
    """A `WorkerSpec.handler`: `make(client, context)` with a client opened for as long as the engine runs."""

    @asynccontextmanager
    async def handler(context: WorkerContext) -> AsyncIterator[Handler]:
        async with cesce_client(settings, context) as cesce:
            yield make(cesce, context)

    return handler


def row_state(context: WorkerContext, topic: str, schema: str) -> RowState:
    """The worker's row state: `schema` records on the compacted `topic`, read with the process's Kafka settings.
    Its subject is checked now, at start, like every topic the worker writes: never first in a handler."""
    codec = AvroCodec(context.registry, schema)
    codec.prepare(topic)
    return RowState.of_topic(topic, context.kafka(True), codec)


@asynccontextmanager
async def cesce_client(settings: CesceSettings, context: WorkerContext) -> AsyncIterator[CesceClient]:
    """A client for a handler's lifetime, its token check among the process's readiness checks."""
    name = f"{context.label}.cesce"
    async with CesceClient(settings) as cesce:
        context.health.add_check(name, cesce.token_problem)
        try:
            yield cesce
        finally:
            context.health.remove_check(name)


def describe(error: CesceError) -> str:
    """Cesce's own words when it gave some, else the client's."""
    return error.error_description or str(error)


def failure_outcome(error: CesceError) -> DeadLetter | Retry:
    if isinstance(error, CesceValidationError):
        return DeadLetter(ErrorCategory.VALIDATION, error.field, str(error))
    if isinstance(error, CesceRejection | CesceNotFound):
        code = error.error_code or str(error.http_status or ("404" if isinstance(error, CesceNotFound) else "400"))
        return DeadLetter(ErrorCategory.BUSINESS, code, describe(error))
    if isinstance(error, CesceTransientError):
        return Retry(error.error_code or type(error).__name__, str(error), error.retry_after)
    if isinstance(error, CesceAuthError | CesceProtocolError):
        return Retry(error.error_code or type(error).__name__, str(error))
    raise error


@dataclass(frozen=True)
class Loop:
    """One consumer of a worker's process: the topic it reads, the topics it writes, how it decodes what it
    reads, and its handler made from the process's Cesce client."""

    input: str
    outputs: Sequence[str]
    decoder: DecoderFactory
    make: Callable[[CesceClient, WorkerContext], Handler]


def worker_and_companion(
    name: str, settings: CesceSettings, worker: Loop, companion: Loop, *, role: str
) -> list[WorkerSpec]:
    """A worker and the companion loop that follows what it started (``<name>.<role>``), each with its client."""
    return [
        WorkerSpec(
            name=name,
            input_topics=[worker.input],
            output_topics=list(worker.outputs),
            decoder=worker.decoder,
            handler=with_cesce(settings, worker.make),
        ),
        WorkerSpec(
            name=name,
            role=role,
            input_topics=[companion.input],
            output_topics=list(companion.outputs),
            decoder=companion.decoder,
            handler=with_cesce(settings, companion.make),
        ),
    ]


@dataclass(frozen=True, slots=True)
class RowMemory:
    """One ERP row in the worker's row state (`workers.runtime.RowState`): its key there, what was last sent to
    Cesce for it, and the state records that change that, to publish with the result."""

    rows: PartitionRows
    key: bytes | None
    """The row's identity: the ``cesce.row-key`` header (the source record's key), else the worker's identity of
    the row; None for a change that carries neither (a delete without its before-image or a row key)."""
    known: Row | None
    """What was last sent to Cesce for the row, if anything."""
    known_as: bytes | None = None
    """The key `known` was found under when it is not `key`: the row's identity before an update changed it."""

    def remember(self, sent: Row) -> list[Output]:
        """`sent` is now what Cesce has for the row: the state record (and a tombstone for an identity left)."""
        if self.key is None:
            return []
        outputs = [self.rows.remember(self.key, sent)]
        if self.known_as is not None:
            outputs.append(self.rows.remember(self.known_as, None))
        return outputs

    def forget(self) -> list[Output]:
        """The row is gone from the ERP: a tombstone for what the state holds of it."""
        key = self.known_as or self.key
        return [] if self.known is None or key is None else [self.rows.remember(key, None)]


async def recall(state: RowState, record: InputRecord, identity: Callable[[Row], str]) -> RowMemory:
    """Where `record`'s ERP row stands in `state` (StateUnavailable when its partition cannot be loaded now).

    The key is the ``cesce.row-key`` header when the change was re-keyed by debtor, else `identity` of the row
    (after, else before). Without the header, an update whose before-image names another identity is looked up
    under that one first: that is the identity Cesce knows. Under the header, what is found must be the same row
    (its identity the change's, or its before-image's): a source whose keys are not row keys (keyed by debtor,
    its setting forgotten) must never have one row diffed against another's state.
    """
    change: Envelope = record.decoded
    rows = await state.rows(record)
    header = record.header(ROW_KEY_HEADER)
    if header is not None:
        known = rows.get(header)
        found = None if known is None else identity(known)
        if found is not None and change.after is not None and found != identity(change.after):
            bridged = change.before is not None and identity(change.before) == found
            if not bridged:  # another row under the same key: the source's keys do not name rows
                _log.warning(
                    "%s[%d]@%d: the row key names %s in the state but this change is %s: read as a row never sent "
                    "(a source keyed by debtor needs its *_KEYED_BY_DEBTOR setting; an identity changed without a "
                    "before-image cannot be told from another row); its state is neither read nor written",
                    record.topic,
                    record.partition,
                    record.offset,
                    found,
                    identity(change.after),
                )
                return RowMemory(rows, None, None)  # nothing read, nothing written: the other row's state stays
        return RowMemory(rows, header, known)
    row = change.after if change.after is not None else change.before
    if row is None:
        return RowMemory(rows, None, None)
    key = identity(row).encode()
    if change.after is not None and change.before is not None:
        old = identity(change.before).encode()
        previous = rows.get(old) if old != key else None
        if previous is not None:
            return RowMemory(rows, key, previous, known_as=old)
    return RowMemory(rows, key, rows.get(key))


NEVER_SENT: Final = "a delete without its before-image of a row this worker never sent to Cesce: nothing to answer"
"""The `Skip` of a delete nothing is known of (PostgreSQL's default replica identity, a row never declared)."""


async def carry_change(
    record: InputRecord,
    state: RowState,
    *,
    identity: Callable[[Row], str],
    plan: Callable[[str, Row | None, Row | None], P],
    unchanged: Callable[[Row, str], Publish],
    execute: Callable[[Row, P, RowMemory], Awaitable[Outcome]],
) -> Outcome:
    """What every worker does with one ERP change. The row is recalled from `state` (`recall`); `plan` compares
    the change with what was last sent to Cesce when that is known, else with Debezium's before-image (a read,
    ``r``, of a row already sent is an update of it). A refusal
    is a validation dead letter; a change Cesce was never sent is `unchanged(row, "NO_CHANGE")`, with no call; a
    delete is `unchanged(row, "DELETED_IN_ERP")` from the before-image or, when it has none, from what was last
    sent, with a tombstone for the state (a `Skip` when neither exists); anything else is
    `execute(row, decision, memory)`, whose Cesce errors become outcomes (`failure_outcome`), and which adds
    `memory.remember(...)` to what it publishes when Cesce took the row."""
    change: Envelope = record.decoded
    try:
        memory = await recall(state, record, identity)
    except StateUnavailable as exc:
        return Retry("state-unavailable", str(exc))
    baseline = memory.known if memory.known is not None else change.before
    # a snapshot read (or an unwrapped row without __op) says what the row is now: for a row already sent, that is
    # an update of it (a correction made while the connector was away), not a second declaration
    op = "u" if change.op == "r" and memory.known is not None else change.op
    decision = plan(op, baseline, change.after)
    if isinstance(decision, Refuse):
        return DeadLetter(ErrorCategory.VALIDATION, decision.field, decision.reason)
    if isinstance(decision, Deleted):
        gone = change.before if change.before is not None else memory.known
        if gone is None:
            return Skip(NEVER_SENT)
        answered = unchanged(gone, "DELETED_IN_ERP")
        return Publish([*answered.outputs, *memory.forget()])
    row = change.after
    if row is None:  # the plans refuse such a change first; kept for the type checker
        return DeadLetter(ErrorCategory.VALIDATION, "after", "a change without a row")
    if isinstance(decision, NoChange):
        return unchanged(row, "NO_CHANGE")
    try:
        return await execute(row, decision, memory)
    except CesceError as exc:
        return failure_outcome(exc)
