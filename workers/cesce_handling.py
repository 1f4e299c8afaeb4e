"""What every worker that calls Cesce shares: a client per handler, and what to do about its errors.

`with_cesce` opens one `CesceClient` for a handler's lifetime (the runtime's handler factory).
`failure_outcome` is the one mapping from a Cesce error to the runtime's outcome:

- a field the client refused before sending: a ``validation`` dead letter naming the field;
- a business rejection or an unknown record (Cesce's errorCode, else the HTTP status): ``business``;
- a transient failure (timeouts, 5xx, 429 with its Retry-After, maintenance): `Retry`;
- refused credentials or an answer in no documented shape: `Retry` as well. Both are problems of
  configuration or of the other side that no record can fix; retrying lets the outage breaker
  pause consumption until they are mended, instead of dead-lettering every record meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

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
    DeadLetter,
    DecoderFactory,
    Envelope,
    ErrorCategory,
    Handler,
    Outcome,
    Retry,
    WorkerContext,
    WorkerSpec,
)

P = TypeVar("P")

__all__ = [
    "Loop",
    "carry_change",
    "cesce_client",
    "describe",
    "failure_outcome",
    "with_cesce",
    "worker_and_companion",
]


def with_cesce(
    settings: CesceSettings, make: Callable[[CesceClient], Handler]
) -> Callable[[WorkerContext], AbstractAsyncContextManager[Handler]]:
    """A `WorkerSpec.handler`: `make(client)` with a client opened for as long as the engine runs."""

    @asynccontextmanager
    async def handler(context: WorkerContext) -> AsyncIterator[Handler]:
        async with cesce_client(settings, context) as cesce:
            yield make(cesce)

    return handler


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
    make: Callable[[CesceClient], Handler]


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


async def carry_change(
    change: Envelope,
    decision: P | Deleted | NoChange | Refuse,
    *,
    unchanged: Callable[[Row, str], Outcome],
    execute: Callable[[Row, P], Awaitable[Outcome]],
) -> Outcome:
    """What every worker does with its plan's `decision` for one ERP change: a refusal is a validation dead
    letter; a delete or a change Cesce was never sent is `unchanged(row, "DELETED_IN_ERP" | "NO_CHANGE")`, with
    no call; anything else is `execute(row, decision)`, whose Cesce errors become outcomes (`failure_outcome`)."""
    if isinstance(decision, Refuse):
        return DeadLetter(ErrorCategory.VALIDATION, decision.field, decision.reason)
    row = change.after if change.after is not None else change.before
    if row is None:  # the plans refuse such a change first; kept for the type checker
        return DeadLetter(ErrorCategory.VALIDATION, "after", "a change without a row")
    if isinstance(decision, Deleted):
        return unchanged(row, "DELETED_IN_ERP")
    if isinstance(decision, NoChange):
        return unchanged(row, "NO_CHANGE")
    try:
        return await execute(row, decision)
    except CesceError as exc:
        return failure_outcome(exc)
