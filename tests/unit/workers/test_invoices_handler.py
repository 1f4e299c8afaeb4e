"""The invoices worker's handler over a scripted Sales API and a fixed clock: every path, no sockets.

Every result is also encoded with its Avro schema (a mock registry built from ``schemas/``), so a
value the schema would refuse fails here rather than as an ``internal`` dead letter at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.workers.row_states import STATE_TOPIC, row_state, state_codec, state_records
from tests.unit.workers.test_invoices_plan import row
from tests.unit.workers.test_non_payments_handlers import encoded
from workers.cesce import (
    CesceAuthError,
    CesceNotFound,
    CesceRejection,
    CesceTransientError,
    CesceValidationError,
    DuplicateSale,
    Sale,
    SaleChanges,
    SaleDeclaration,
    SaleDeclared,
    SaleModified,
    SaleRef,
    SalesOperations,
)
from workers.cesce_handling import NEVER_SENT
from workers.invoices.handler import RESULT_SCHEMA, STATE_SCHEMA, InvoicesHandler
from workers.runtime import ROW_KEY_HEADER, RowState, Skip, StateUnavailable
from workers.runtime.contract import DeadLetter, ErrorCategory, InputRecord, Output, Publish, Retry
from workers.runtime.envelope import Envelope, Op
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
CONTRACT = "34109150331"
RESULTS = "cesce.sale-results"
TARIFF = {"countervalueAmount": "1000,00", "currencyContractCode": "EUR", "commercialRiskPremium": "1,25"}


class FakeSales:
    """The three Sales API calls, answering what the test put in; `calls` lists them with their arguments."""

    def __init__(self) -> None:
        self.declared: SaleDeclared | None = None
        self.modified: SaleModified | None = None
        self.existing: Sale | None = None
        self.failures: dict[str, Exception] = {}
        self.calls: list[tuple[str, Any]] = []

    def _call(self, name: str, arguments: Any) -> None:
        self.calls.append((name, arguments))
        if name in self.failures:
            raise self.failures[name]

    async def declare(self, contract_no: str, sale: SaleDeclaration) -> SaleDeclared:
        self._call("declare", (contract_no, sale))
        assert self.declared is not None
        return self.declared

    async def get(
        self,
        contract_no: str,
        *,
        sale_cesce_reference_no: str | None = None,
        invoice_no: str | None = None,
        maturity_date: date | None = None,
    ) -> Sale:
        self._call("get", (contract_no, invoice_no, maturity_date))
        if self.existing is None:
            raise CesceNotFound("sales.get: HTTP 404", operation="sales.get", http_status=404, error_code="4")
        return self.existing

    async def modify(self, contract_no: str, sale: SaleRef, changes: SaleChanges) -> SaleModified:
        self._call("modify", (contract_no, sale, changes))
        assert self.modified is not None
        return self.modified


@dataclass(frozen=True, slots=True)
class SalesClient:
    """What the handler uses of `CesceClient`: its Sales API (here the fake)."""

    sales: SalesOperations


@pytest.fixture
def sales() -> FakeSales:
    return FakeSales()


@pytest.fixture(scope="module")
def codecs() -> dict[str, AvroCodec]:
    return {RESULT_SCHEMA: AvroCodec(schema_registry_client("mock://invoices-unit"), RESULT_SCHEMA)}


def handler(sales: FakeSales, state: RowState | None = None) -> InvoicesHandler:
    state = state if state is not None else row_state(STATE_SCHEMA)
    return InvoicesHandler(SalesClient(sales), RESULTS, state=state, clock=lambda: NOW)


def change(
    op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None, row_key: bytes | None = None
) -> InputRecord:
    """A change as the handler gets it; `row_key` is the ``cesce.row-key`` header the re-keyer copies."""
    envelope = Envelope(op=op, before=before, after=after, ts_ms=None, source={})
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = (("traceparent", traceparent), *(() if row_key is None else ((ROW_KEY_HEADER, row_key),)))
    return InputRecord("erp.invoices", 2, 5, None, b"CLI-0001", b"{}", headers, envelope)


def declared(status: str = "5", reference: str = "R-1", **changes: Any) -> SaleDeclared:
    answer = TARIFF | {"statusCode": status, "saleCesceReferenceNo": reference, "entryDate": "20261103"} | changes
    return SaleDeclared.model_validate(answer)


def existing(reference: str = "R-1", **changes: Any) -> Sale:
    sale = {
        "statusCode": "5",
        "saleCesceReferenceNo": reference,
        "invoiceNo": "F-1",
        "invoiceDate": "20261102",
        "maturityDate": "20270102",
        "entryDate": "20261102",
        "currencyAmount": "1000,00",
    }
    return Sale.model_validate(TARIFF | sale | changes)


async def published(sales: FakeSales, codecs: dict[str, AvroCodec], record: InputRecord) -> dict[str, Any]:
    """The result the handler publishes for `record` (first, before any state record), checked against its schema."""
    result, *_state = encoded(codecs, await handler(sales)(record))
    assert isinstance(result, Output)
    assert (result.topic, result.key, result.schema) == (RESULTS, "CLI-0001", RESULT_SCHEMA)
    assert isinstance(result.value, dict)
    return result.value


# --- declarations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["c", "r"])
async def test_a_new_or_snapshot_row_is_declared(sales: FakeSales, codecs: dict[str, AvroCodec], op: Op) -> None:
    sales.declared = declared()
    value = await published(sales, codecs, change(op, None, row()))
    [(name, (contract_no, sale))] = sales.calls
    assert (name, contract_no, sale.invoiceNo, sale.currencyAmount) == ("declare", CONTRACT, "F-1", Decimal("1000.00"))
    assert {k: value[k] for k in ("outcome", "op", "statusCode", "saleCesceReferenceNo", "entryDate")} == {
        "outcome": "DECLARED",
        "op": op,
        "statusCode": "5",
        "saleCesceReferenceNo": "R-1",
        "entryDate": date(2026, 11, 3),
    }
    assert (value["countervalueAmount"], value["commercialRiskPremium"]) == (Decimal("1000.00"), Decimal("1.25"))
    assert (value["debtor"], value["amount"], value["currencyCode"]) == ("CLI-0001", Decimal("1000.00"), "EUR")
    assert (value["sourceTopic"], value["sourcePartition"], value["sourceOffset"]) == ("erp.invoices", 2, 5)
    assert value["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert value["handledAt"] == NOW  # the injected clock


async def test_a_credit_note_is_declared_the_same_way(sales: FakeSales, codecs: dict[str, AvroCodec]) -> None:
    sales.declared = declared(countervalueAmount="-250,00")
    value = await published(sales, codecs, change("c", None, row(invoiceNo="A-1", amount=Decimal("-250.00"))))
    [(name, (_, sale))] = sales.calls
    assert (name, sale.invoiceNo, sale.currencyAmount) == ("declare", "A-1", Decimal("-250.00"))
    assert (value["outcome"], value["amount"], value["countervalueAmount"]) == (
        "DECLARED",
        Decimal("-250.00"),
        Decimal("-250.00"),
    )


async def test_a_sale_cesce_records_but_does_not_cover_is_rejected_by_policy(
    sales: FakeSales, codecs: dict[str, AvroCodec]
) -> None:
    sales.declared = declared(status="9", reasonStatusCode="12")
    value = await published(sales, codecs, change("c", None, row()))
    assert (value["outcome"], value["statusCode"], value["reasonStatusCode"]) == ("REJECTED_BY_POLICY", "9", "12")


async def test_a_duplicate_is_read_back_and_published_already_declared(
    sales: FakeSales, codecs: dict[str, AvroCodec]
) -> None:
    sales.failures["declare"] = DuplicateSale(
        "sales.declare: HTTP 400 errorCode 1522",
        http_status=400,
        error_code="1522",
        error_description="VENTA DUPLICADA",
    )
    sales.existing = existing(reference="R-0", customerReference="CLI-0001")  # the same sale by the duplicate key
    value = await published(sales, codecs, change("r", None, row()))
    assert [name for name, _ in sales.calls] == ["declare", "get"]
    assert sales.calls[1][1] == (CONTRACT, "F-1", date(2027, 1, 2))  # by invoiceNo + maturityDate
    assert (value["outcome"], value["saleCesceReferenceNo"], value["statusCode"]) == ("ALREADY_DECLARED", "R-0", "5")
    assert value["entryDate"] == date(2026, 11, 2)
    assert value["handledAt"] == NOW


# --- updates and deletes ----------------------------------------------------------------------------


async def test_a_modification_changes_the_sale_declared_under_its_old_identity(
    sales: FakeSales, codecs: dict[str, AvroCodec]
) -> None:
    sales.modified = SaleModified.model_validate(TARIFF | {"statusCode": "5", "countervalueAmount": "1200,00"})
    after = row(amount=Decimal("1200.00"), maturityDate=date(2027, 2, 2))
    value = await published(sales, codecs, change("u", row(), after))
    [(name, (contract_no, ref, changes))] = sales.calls
    assert (name, contract_no) == ("modify", CONTRACT)
    assert ref == SaleRef.by_invoice("F-1", date(2027, 1, 2))
    assert changes == SaleChanges(currencyAmount=Decimal("1200.00"), maturityDate=date(2027, 2, 2))
    assert (value["outcome"], value["statusCode"], value["countervalueAmount"]) == (
        "MODIFIED",
        "5",
        Decimal("1200.00"),
    )
    assert (value["saleCesceReferenceNo"], value["entryDate"]) == (None, None)  # a modification answers neither
    assert value["maturityDate"] == date(2027, 2, 2)


async def test_a_modification_already_applied_is_recognised_under_the_new_identity(
    sales: FakeSales, codecs: dict[str, AvroCodec]
) -> None:
    sales.failures["modify"] = CesceNotFound("sales.modify: HTTP 404", http_status=404, error_code="4")
    sales.existing = existing(invoiceNo="F-2")
    value = await published(sales, codecs, change("u", row(), row(invoiceNo="F-2")))
    assert [name for name, _ in sales.calls] == ["modify", "get"]
    assert sales.calls[1][1] == (CONTRACT, "F-2", date(2027, 1, 2))
    assert (value["outcome"], value["saleCesceReferenceNo"], value["invoiceNo"]) == ("MODIFIED", "R-1", "F-2")


async def test_a_sale_gone_under_its_new_identity_with_other_values_is_the_rejection_cesce_gave(
    sales: FakeSales,
) -> None:
    sales.failures["modify"] = CesceNotFound(
        "sales.modify: HTTP 404", http_status=404, error_code="4", error_description="NO EXISTE LA VENTA"
    )
    sales.existing = existing(invoiceNo="F-2", currencyAmount="900,00")  # another sale under that identity
    outcome = await handler(sales)(change("u", row(), row(invoiceNo="F-2")))
    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "4", "NO EXISTE LA VENTA")


async def test_a_sale_unknown_under_both_identities_is_a_business_dead_letter(sales: FakeSales) -> None:
    sales.failures["modify"] = CesceNotFound("sales.modify: HTTP 404", http_status=404, error_code="4")
    outcome = await handler(sales)(change("u", row(), row(invoiceNo="F-2")))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.BUSINESS, "4")
    assert "not declared (nor under its new identity)" in outcome.description
    assert [name for name, _ in sales.calls] == ["modify", "get"]


async def test_a_modification_that_would_duplicate_another_sale_is_a_business_dead_letter(sales: FakeSales) -> None:
    sales.failures["modify"] = DuplicateSale("sales.modify: HTTP 400", http_status=400, error_code="1522")
    outcome = await handler(sales)(change("u", row(), row(invoiceNo="F-2")))
    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "duplicate", "the modified sale would duplicate another sale")
    assert [name for name, _ in sales.calls] == ["modify"]


@pytest.mark.parametrize(
    "case",
    [
        ("u", row(), row(amount=Decimal("1000.0"), notes="paid late"), "NO_CHANGE"),  # nothing Cesce stores changed
        ("d", row(), None, "DELETED_IN_ERP"),
    ],
)
async def test_updates_of_nothing_sent_and_deletes_make_no_call(
    sales: FakeSales, codecs: dict[str, AvroCodec], case: tuple[Op, Any, Any, str]
) -> None:
    op, before, after, outcome = case
    value = await published(sales, codecs, change(op, before, after))
    assert (value["outcome"], value["op"], value["handledAt"]) == (outcome, op, NOW)
    assert "statusCode" not in value  # no answer: Cesce's fields are left out (null in the schema)
    assert "saleCesceReferenceNo" not in value
    assert sales.calls == []


async def test_a_change_refused_by_the_plan_costs_no_call(sales: FakeSales) -> None:
    outcome = await handler(sales)(change("u", row(), row(contractNo="38100029218")))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "contractNo")
    assert sales.calls == []


# --- Cesce's refusals and failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "expected"),
    [
        (
            "declare",
            CesceRejection(
                "sales.declare: HTTP 400", http_status=400, error_code="2809", error_description="FECHA INCORRECTA"
            ),
            DeadLetter(ErrorCategory.BUSINESS, "2809", "FECHA INCORRECTA"),
        ),
        (
            "declare",
            CesceValidationError("invoiceNo", "longer than 20 characters", operation="sales.declare"),
            DeadLetter(ErrorCategory.VALIDATION, "invoiceNo", "invoiceNo: longer than 20 characters"),
        ),
        (
            "declare",
            CesceTransientError("timed out", error_code=None, retry_after=2.0),
            Retry("CesceTransientError", "timed out", 2.0),
        ),
        ("declare", CesceAuthError("refused", error_code=None), Retry("CesceAuthError", "refused")),
        ("get", CesceTransientError("lost", error_code="18"), Retry("18", "lost")),  # reading a duplicate back
    ],
)
async def test_cesce_failures_map_as_for_every_worker(
    sales: FakeSales, call: str, error: Exception, expected: object
) -> None:
    sales.failures[call] = error
    if call == "get":
        sales.failures["declare"] = DuplicateSale("sales.declare: HTTP 400", http_status=400, error_code="1522")
    assert await handler(sales)(change("c", None, row())) == expected


# --- the row state: what was last sent to Cesce, compared instead of Debezium's before-image ------------

KEPT = {name: row()[name] for name in row()}  # every field of row() is one Cesce stores
IDENTITY = b"34109150331/F-1/2027-01-02"  # contractNo/invoiceNo/maturityDate: the row's identity without a header


def states_of(outcome: object) -> dict[bytes, Any]:
    assert isinstance(outcome, Publish), outcome
    return state_records(list(outcome.outputs), STATE_SCHEMA)


async def test_a_declared_sale_is_kept_in_the_partition_of_its_input(sales: FakeSales) -> None:
    sales.declared = declared()
    outcome = await handler(sales)(change("c", None, row(), row_key=b'{"id":7}'))
    assert isinstance(outcome, Publish)
    kept = outcome.outputs[-1]
    assert (kept.topic, kept.key, kept.partition) == (STATE_TOPIC, b'{"id":7}', 2)  # the input's partition
    assert states_of(outcome) == {b'{"id":7}': KEPT}
    without_header = await handler(sales)(change("c", None, row()))
    assert list(states_of(without_header)) == [IDENTITY]


async def test_an_update_without_a_before_image_modifies_what_was_last_sent(sales: FakeSales) -> None:
    """PostgreSQL's default REPLICA IDENTITY: ``before`` is null. Without the state this was a dead letter."""
    sales.modified = SaleModified.model_validate(TARIFF | {"statusCode": "5", "countervalueAmount": "1200,00"})
    state = row_state(STATE_SCHEMA, {b'{"id":7}': KEPT})
    outcome = await handler(sales, state)(change("u", None, row(amount=Decimal("1200.00")), row_key=b'{"id":7}'))
    [(name, (_, ref, changes))] = sales.calls
    assert (name, ref, changes) == (
        "modify",
        SaleRef.by_invoice("F-1", date(2027, 1, 2)),
        SaleChanges(currencyAmount=Decimal("1200.00")),
    )
    assert states_of(outcome) == {b'{"id":7}': KEPT | {"amount": Decimal("1200.00")}}
    again = await handler(sales, state)(change("u", None, row(amount=Decimal("1200.00")), row_key=b'{"id":7}'))
    assert isinstance(again, Publish)
    assert [o.value["outcome"] for o in again.outputs if isinstance(o.value, dict)] == ["NO_CHANGE"]
    assert states_of(again) == {}, "NO_CHANGE keeps the state as it is"


async def test_a_snapshot_read_of_a_row_already_sent_is_an_update_of_it(sales: FakeSales) -> None:
    """A read (``r``: a snapshot, or an unwrapped row without ``__op``) says what the row is now: a correction made
    while the connector was away is a modification, the same row again needs no call."""
    sales.modified = SaleModified.model_validate(TARIFF | {"statusCode": "5", "countervalueAmount": "1200,00"})
    state = row_state(STATE_SCHEMA, {b'{"id":7}': KEPT})
    same = await handler(sales, state)(change("r", None, row(), row_key=b'{"id":7}'))
    assert isinstance(same, Publish)
    assert [o.value["outcome"] for o in same.outputs if isinstance(o.value, dict)] == ["NO_CHANGE"]
    assert sales.calls == []
    corrected = await handler(sales, state)(change("r", None, row(amount=Decimal("1200.00")), row_key=b'{"id":7}'))
    assert [name for name, _ in sales.calls] == ["modify"]
    assert states_of(corrected) == {b'{"id":7}': KEPT | {"amount": Decimal("1200.00")}}


async def test_an_update_is_compared_with_what_cesce_has_not_with_the_before_image(sales: FakeSales) -> None:
    """After a dead-lettered update the ERP's before-image says 900 while Cesce still has 1000."""
    state = row_state(STATE_SCHEMA, {IDENTITY: KEPT})
    outcome = await handler(sales, state)(change("u", row(amount=Decimal("900.00")), row()))
    assert isinstance(outcome, Publish)
    assert [o.value["outcome"] for o in outcome.outputs if isinstance(o.value, dict)] == ["NO_CHANGE"]
    assert sales.calls == []


async def test_an_update_without_a_before_image_of_a_row_never_sent_is_refused_naming_before(
    sales: FakeSales,
) -> None:
    outcome = await handler(sales)(change("u", None, row(amount=Decimal("1200.00")), row_key=b'{"id":7}'))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "before")
    assert "REPLICA IDENTITY" in outcome.description
    assert sales.calls == []


async def test_without_a_row_key_a_new_identity_is_matched_through_the_before_image(sales: FakeSales) -> None:
    """No header: the identity is Cesce's (contractNo/invoiceNo/maturityDate); an update that changes it is found
    under the before-image's identity, and moves the state to the new one."""
    sales.modified = SaleModified.model_validate(TARIFF | {"statusCode": "5"})
    state = row_state(STATE_SCHEMA, {IDENTITY: KEPT})
    outcome = await handler(sales, state)(change("u", row(), row(invoiceNo="F-2")))
    assert [name for name, _ in sales.calls] == ["modify"]
    assert states_of(outcome) == {b"34109150331/F-2/2027-01-02": KEPT | {"invoiceNo": "F-2"}, IDENTITY: None}
    refused = await handler(sales, state)(change("u", None, row(invoiceNo="F-3")))
    assert isinstance(refused, DeadLetter)
    assert refused.code == "before", "a new identity and no before-image: nothing to match"


async def test_a_delete_without_a_before_image_is_answered_from_what_was_last_sent(
    sales: FakeSales, codecs: dict[str, AvroCodec]
) -> None:
    state = row_state(STATE_SCHEMA, {b'{"id":7}': KEPT})
    outcome = await handler(sales, state)(change("d", None, None, row_key=b'{"id":7}'))
    result, tombstone = encoded(codecs, outcome)
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["invoiceNo"], result.value["amount"]) == (
        "DELETED_IN_ERP",
        "F-1",
        Decimal("1000.00"),
    )
    assert (tombstone.key, tombstone.value, tombstone.partition) == (b'{"id":7}', None, 2)
    forgotten = await handler(sales, state)(change("d", None, None, row_key=b'{"id":7}'))
    assert forgotten == Skip(NEVER_SENT), "deleted once: nothing is known of it any more"
    assert sales.calls == []


async def test_dead_letters_leave_the_state_as_it_was(sales: FakeSales) -> None:
    sales.failures["modify"] = CesceRejection("sales.modify: HTTP 400", http_status=400, error_code="2809")
    state = row_state(STATE_SCHEMA, {b'{"id":7}': KEPT})
    failed = await handler(sales, state)(change("u", None, row(amount=Decimal("1200.00")), row_key=b'{"id":7}'))
    assert isinstance(failed, DeadLetter)
    rows = await state.rows(change("u", None, None))
    assert rows.get(b'{"id":7}') == KEPT


async def test_a_state_that_cannot_be_loaded_is_retried(sales: FakeSales) -> None:
    async def unreachable(_partition: int) -> dict[bytes, bytes]:
        raise StateUnavailable("cesce.rows: partition 2 could not be loaded")

    state = RowState(STATE_TOPIC, state_codec(STATE_SCHEMA), unreachable)
    outcome = await handler(sales, state)(change("c", None, row()))
    assert outcome == Retry("state-unavailable", "cesce.rows: partition 2 could not be loaded")
    assert sales.calls == []


async def test_another_row_under_the_same_row_key_is_never_diffed_against(sales: FakeSales) -> None:
    """A source keyed by debtor whose setting was forgotten: the 'row key' is the debtor's, shared by invoices.
    An update of F-2 without its before-image must not modify F-1 (the state under that key): it is refused."""
    state = row_state(STATE_SCHEMA, {b"CLI-0001": KEPT})  # F-1, kept under the debtor's key
    other = row(invoiceNo="F-2", amount=Decimal("1200.00"))
    outcome = await handler(sales, state)(change("u", None, other, row_key=b"CLI-0001"))
    assert sales.calls == []
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "before")
