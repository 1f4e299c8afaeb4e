"""The credit-requests worker: one ERP credit-request change in, one `cesce.classification-results` record out.

Every request is looked up at Cesce before it is sent (`workers.credit_requests.lookup`): a
redelivery, a snapshot re-read or a retry whose first answer was lost publishes what Cesce already
has (``alreadyRegistered``), never a second request. Then:

- GRANTED (statusCode 2) and REJECTED (3) are final answers; SUPERSEDED says the request was not
  sent because Cesce holds a later request for the debtor (an old request read again);
- PENDING (EN TRÁMITE, statusCode 1) is published, and the request is handed to the follow-up in
  the same transaction: a record on the pending topic, due after the follow-up interval;
- an operation the row asks on the debtor's limit (``limitAction`` CANCEL / DEACTIVATE / ACTIVATE,
  ``premiumDecision`` ACCEPT / DENY; `workers.credit_requests.actions`) is sent once: Cesce's record
  is read first, and an operation it already shows is published from it (``alreadyRegistered``);
  the result is CANCELLED, DEACTIVATED, REACTIVATED, PREMIUM_ACCEPTED or PREMIUM_DENIED, with ``action``;
- field rules broken before any call, and updates that would change a sent request, are
  ``validation`` dead letters naming the field; Cesce's rejections (2809, 1522, 6, 422 ...) are
  ``business`` dead letters with its errorCode; transient failures are retried by the runtime.

An update is compared with the request as it was sent (the row state, ``cesce.state.SentCreditRequest``
records on a compacted topic partitioned like the input), else with Debezium's before-image. A request
Cesce registered (answered, or found already registered) is kept there in the transaction of its
result, and so is the last operation sent for the row; a delete removes it (and cancels nothing); a
SUPERSEDED request was not sent, and is not kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.cesce import Classification, DebtorId
from workers.cesce_handling import RowMemory, carry_change
from workers.change_plans import Row
from workers.credit_requests.actions import (
    HasClassificationActions,
    Operation,
    action_name,
    action_outcome,
    already_done,
    send,
)
from workers.credit_requests.lookup import find_registered, read_or_none
from workers.credit_requests.plan import ActOnLimit, AnswerPremium, Classify, Plan, identity, plan, sent
from workers.credit_requests.results import Outcome, RequestFacts, outcome_of, pending_record, result
from workers.runtime import DeadLetter, Envelope, ErrorCategory, InputRecord, Output, Publish, RowState
from workers.runtime import Outcome as RuntimeOutcome

__all__ = ["STATE_SCHEMA", "CreditRequestsHandler", "unknown_status"]

_log = logging.getLogger(__name__)

STATE_SCHEMA = "cesce.state.SentCreditRequest"


def unknown_status(record: Classification) -> DeadLetter:
    return DeadLetter(
        ErrorCategory.BUSINESS,
        f"statusCode:{record.statusCode}",
        f"Cesce answered statusCode {record.statusCode!r}, which the documents do not list",
    )


class CreditRequestsHandler:
    """Callable as the runtime's handler; holds the Classifications API, the topics, the follow-up interval, the
    row state and the clock."""

    def __init__(
        self,
        cesce: HasClassificationActions,
        results_topic: str,
        pending_topic: str,
        interval: timedelta,
        *,
        state: RowState,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._classifications = cesce.classifications
        self._results_topic = results_topic
        self._pending_topic = pending_topic
        self._interval = interval
        self._state = state
        self._clock = clock

    async def __call__(self, record: InputRecord) -> RuntimeOutcome:
        change: Envelope = record.decoded

        def unchanged(row: Row, outcome: str) -> Publish:
            facts = RequestFacts.of_change(record, change.op, row)
            return Publish([result(self._results_topic, facts, Outcome(outcome), now=self._clock())])

        async def execute(row: Row, decision: Plan, memory: RowMemory) -> RuntimeOutcome:
            facts = RequestFacts.of_change(record, change.op, row)
            if isinstance(decision, ActOnLimit | AnswerPremium):
                return await self._operate(facts, decision, memory, row)
            if not isinstance(decision, Classify):
                raise TypeError(f"not a plan for Cesce: {decision!r}")
            return await self._classify(facts, decision, memory, row)

        return await carry_change(
            record, self._state, identity=identity, plan=plan, unchanged=unchanged, execute=execute
        )

    async def _classify(self, facts: RequestFacts, what: Classify, memory: RowMemory, row: Row) -> RuntimeOutcome:
        api = self._classifications
        debtor = DebtorId(**_identity(what.request.to_wire()))
        lookup = await find_registered(api, what.contract_no, debtor, what.request.creditLimitRequested, what.since)
        found = lookup.registered
        if lookup.newer is not None:
            _log.warning(
                "request %s not sent: the debtor has a later request (%s, requested %s)",
                facts.request_id,
                lookup.newer.creditLimitRequested,
                lookup.newer.requestDate,
            )
            superseded = result(
                self._results_topic, facts, Outcome.SUPERSEDED, now=self._clock(), already_registered=True
            )
            return Publish([superseded])
        if found is not None:
            _log.info("request %s already registered at Cesce (statusCode %s)", facts.request_id, found.statusCode)
            answer = found
        else:
            answer = await api.create(what.contract_no, what.request)
        outcome = outcome_of(answer)
        if outcome is None:
            return unknown_status(answer)
        now = self._clock()
        outputs: list[Output] = [
            result(self._results_topic, facts, outcome, now=now, record=answer, already_registered=found is not None)
        ]
        if outcome is Outcome.PENDING:
            outputs.append(
                pending_record(
                    self._pending_topic, facts, answer, since=now, checks=0, now=now, interval=self._interval
                )
            )
        return Publish([*outputs, *memory.remember(sent(row))])

    async def _operate(self, facts: RequestFacts, what: Operation, memory: RowMemory, row: Row) -> RuntimeOutcome:
        """The row's operation on the limit, unless Cesce's record already shows it done."""
        api = self._classifications
        if isinstance(what, AnswerPremium):  # the row's own request, wherever Cesce shows it
            lookup = await find_registered(api, what.contract_no, what.debtor, row["creditLimitRequested"], what.since)
            current = lookup.registered
        else:
            current = await read_or_none(api, what.contract_no, what.debtor)
        done = current is not None and already_done(what, current)
        if current is not None and done:
            _log.info("request %s: %s already done at Cesce", facts.request_id, action_name(what))
            answer = current
        else:  # not shown done (or no record at all): sent, for Cesce to do or to refuse
            answer = await send(api, what)
        outcome = result(
            self._results_topic,
            facts,
            action_outcome(what),
            now=self._clock(),
            record=answer,
            already_registered=done,
            action=action_name(what),
        )
        return Publish([outcome, *memory.remember(sent(row))])


def _identity(wire: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: wire[name] for name in ("customerReference", "endorsementNo", "countryCode", "taxCode") if name in wire
    }
