"""The non-payments worker: one ERP unpaid-invoice change in, one ``cesce.non-payment-results`` record out.

A declaration is looked up before it is sent, because Cesce takes a repeated one as a second
non-payment: the debtor's claim files are read, and an invoice already there (a crash between
Cesce's answer and the commit, a POST whose answer was lost, a redelivery, a snapshot re-read) is
read back and published ALREADY_DECLARED, with the documents Cesce requests for it. Only an invoice
not there is posted, and published DECLARED with Cesce's answer.

When the declaration opened the claim file, the file's first ``cesce.state.ClaimFileWatch`` record
goes out in the same transaction as the result, and the claims poller follows the file from then
on (one chain per file: a later non-payment joins the file, and its documents show up in the next
poll). Read back, a non-payment that is its file's first publishes the watch again, with the file's
documents and settlements as they are now: the first attempt's transaction may never have
committed (and the poller keeps one chain per file if it did). A file already settled by then is
not followed again.

Refusals before any call and Cesce's answers map as for every worker (`workers.cesce_handling`).
An update is compared with what was declared (the row state, ``cesce.state.SentNonPayment`` records
on a compacted topic partitioned like the input), else with Debezium's before-image; a non-payment
DECLARED or ALREADY_DECLARED is kept there in the transaction of its result, a delete removes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.cesce import HasClaims, RequestedDocument, Settlement
from workers.cesce_handling import RowMemory, carry_change
from workers.change_plans import Row
from workers.non_payments.plan import AlreadyDeclared, Declare, Plan, Refuse, debtor_of, identity, plan, recognise, sent
from workers.non_payments.watch import WATCH_SCHEMA, ClaimFileRef, first_watch, is_settled, known_document
from workers.runtime import DeadLetter, Envelope, ErrorCategory, InputRecord, Outcome, Output, Publish, RowState

__all__ = ["RESULT_SCHEMA", "STATE_SCHEMA", "NonPaymentsHandler"]

_log = logging.getLogger(__name__)

RESULT_SCHEMA = "cesce.results.NonPaymentResult"
STATE_SCHEMA = "cesce.state.SentNonPayment"


@dataclass(frozen=True, slots=True)
class _Filed:
    """Where Cesce holds the non-payment, as answered or read back."""

    claim_file_no: str
    non_payment_no: str
    opened_file: bool
    endorsement_no: str
    documents: Sequence[RequestedDocument]


class NonPaymentsHandler:
    """Callable as the runtime's handler; holds the Claims API, the topics it publishes to, the row state and the
    clock."""

    def __init__(
        self,
        cesce: HasClaims,
        results_topic: str,
        claim_files_topic: str,
        interval: timedelta,
        *,
        state: RowState,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._claims = cesce.claims
        self._results_topic = results_topic
        self._claim_files_topic = claim_files_topic
        self._interval = interval
        self._state = state
        self._clock = clock

    async def __call__(self, record: InputRecord) -> Outcome:
        change: Envelope = record.decoded

        async def execute(row: Row, decision: Plan, memory: RowMemory) -> Outcome:
            if not isinstance(decision, Declare):
                raise TypeError(f"not a plan for Cesce: {decision!r}")
            outcome = await self._declare(record, change, row, decision)
            if isinstance(outcome, Publish):  # declared, or found declared: Cesce has it
                return Publish([*outcome.outputs, *memory.remember(sent(row))])
            return outcome

        return await carry_change(
            record,
            self._state,
            identity=identity,
            plan=plan,
            unchanged=lambda row, outcome: Publish([self._result(record, change, row, outcome)]),
            execute=execute,
        )

    async def _declare(self, record: InputRecord, change: Envelope, row: Mapping[str, Any], what: Declare) -> Outcome:
        files = await self._claims.claim_files(what.contract_no, what.debtor)
        found = recognise(files, what.declaration)
        if isinstance(found, Refuse):
            return DeadLetter(ErrorCategory.VALIDATION, found.field, found.reason)
        if found is not None:
            return await self._read_back(record, change, row, what, found)
        declared = await self._claims.declare_non_payment(what.contract_no, what.declaration)
        opened = declared.newClaimFileInd == "Y"
        _log.info(
            "non-payment %s declared: claim file %s%s, non-payment %s",
            row["nonPaymentId"],
            declared.claimFileNo,
            " (opened)" if opened else "",
            declared.nonPaymentNo,
        )
        filed = _Filed(declared.claimFileNo, declared.nonPaymentNo, opened, declared.endorsementNo, declared.documents)
        outputs = [self._result(record, change, row, "DECLARED", filed)]
        if opened:
            ref = self._ref(what, row, declared.claimFileNo, declared.endorsementNo, row.get("customerReference"))
            outputs.append(
                self._watch(record, ref, [known_document(declared.nonPaymentNo, d) for d in declared.documents])
            )
        return Publish(outputs)

    async def _read_back(
        self, record: InputRecord, change: Envelope, row: Mapping[str, Any], what: Declare, found: AlreadyDeclared
    ) -> Outcome:
        claim_file, non_payment = found.claim_file, found.non_payment
        read = await self._claims.documents(what.contract_no, claim_file.claimFileNo)
        everything = [known_document(d.nonPaymentNo, d) for d in read]
        _log.info(
            "non-payment %s already declared: claim file %s, non-payment %s",
            row["nonPaymentId"],
            claim_file.claimFileNo,
            non_payment.nonPaymentNo,
        )
        filed = _Filed(
            claim_file.claimFileNo,
            non_payment.nonPaymentNo,
            found.opened_file,
            claim_file.endorsementNo,
            [d for d in read if d.nonPaymentNo == non_payment.nonPaymentNo],
        )
        result = self._result(record, change, row, "ALREADY_DECLARED", filed)
        if not found.opened_file:
            return Publish([result])
        # the file is followed from what it is now: a snapshot re-read long after must not report old news
        settlements = await self._claims.settlements(what.contract_no, claim_file.claimFileNo)
        if is_settled(read, settlements):
            return Publish([result])
        customer_reference = row.get("customerReference") or claim_file.customerReference
        ref = self._ref(what, row, claim_file.claimFileNo, claim_file.endorsementNo, customer_reference)
        return Publish([result, self._watch(record, ref, everything, settlements)])

    def _ref(
        self, what: Declare, row: Mapping[str, Any], claim_file_no: str, endorsement_no: str, reference: str | None
    ) -> ClaimFileRef:
        return ClaimFileRef(what.contract_no, claim_file_no, debtor_of(row), endorsement_no, reference)

    def _watch(
        self,
        record: InputRecord,
        ref: ClaimFileRef,
        documents: Iterable[dict[str, Any]],
        settlements: Iterable[Settlement] = (),
    ) -> Output:
        watch_id = f"{record.topic}:{record.partition}:{record.offset}"
        value = first_watch(ref, documents, settlements, watch_id=watch_id, now=self._clock(), interval=self._interval)
        return Output(self._claim_files_topic, ref.key, value, schema=WATCH_SCHEMA)

    def _result(
        self,
        record: InputRecord,
        change: Envelope,
        row: Mapping[str, Any],
        outcome: str,
        filed: _Filed | None = None,
    ) -> Output:
        source_topic, source_partition, source_offset = record.origin  # the ERP change record
        result: dict[str, Any] = {
            "outcome": outcome,
            "op": change.op,
            "nonPaymentId": row["nonPaymentId"],
            "contractNo": row["contractNo"],
            "debtor": debtor_of(row),
            "endorsementNo": row.get("endorsementNo"),
            "customerReference": row.get("customerReference"),
            "invoiceNo": row["invoiceNo"],
            "invoiceDate": row["invoiceDate"],
            "maturityDate": row["maturityDate"],
            "unpaidAmount": row["unpaidAmount"],
            "currencyCode": row["currencyCode"],
            "claimFileNo": None,
            "nonPaymentNo": None,
            "newClaimFile": None,
            "documents": [],
            "sourceTopic": source_topic,
            "sourcePartition": source_partition,
            "sourceOffset": source_offset,
            "traceId": record.trace_id,
            "handledAt": self._clock(),
        }
        if filed is not None:
            result |= {
                "endorsementNo": row.get("endorsementNo") or filed.endorsement_no,
                "claimFileNo": filed.claim_file_no,
                "nonPaymentNo": filed.non_payment_no,
                "newClaimFile": filed.opened_file,
                "documents": [
                    {
                        "documentCode": d.documentCode,
                        "documentDescription": d.documentDescription,
                        "statusCode": d.statusCode,
                        "statusDate": d.statusDate,
                    }
                    for d in filed.documents
                ],
            }
        return Output(self._results_topic, debtor_of(row), result, schema=RESULT_SCHEMA)
