"""The credit-requests worker's handler on changes that need no call: updates and deletes against its row state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.workers.row_states import STATE_TOPIC, row_state, state_records
from tests.unit.workers.test_credit_requests_plan import row
from workers.cesce_handling import NEVER_SENT
from workers.credit_requests.handler import STATE_SCHEMA, CreditRequestsHandler
from workers.runtime import (
    ROW_KEY_HEADER,
    DeadLetter,
    ErrorCategory,
    InputRecord,
    Output,
    Publish,
    RowState,
    Skip,
)
from workers.runtime.envelope import Envelope, Op

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
KEPT = row()  # what the state keeps: the whole request, every field of which was sent


@dataclass(frozen=True, slots=True)
class NoCalls:
    """A client whose Classifications API must not be used: these changes need no call."""

    classifications: Any = None


def handler(state: RowState) -> CreditRequestsHandler:
    return CreditRequestsHandler(
        NoCalls(), "cesce.classification-results", "followups", timedelta(minutes=15), state=state, clock=lambda: NOW
    )


def change(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None) -> InputRecord:
    envelope = Envelope(op=op, before=before, after=after, ts_ms=None, source={})
    headers = ((ROW_KEY_HEADER, b'{"id":"SOL-1"}'),)
    return InputRecord("erp.credit-requests", 1, 5, None, b"CLI-0001", b"{}", headers, envelope)


def outcomes(outcome: object) -> list[str]:
    assert isinstance(outcome, Publish), outcome
    return [o.value["outcome"] for o in outcome.outputs if isinstance(o, Output) and isinstance(o.value, dict)]


async def test_an_update_without_a_before_image_is_compared_with_the_request_as_sent() -> None:
    state = row_state(STATE_SCHEMA, {b'{"id":"SOL-1"}': KEPT})
    assert outcomes(await handler(state)(change("u", None, KEPT))) == ["NO_CHANGE"]
    refused = await handler(state)(change("u", None, KEPT | {"creditLimitRequested": Decimal("90000.00")}))
    assert isinstance(refused, DeadLetter)
    assert (refused.category, refused.code) == (ErrorCategory.VALIDATION, "creditLimitRequested")


async def test_an_update_without_a_before_image_of_a_request_never_sent_is_refused_naming_before() -> None:
    refused = await handler(row_state(STATE_SCHEMA))(change("u", None, KEPT))
    assert isinstance(refused, DeadLetter)
    assert (refused.category, refused.code) == (ErrorCategory.VALIDATION, "before")


async def test_a_delete_without_a_before_image_is_answered_from_the_request_as_sent() -> None:
    state = row_state(STATE_SCHEMA, {b'{"id":"SOL-1"}': KEPT})
    outcome = await handler(state)(change("d", None, None))
    assert outcomes(outcome) == ["DELETED_IN_ERP"]
    assert isinstance(outcome, Publish)
    assert state_records(list(outcome.outputs), STATE_SCHEMA) == {b'{"id":"SOL-1"}': None}
    assert outcome.outputs[-1].topic == STATE_TOPIC
    assert await handler(state)(change("d", None, None)) == Skip(NEVER_SENT)
