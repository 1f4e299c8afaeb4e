"""The claims poller: follows each claim file the worker opened, and publishes what changes in it.

What is followed lives in Kafka, not in memory: the compacted topic ``cesce.claim-files``, keyed by
contractNo/claimFileNo, each record holding what was last read of the file and due at its
nextCheckAt. The poller consumes it as a delay queue (records are appended in due order; `Defer`
waits for the head), so a restart or a rebalance resumes where the committed offsets say. For each
due record, in one transaction with its offset: the file's documents and settlements are read, one
``cesce.claim-updates`` record goes out per change (`workers.non_payments.watch`), and the record
is appended again with what is now known, one interval later, or a tombstone once the file is
settled.

One chain per file. A redelivered declaration can start a second chain for a file (its first
transaction committed after all); `workers.runtime.chains.Chains` drops all but one, the same one
in every process: the earliest ``(watchingSince, watchId)`` this poller has seen for the file.

Cesce failures: transient ones, refused credentials and answers in no documented shape re-append
the record one interval later (nothing is dead-lettered because Cesce was down, and an outage
never ends a chain); a rejection dead-letters the watch record, with the reason, on
``cesce.claim-files.dlq``, from where an operator replays it to follow the file again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.cesce import CesceAuthError, CesceError, CesceProtocolError, CesceTransientError, HasClaims
from workers.cesce_handling import failure_outcome
from workers.non_payments.watch import UPDATE_SCHEMA, WATCH_SCHEMA, ClaimFileRef, poll
from workers.runtime import TOMBSTONE, Chains, Defer, InputRecord, Outcome, Output, Publish

__all__ = ["ClaimsPoller"]

_log = logging.getLogger(__name__)


class ClaimsPoller:
    """Callable as the runtime's handler over the watch topic."""

    def __init__(
        self,
        cesce: HasClaims,
        updates_topic: str,
        claim_files_topic: str,
        interval: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._claims = cesce.claims
        self._updates_topic = updates_topic
        self._claim_files_topic = claim_files_topic
        self._interval = interval
        self._clock = clock
        self._chains = Chains()

    async def __call__(self, record: InputRecord) -> Outcome:
        if record.decoded is TOMBSTONE:  # a file no longer followed: nothing to do
            return Publish([])
        watch: Mapping[str, Any] = record.decoded
        ref = ClaimFileRef.of(watch)
        if not self._chains.admit(ref.key, (watch["watchingSince"], watch["watchId"]), record):
            _log.info("claim file %s: a second chain (%s) dropped", ref.key, watch["watchId"])
            return Publish([])
        due: datetime = watch["nextCheckAt"]
        if due > self._clock():
            return Defer(due, f"claim file {ref.key} is read again at {due.isoformat()}")
        try:
            documents = await self._claims.documents(ref.contract_no, ref.claim_file_no)
            settlements = await self._claims.settlements(ref.contract_no, ref.claim_file_no)
        except (CesceTransientError, CesceAuthError, CesceProtocolError) as exc:
            # Cesce is down or misconfigured: keep following (an outage never ends a chain)
            _log.warning("claim file %s not read (%s); tried again in one interval", ref.key, exc)
            again = dict(watch) | {"nextCheckAt": self._clock() + self._interval}
            return Publish([Output(self._claim_files_topic, ref.key, again, schema=WATCH_SCHEMA)])
        except CesceError as exc:
            return failure_outcome(exc)
        found = poll(watch, documents, settlements, now=self._clock(), interval=self._interval)
        outputs = [Output(self._updates_topic, ref.debtor, update, schema=UPDATE_SCHEMA) for update in found.updates]
        if found.watch is None:
            _log.info("claim file %s settled after %d check(s): no longer followed", ref.key, watch["checks"] + 1)
            outputs.append(Output(self._claim_files_topic, ref.key, None))
        else:
            outputs.append(Output(self._claim_files_topic, ref.key, found.watch, schema=WATCH_SCHEMA))
        if found.updates:
            _log.info("claim file %s: %d change(s)", ref.key, len(found.updates))
        return Publish(outputs)
