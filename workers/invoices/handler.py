"""The invoices worker: one ERP invoice change in, one `cesce.sale-results` record (or a dead letter) out.

Every Cesce answer has a home:

- a declaration answered statusCode 5 is DECLARED, statusCode 9 REJECTED_BY_POLICY;
- a declaration refused after an earlier attempt whose outcome is unknown (a lost answer the client
  resent, a retry of the record, a redelivery after a crash, a change whose result already
  committed) is read back with GET .../sale by invoiceNo + maturityDate and compared by the guide's
  duplicate rule (`workers.invoices.duplicates`): the same sale is published ALREADY_DECLARED, with
  the existing sale's reference and status, whatever Cesce's words were; another sale, or none, keeps
  the rejection. Words that hint at a duplicate (`DuplicateSale`) get the same read, never more;
- a modification is MODIFIED; one whose old identity Cesce no longer knows is checked against the
  new identity (a redelivered modification already applied) before it is called a rejection;
- rejections (1522 in each meaning, 2809, the date and credit-note errors, modification windows)
  and the client's field checks are dead letters (``business`` / ``validation``) with Cesce's code;
- transient failures, and refused credentials (a configuration problem that pausing can outlast),
  are `Retry`: the runtime retries, and pauses consumption while Cesce keeps failing.

Every change is compared with what the worker last sent to Cesce for its row (the row state,
``cesce.state.SentSale`` records on a compacted topic partitioned like the input), not only with
Debezium's before-image, which PostgreSQL's default REPLICA IDENTITY does not send: a sale declared
(DECLARED, REJECTED_BY_POLICY, ALREADY_DECLARED) or modified updates it in the transaction of its
result, a delete removes it, and nothing else (a dead letter, NO_CHANGE) changes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from workers.cesce import (
    CesceNotFound,
    CesceRejection,
    CesceTransientError,
    DuplicateSale,
    HasSales,
    Sale,
    SaleDeclared,
    SaleModified,
)
from workers.cesce.catalogue import SALE_REJECTED
from workers.cesce.retry import follows_unknown_attempt
from workers.cesce_handling import RowMemory, carry_change
from workers.change_plans import Row
from workers.invoices.duplicates import UnknownAttempts, earlier_attempt_unknown, same_sale
from workers.invoices.plan import Declare, Modify, Plan, debtor_of, identity, plan, sent
from workers.runtime import (
    DeadLetter,
    Envelope,
    ErrorCategory,
    InputRecord,
    Outcome,
    Output,
    Publish,
    Retry,
    RowState,
)

__all__ = ["RESULT_SCHEMA", "STATE_SCHEMA", "InvoicesHandler"]

_log = logging.getLogger(__name__)

RESULT_SCHEMA = "cesce.results.SaleResult"
STATE_SCHEMA = "cesce.state.SentSale"


class InvoicesHandler:
    """Callable as the runtime's handler; holds the Sales API, the results topic, the row state and the clock."""

    def __init__(
        self,
        cesce: HasSales,
        results_topic: str,
        *,
        state: RowState,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sales = cesce.sales
        self._results_topic = results_topic
        self._state = state
        self._clock = clock
        self._unknown = UnknownAttempts()

    async def __call__(self, record: InputRecord) -> Outcome:
        before_stay = self._unknown.before_stay(record, self._clock())
        outcome = await self._handle(record, before_stay=before_stay)
        if not isinstance(outcome, Retry):
            self._unknown.settled(record)
        return outcome

    async def _handle(self, record: InputRecord, *, before_stay: bool) -> Outcome:
        change: Envelope = record.decoded

        async def execute(row: Row, decision: Plan, memory: RowMemory) -> Outcome:
            if isinstance(decision, Declare):
                answered = await self._declare(record, change, row, decision, memory, before_stay=before_stay)
            elif isinstance(decision, Modify):
                try:
                    answered = await self._modify(record, change, row, decision)
                except DuplicateSale:  # only from a modification that collides with another sale
                    description = "the modified sale would duplicate another sale"
                    return DeadLetter(ErrorCategory.BUSINESS, "duplicate", description)
            else:
                raise TypeError(f"not a plan for Cesce: {decision!r}")
            return Publish([*answered.outputs, *memory.remember(sent(row))])

        return await carry_change(
            record,
            self._state,
            identity=identity,
            plan=plan,
            unchanged=lambda row, outcome: self._publish(record, change, row, outcome, None),
            execute=execute,
        )

    async def _declare(
        self,
        record: InputRecord,
        change: Envelope,
        row: Mapping[str, Any],
        what: Declare,
        memory: RowMemory,
        *,
        before_stay: bool,
    ) -> Publish:
        try:
            declared = await self._sales.declare(what.contract_no, what.sale)
        except CesceTransientError as exc:
            if exc.outcome_unknown:
                self._unknown.note(record)  # its retry looks before it believes a rejection
            raise
        except CesceRejection as rejection:
            why = earlier_attempt_unknown(
                resent_after_unknown=follows_unknown_attempt(rejection),
                retried_after_unknown=record in self._unknown,
                before_stay=before_stay,
                known=memory.known,
                sent=sent(row),
            )
            if why is None and not isinstance(rejection, DuplicateSale):
                raise  # nothing of this sale can be at Cesce already: the rejection is the answer
            existing = await self._read_back(record, what, rejection)
            if existing is None:
                raise
            _log.info(
                "sale %s already declared as %s (%s)",
                what.sale.invoiceNo,
                existing.saleCesceReferenceNo,
                why or "the rejection's words hint at a duplicate",
            )
            return self._publish(record, change, row, "ALREADY_DECLARED", existing)
        outcome = "REJECTED_BY_POLICY" if declared.statusCode == SALE_REJECTED else "DECLARED"
        return self._publish(record, change, row, outcome, declared)

    async def _read_back(self, record: InputRecord, what: Declare, rejection: CesceRejection) -> Sale | None:
        """The sale Cesce holds under the declaration's invoiceNo + maturityDate (the latest declared) when it is
        the declared sale by the guide's duplicate rule; None when there is none or it is another sale."""
        self._unknown.note(record)  # a read that fails transiently leaves the outcome as unknown as it was
        try:
            found = await self._sales.get(
                what.contract_no, invoice_no=what.sale.invoiceNo, maturity_date=what.sale.maturityDate
            )
        except CesceNotFound:
            _log.info("sale %s refused (%s) and not at Cesce: the refusal stands", what.sale.invoiceNo, rejection)
            return None
        if not same_sale(what.sale, found):
            _log.info(
                "sale %s refused (%s); Cesce's sale %s under its invoiceNo + maturityDate is another sale",
                what.sale.invoiceNo,
                rejection,
                found.saleCesceReferenceNo,
            )
            return None
        return found

    async def _modify(self, record: InputRecord, change: Envelope, row: Mapping[str, Any], what: Modify) -> Publish:
        try:
            modified = await self._sales.modify(what.contract_no, what.ref, what.changes)
        except CesceNotFound:
            # A redelivered modification that already changed the invoiceNo or maturityDate: the old
            # identity is gone, the new one reads as the ERP's row.
            try:
                current = await self._sales.get(
                    what.contract_no, invoice_no=what.after.invoiceNo, maturity_date=what.after.maturityDate
                )
            except CesceNotFound:
                raise CesceNotFound(
                    "sales.modify: the sale to modify is not declared (nor under its new identity)",
                    operation="sales.modify",
                    http_status=404,
                    error_code="4",
                ) from None
            if current.currencyAmount != what.after.currencyAmount or current.invoiceDate != what.after.invoiceDate:
                raise
            return self._publish(record, change, row, "MODIFIED", current)
        return self._publish(record, change, row, "MODIFIED", modified)

    def _publish(
        self,
        record: InputRecord,
        change: Envelope,
        row: Mapping[str, Any],
        outcome: str,
        answer: SaleDeclared | Sale | SaleModified | None,
    ) -> Publish:
        source_topic, source_partition, source_offset = record.origin  # the ERP change record
        result: dict[str, Any] = {
            "outcome": outcome,
            "op": change.op,
            "contractNo": row["contractNo"],
            "invoiceNo": row["invoiceNo"],
            "invoiceDate": row["invoiceDate"],
            "maturityDate": row["maturityDate"],
            "amount": row["amount"],
            "currencyCode": row["currencyCode"],
            "debtor": debtor_of(row),
            "endorsementNo": row.get("endorsementNo"),
            "customerReference": row.get("customerReference"),
            "sourceTopic": source_topic,
            "sourcePartition": source_partition,
            "sourceOffset": source_offset,
            "traceId": record.trace_id,
            "handledAt": self._clock(),
        }
        if answer is not None:
            result |= {
                "statusCode": answer.statusCode,
                "reasonStatusCode": answer.reasonStatusCode,
                "saleCesceReferenceNo": getattr(answer, "saleCesceReferenceNo", None),
                "countervalueAmount": answer.countervalueAmount,
                "currencyContractCode": answer.currencyContractCode,
                "commercialRiskPremium": answer.commercialRiskPremium,
                "politicalRiskPremium": answer.politicalRiskPremium,
                "entryDate": getattr(answer, "entryDate", None),
            }
        return Publish([Output(self._results_topic, debtor_of(row), result, schema=RESULT_SCHEMA)])
