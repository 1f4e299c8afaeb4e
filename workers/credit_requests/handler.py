"""The credit-requests worker: one ERP credit-request change in, one `cesce.classification-results` record out.

Every request is looked up at Cesce before it is sent (`workers.credit_requests.lookup`): a
redelivery, a snapshot re-read or a retry whose first answer was lost publishes what Cesce already
has (``alreadyRegistered``), never a second request. Then:

- GRANTED (statusCode 2) and REJECTED (3) are final answers; SUPERSEDED says the request was not
  sent because Cesce holds a later request for the debtor (an old request read again);
- PENDING (EN TRÁMITE, statusCode 1) is published, and the request is handed to the follow-up in
  the same transaction: a record on the pending topic, due after the follow-up interval;
- field rules broken before any call, and updates that would change a sent request, are
  ``validation`` dead letters naming the field; Cesce's rejections (2809, 1522, 6, 422 ...) are
  ``business`` dead letters with its errorCode; transient failures are retried by the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.cesce import Classification, DebtorId, HasClassifications
from workers.cesce_handling import carry_change
from workers.change_plans import Row
from workers.credit_requests.lookup import find_registered
from workers.credit_requests.plan import Classify, plan
from workers.credit_requests.results import Outcome, RequestFacts, outcome_of, pending_record, result
from workers.runtime import DeadLetter, Envelope, ErrorCategory, InputRecord, Output, Publish
from workers.runtime import Outcome as RuntimeOutcome

__all__ = ["CreditRequestsHandler", "unknown_status"]

_log = logging.getLogger(__name__)


def unknown_status(record: Classification) -> DeadLetter:
    return DeadLetter(
        ErrorCategory.BUSINESS,
        f"statusCode:{record.statusCode}",
        f"Cesce answered statusCode {record.statusCode!r}, which the documents do not list",
    )


class CreditRequestsHandler:
    """Callable as the runtime's handler; holds the Classifications API, the topics, the follow-up interval and
    the clock."""

    def __init__(
        self,
        cesce: HasClassifications,
        results_topic: str,
        pending_topic: str,
        interval: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._classifications = cesce.classifications
        self._results_topic = results_topic
        self._pending_topic = pending_topic
        self._interval = interval
        self._clock = clock

    async def __call__(self, record: InputRecord) -> RuntimeOutcome:
        change: Envelope = record.decoded

        def unchanged(row: Row, outcome: str) -> RuntimeOutcome:
            facts = RequestFacts.of_change(record, change.op, row)
            return Publish([result(self._results_topic, facts, Outcome(outcome), now=self._clock())])

        return await carry_change(
            change,
            plan(change.op, change.before, change.after),
            unchanged=unchanged,
            execute=lambda row, decision: self._classify(RequestFacts.of_change(record, change.op, row), decision),
        )

    async def _classify(self, facts: RequestFacts, what: Classify) -> RuntimeOutcome:
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
        return Publish(outputs)


def _identity(wire: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: wire[name] for name in ("customerReference", "endorsementNo", "countryCode", "taxCode") if name in wire
    }
