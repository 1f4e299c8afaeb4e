"""A credit note refused for lack of pending sales waits for its sale before it is dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from workers.cesce.catalogue import MSG_NO_PENDING_SALES, MSG_NOT_IN_POLICY_CONDITIONS
from workers.invoices.credit_notes import WaitForSales
from workers.runtime import ROW_KEY_HEADER, DeadLetter, Defer, Envelope, ErrorCategory, InputRecord, Outcome, Publish

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
NO_PENDING = DeadLetter(ErrorCategory.BUSINESS, "1522", MSG_NO_PENDING_SALES)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def record(amount: str, offset: int = 1, *, rekeyed: bool = True) -> InputRecord:
    change = Envelope(op="c", before=None, after={"amount": Decimal(amount)}, ts_ms=None, source={})
    headers = ((ROW_KEY_HEADER, b'{"id":7}'),) if rekeyed else ()
    return InputRecord("erp.invoices.by-debtor", 0, offset, None, b"CLI-0004", b"{}", headers, change, assignment=1)


def answering(*outcomes: Outcome) -> tuple[WaitForSales, Clock, list[InputRecord]]:
    calls: list[InputRecord] = []
    answers = list(outcomes)

    async def handler(record: InputRecord) -> Outcome:
        calls.append(record)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    clock = Clock()
    return WaitForSales(handler, timedelta(seconds=60), clock=clock), clock, calls


async def test_a_refused_credit_note_waits_and_is_declared_once_its_sale_is() -> None:
    wait, clock, calls = answering(NO_PENDING, NO_PENDING, Publish([]))
    deferred = await wait(record("-100.00"))
    assert deferred == Defer(T0 + timedelta(seconds=5), "a credit note waits for its sale", keep_order=False)
    clock.now += timedelta(seconds=5)
    assert isinstance(await wait(record("-100.00")), Defer)
    clock.now += timedelta(seconds=5)
    assert await wait(record("-100.00")) == Publish([])
    assert len(calls) == 3


async def test_it_is_dead_lettered_once_the_wait_is_over_saying_how_long() -> None:
    wait, clock, _ = answering(NO_PENDING)
    assert isinstance(await wait(record("-100.00")), Defer)
    clock.now += timedelta(seconds=58)
    deferred = await wait(record("-100.00"))
    assert isinstance(deferred, Defer)
    assert deferred.until == T0 + timedelta(seconds=60)  # never past the wait
    clock.now += timedelta(seconds=2)
    dead = await wait(record("-100.00"))
    assert isinstance(dead, DeadLetter)
    assert (dead.category, dead.code) == (ErrorCategory.BUSINESS, "1522")
    assert dead.description.startswith(MSG_NO_PENDING_SALES)
    assert "60 s" in dead.description
    clock.now += timedelta(seconds=1)
    assert isinstance(await wait(record("-100.00")), Defer)  # a replay of it waits afresh


async def test_other_refusals_sales_and_a_zero_wait_pass_through() -> None:
    other = DeadLetter(ErrorCategory.BUSINESS, "1522", MSG_NOT_IN_POLICY_CONDITIONS)
    wait, _, _ = answering(other)
    assert await wait(record("-100.00")) == other
    wait, _, _ = answering(NO_PENDING)
    assert await wait(record("100.00")) == NO_PENDING  # not a credit note: nothing to wait for
    # from a source keyed by debtor the sale comes first on the same key, or never
    assert await wait(record("-100.00", rekeyed=False)) == NO_PENDING

    async def refuse(_record: InputRecord) -> Outcome:
        return NO_PENDING

    assert await WaitForSales(refuse, timedelta(0))(record("-1.00")) == NO_PENDING
