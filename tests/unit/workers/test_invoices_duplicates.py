"""A refused declaration is read back only when an earlier attempt may have reached Cesce, and judged by the
guide's duplicate key, never by the refusal's words.

001 line 842-846: "Ventas duplicadas: En el sistema se considera una factura duplicada cuando coinciden dos
ventas con misma factura (invoiceNo), fecha de emisión (invoiceDate), vencimiento (maturityDate), suplemento
(endorsementNo o customerReference) e importe (currencyAmount).  El API devuelve error y la venta no se da de
alta en el sistema". The error is not given: these tests refuse with a text that names no duplicate.
001 line 1004-1005: "Para identificar la venta se puede utilizar el campo salesCesceReferenceNo o bien el
invoiceNo + maturityDate".
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.workers.row_states import row_state
from tests.unit.workers.test_invoices_handler import (
    CONTRACT,
    NOW,
    RESULTS,
    FakeSales,
    SalesClient,
    change,
    existing,
)
from tests.unit.workers.test_invoices_plan import row
from workers.cesce import CesceRejection, CesceTransientError, DuplicateSale, Sale, SaleDeclaration
from workers.cesce.retry import RetryPolicy
from workers.invoices.duplicates import earlier_attempt_unknown, same_sale
from workers.invoices.handler import STATE_SCHEMA, InvoicesHandler
from workers.invoices.plan import identity, sale_declaration, sent
from workers.runtime import InputRecord, RowState
from workers.runtime.contract import DeadLetter, ErrorCategory, Publish, Retry

REFUSED = "venta errónea: Erróneas – No contemplado en condiciones póliza"  # 000 line 53: not a duplicate's words
AFTER_STAY_BEGAN = int((NOW + timedelta(seconds=1)).timestamp() * 1000)
BEFORE_STAY_BEGAN = int((NOW - timedelta(minutes=5)).timestamp() * 1000)


def refusal() -> CesceRejection:
    return CesceRejection("sales.declare: HTTP 400", http_status=400, error_code="1522", error_description=REFUSED)


async def resent_refusal() -> CesceRejection:
    """The refusal as the client raises it when a declaration was resent after a read timeout (the retry
    policy's own marking, not a hand-made flag)."""
    answers: list[Exception] = [CesceTransientError("read timeout", outcome_unknown=True), refusal()]

    async def call() -> None:
        raise answers.pop(0)

    async def no_sleep(_seconds: float) -> None:
        return None

    retry = RetryPolicy(attempts=2, max_seconds=60.0, base_seconds=0.0, cap_seconds=0.0, sleep=no_sleep)
    with pytest.raises(CesceRejection) as raised:
        await retry.run(call, idempotent=True)
    return raised.value


def the_sale(**changes: Any) -> Sale:
    """The row's sale as Cesce shows it read back (declared by customerReference CLI-0001)."""
    return existing(**({"reference": "R-0", "customerReference": "CLI-0001"} | changes))


@pytest.fixture
def sales() -> FakeSales:
    return FakeSales()


def record(*, timestamp_ms: int | None = AFTER_STAY_BEGAN, offset: int = 5) -> InputRecord:
    """A new invoice row, written after the handler's stay of its partition began unless told otherwise."""
    base = change("c", None, row())
    return InputRecord(
        base.topic, base.partition, offset, timestamp_ms, base.key, base.value, base.headers, base.decoded
    )


def handler(sales: FakeSales, state: RowState | None = None) -> InvoicesHandler:
    return InvoicesHandler(
        SalesClient(sales), RESULTS, state=state if state is not None else row_state(STATE_SCHEMA), clock=lambda: NOW
    )


def outcome_of(outcome: object) -> str:
    assert isinstance(outcome, Publish), outcome
    value = outcome.outputs[0].value
    assert isinstance(value, dict)
    return str(value["outcome"])


def calls(sales: FakeSales) -> list[str]:
    return [name for name, _ in sales.calls]


# --- the duplicate key --------------------------------------------------------------------------------------


def declaration(**changes: Any) -> SaleDeclaration:
    return sale_declaration(row(**changes))


def test_the_same_sale_by_the_duplicate_key_whatever_the_amounts_scale() -> None:
    """001 line 843-845: invoiceNo, invoiceDate, maturityDate, suplemento and currencyAmount make the key."""
    assert same_sale(declaration(), the_sale()) is True
    assert same_sale(declaration(amount=Decimal("1000.0")), the_sale(currencyAmount="1000,00")) is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoiceNo", "F-2"),
        ("invoiceDate", "20261101"),
        ("maturityDate", "20270103"),
        ("currencyAmount", "1000,01"),
        ("customerReference", "CLI-0002"),
    ],
)
def test_a_sale_that_differs_in_any_field_of_the_key_is_another_sale(field: str, value: str) -> None:
    """001 line 848-849: "Si cambia cualquiera de estos valores ya se considera una venta diferente"."""
    assert same_sale(declaration(), the_sale(**{field: value})) is False


def test_a_sale_declared_by_endorsement_number_is_compared_by_it() -> None:
    """001 line 845: the supplement is "endorsementNo o customerReference"."""
    by_endorsement = declaration(endorsementNo="100", customerReference=None)
    assert same_sale(by_endorsement, existing(reference="R-0", endorsementNo="100")) is True
    assert same_sale(by_endorsement, existing(reference="R-0", endorsementNo="101")) is False
    assert same_sale(by_endorsement, existing(reference="R-0", customerReference="CLI-0001")) is False


def test_the_reasons_an_earlier_attempt_may_have_reached_cesce() -> None:
    mine = sent(row())
    nothing = {"resent_after_unknown": False, "retried_after_unknown": False, "before_stay": False}
    assert earlier_attempt_unknown(**nothing, known=None, sent=mine) is None
    assert earlier_attempt_unknown(**nothing, known=sent(row(amount=Decimal("5.00"))), sent=mine) is None
    assert earlier_attempt_unknown(**nothing, known=mine, sent=mine) is not None
    for reason in nothing:
        assert earlier_attempt_unknown(**(nothing | {reason: True}), known=None, sent=mine) is not None


# --- the handler ------------------------------------------------------------------------------------------


async def test_a_refusal_after_a_resent_declaration_is_already_declared_when_the_sale_reads_back_the_same(
    sales: FakeSales,
) -> None:
    """The client resent the declaration after a read timeout; Cesce refused it in words that name no duplicate;
    the sale read back by invoiceNo + maturityDate is the declared one: ALREADY_DECLARED."""
    sales.failures["declare"] = await resent_refusal()
    sales.existing = the_sale()

    outcome = await handler(sales)(record())

    assert outcome_of(outcome) == "ALREADY_DECLARED"
    assert calls(sales) == ["declare", "get"]
    assert sales.calls[1][1] == (CONTRACT, "F-1", date(2027, 1, 2))


async def test_a_refusal_after_a_resent_declaration_stands_when_another_sale_reads_back(sales: FakeSales) -> None:
    """001 line 848-849: a different amount is a different sale; the refusal is kept as Cesce gave it."""
    sales.failures["declare"] = await resent_refusal()
    sales.existing = the_sale(currencyAmount="999,00")

    outcome = await handler(sales)(record())

    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "1522", REFUSED)
    assert calls(sales) == ["declare", "get"]


async def test_a_refusal_after_a_resent_declaration_stands_when_no_sale_reads_back(sales: FakeSales) -> None:
    sales.failures["declare"] = await resent_refusal()  # FakeSales answers 404 to the read: nothing declared

    outcome = await handler(sales)(record())

    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "1522", REFUSED)
    assert calls(sales) == ["declare", "get"]


async def test_a_refusal_with_no_earlier_unknown_attempt_is_taken_as_it_is_without_a_read(sales: FakeSales) -> None:
    """A first attempt, on a record written after this stay began, of a row never sent: nothing of it can be at
    Cesce, so the refusal is the answer and nothing is read."""
    sales.failures["declare"] = refusal()
    sales.existing = the_sale()  # would match: it must not be looked at

    outcome = await handler(sales)(record())

    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "1522", REFUSED)
    assert calls(sales) == ["declare"]


async def test_a_retry_of_a_record_whose_attempt_was_lost_reads_the_sale_back(sales: FakeSales) -> None:
    """The first handling ends with the outcome unknown (the client gave up after a read timeout): Retry. The
    runtime hands the same record again; Cesce refuses it: the read-back finds the sale."""
    worker = handler(sales)
    sales.failures["declare"] = CesceTransientError("read timeout", outcome_unknown=True)
    assert isinstance(await worker(record()), Retry)

    sales.failures["declare"] = refusal()
    sales.existing = the_sale()
    outcome = await worker(record())

    assert outcome_of(outcome) == "ALREADY_DECLARED"
    assert calls(sales) == ["declare", "declare", "get"]


async def test_a_retry_after_a_request_that_never_left_takes_the_refusal_as_it_is(sales: FakeSales) -> None:
    worker = handler(sales)
    sales.failures["declare"] = CesceTransientError("connect refused", outcome_unknown=False)
    assert isinstance(await worker(record()), Retry)

    sales.failures["declare"] = refusal()
    sales.existing = the_sale()
    outcome = await worker(record())

    assert isinstance(outcome, DeadLetter)
    assert calls(sales) == ["declare", "declare"]


async def test_a_record_older_than_the_partitions_stay_is_read_back_after_a_refusal(sales: FakeSales) -> None:
    """A redelivery after a crash: the record was written before this stay of its partition began, so the
    previous holder may have declared it without committing its result."""
    sales.failures["declare"] = refusal()
    sales.existing = the_sale()

    outcome = await handler(sales)(record(timestamp_ms=BEFORE_STAY_BEGAN))

    assert outcome_of(outcome) == "ALREADY_DECLARED"
    assert calls(sales) == ["declare", "get"]


async def test_a_change_whose_result_already_committed_is_read_back_after_a_refusal(sales: FakeSales) -> None:
    """The row state already holds the row as this change declares it: the change came back after its result
    committed (a replay); a refusal is checked against the sale read back."""
    state = row_state(STATE_SCHEMA, {identity(row()).encode(): sent(row())})
    sales.failures["declare"] = refusal()
    sales.existing = the_sale()

    outcome = await handler(sales, state)(record())

    assert outcome_of(outcome) == "ALREADY_DECLARED"
    assert calls(sales) == ["declare", "get"]


async def test_the_words_of_a_duplicate_alone_never_decide(sales: FakeSales) -> None:
    """Words that hint at a duplicate get the read, and the duplicate key decides: another sale under the
    invoiceNo + maturityDate keeps the refusal."""
    sales.failures["declare"] = DuplicateSale(
        "sales.declare: HTTP 400", http_status=400, error_code="1522", error_description="VENTA DUPLICADA"
    )
    sales.existing = the_sale(invoiceDate="20261030")

    outcome = await handler(sales)(record())

    assert outcome == DeadLetter(ErrorCategory.BUSINESS, "1522", "VENTA DUPLICADA")
    assert calls(sales) == ["declare", "get"]


async def test_a_read_back_that_fails_transiently_keeps_the_record_unknown_for_its_retry(sales: FakeSales) -> None:
    sales.failures["declare"] = await resent_refusal()
    sales.failures["get"] = CesceTransientError("HTTP 503", http_status=503)
    worker = handler(sales)
    assert isinstance(await worker(record()), Retry)

    del sales.failures["get"]
    sales.failures["declare"] = refusal()  # no mark this time: the handler remembers
    sales.existing = the_sale()
    outcome = await worker(record())

    assert outcome_of(outcome) == "ALREADY_DECLARED"
    assert calls(sales) == ["declare", "get", "declare", "get"]
