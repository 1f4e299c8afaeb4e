"""The follow-up of requests Cesce answered EN TRÁMITE: read them again until decided, then publish FINAL.

What is pending lives in Kafka, not in memory: a compacted topic keyed by requestId, each record due
at its nextCheckAt. The follow-up consumes it as a delay queue (records are appended in due order,
`Defer` waits for the head), so a restart or a rebalance resumes exactly where the committed offsets
say, and with several replicas each pending request is followed by the one member that owns its
partition. For each due record, in one transaction with its offset:

- still EN TRÁMITE, or Cesce unreachable: the record again, with nextCheckAt one interval later
  (an outage never ends a follow-up);
- decided: one FINAL result (GRANTED, REJECTED, CANCELLED) and a tombstone for the request;
- gone, and the debtor's record is older than the request: denied while nobody read the movements
  (a denial leaves no other trace after 48 hours): one FINAL result REJECTED and a tombstone;
- gone, and the debtor's record is of a later request: one FINAL result SUPERSEDED and a tombstone.

Where the decision shows (guide 3.2.2): the request's number keeps naming the debtor once a 300xxx
request is unified into its supplement, so the individual read by that number shows a grant; a
denial of a known debtor's request generates no supplement and shows only in the movements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.cesce import (
    CesceAuthError,
    CesceError,
    CesceProtocolError,
    CesceTransientError,
    Classification,
    DebtorId,
    HasClassifications,
)
from workers.cesce_handling import failure_outcome
from workers.credit_requests.handler import unknown_status
from workers.credit_requests.lookup import decided_in_movements, is_request, read_or_none
from workers.credit_requests.results import PENDING_SCHEMA, Outcome, RequestFacts, Stage, outcome_of, result
from workers.runtime import TOMBSTONE, Chains, Defer, InputRecord, Output, Publish
from workers.runtime import Outcome as RuntimeOutcome

__all__ = ["FollowUpHandler"]

_log = logging.getLogger(__name__)


class FollowUpHandler:
    """Callable as the runtime's handler over the pending topic."""

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
        self._chains = Chains()  # one chain of records per request

    async def __call__(self, record: InputRecord) -> RuntimeOutcome:
        if record.decoded is TOMBSTONE:  # a request already decided: nothing to do
            return Publish([])
        state: Mapping[str, Any] = record.decoded
        began_by = f"{state['sourceTopic']}:{state['sourcePartition']}:{state['sourceOffset']}"
        if not self._chains.admit(state["requestId"], (state["pendingSince"], began_by), record):
            _log.warning(
                "request %s: a second follow-up record (check %d) dropped", state["requestId"], state["checks"]
            )
            return Publish([])
        due: datetime = state["nextCheckAt"]
        if due > self._clock():
            return Defer(due, f"request {state['requestId']} is read again at {due.isoformat()}")
        try:
            return await self._check(state)
        except (CesceTransientError, CesceAuthError, CesceProtocolError) as exc:
            # Cesce is down or misconfigured: keep following (nothing is dead-lettered for an outage)
            _log.warning("request %s not read (%s); tried again in one interval", state["requestId"], exc)
            return Publish([self._again(state, state["checks"])])
        except CesceError as exc:
            return failure_outcome(exc)

    def _again(self, state: Mapping[str, Any], checks: int) -> Output:
        """The request, due one interval from now."""
        value = dict(state) | {"checks": checks, "nextCheckAt": self._clock() + self._interval}
        return Output(self._pending_topic, state["requestId"], value, schema=PENDING_SCHEMA)

    async def _check(self, state: Mapping[str, Any]) -> RuntimeOutcome:
        facts = RequestFacts.of_pending(state)
        requested, since = state["creditLimitRequested"], state["requestDate"]
        api = self._classifications
        number = state["endorsementNo"]
        by = DebtorId.by_endorsement(number) if number else DebtorId.by_tax_code(state["countryCode"], state["taxCode"])
        current = await read_or_none(api, facts.contract_no, by)
        if current is not None and is_request(current, requested, since):
            if current.pending:
                _log.debug("request %s still EN TRÁMITE after %d check(s)", facts.request_id, state["checks"] + 1)
                return Publish([self._again(state, state["checks"] + 1)])
            return self._final(facts, current)
        known = current or _as_record(state)
        decided = await decided_in_movements(api, facts.contract_no, known, requested, since)
        if decided is not None:
            return self._final(facts, decided)
        if current is not None and current.requestDate < since:
            # nothing later replaced it and it is no longer EN TRÁMITE: a denial, older than the movements' 48 hours
            _log.warning("request %s was denied while nobody read the movements", facts.request_id)
            rejected = result(self._results_topic, facts, Outcome.REJECTED, stage=Stage.FINAL, now=self._clock())
            return Publish([rejected, self._done(facts)])
        _log.warning("request %s is no longer at Cesce: another request replaced it", facts.request_id)
        superseded = result(self._results_topic, facts, Outcome.SUPERSEDED, stage=Stage.FINAL, now=self._clock())
        return Publish([superseded, self._done(facts)])

    def _final(self, facts: RequestFacts, record: Classification) -> RuntimeOutcome:
        outcome = outcome_of(record)
        if outcome is None:
            return unknown_status(record)
        _log.info("request %s decided: %s", facts.request_id, outcome)
        final = result(self._results_topic, facts, outcome, stage=Stage.FINAL, now=self._clock(), record=record)
        return Publish([final, self._done(facts)])

    def _done(self, facts: RequestFacts) -> Output:
        """The tombstone: compaction forgets the request."""
        return Output(self._pending_topic, facts.request_id, None)


def _as_record(state: Mapping[str, Any]) -> Classification:
    """Enough of a record to recognise the debtor in the movements when its number no longer answers."""
    return Classification(
        countryCode=state["countryCode"],
        taxCode=state["taxCode"],
        statusCode="1",
        creditLimitRequested=state["creditLimitRequested"],
        creditLimitGranted=0,
        currencyCode=state["currencyCode"],
        requestDate=state["requestDate"],
        statusDate=state["requestDate"],
    )
