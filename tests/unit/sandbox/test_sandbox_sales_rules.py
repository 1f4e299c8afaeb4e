"""The sales rules as pure functions, on the integration guide's own examples."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from workers.cesce.assumptions import MSG_MODIFICATION_NOT_ALLOWED
from workers.cesce.catalogue import SALE_REJECTED, SALE_TARIFFED
from workers.sandbox import sales_rules
from workers.sandbox.sales_rules import (
    Window,
    credit_note_balance,
    debtor_key,
    duplicate_key,
    find_duplicate,
    is_recent,
    modification_refusal,
    modification_window,
    months_between,
    premium,
)
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Sale


def sale(**changes: object) -> Sale:
    base = Sale(
        contract_no="34109150331",
        reference="200000000001",
        endorsement_no=None,
        customer_reference="CLI-0001",
        debtor_no=1,
        subsidiary_no=None,
        invoice_no="F-1",
        invoice_date=date(2023, 4, 10),
        acquisition_date=None,
        maturity_date=date(2023, 7, 10),
        amount=Decimal("1000.00"),
        currency="EUR",
        countervalue=Decimal("1000.00"),
        tax_code_transferor=None,
        status=SALE_TARIFFED,
        reason="0",
        commercial_cover_pct=Decimal("95.00"),
        commercial_rate=Decimal("0.13752"),
        commercial_premium=Decimal("137.52"),
        political_cover_pct=Decimal(0),
        political_rate=Decimal(0),
        political_premium=Decimal(0),
        entry_date=date(2023, 4, 10),
        status_date=date(2023, 4, 10),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# Guide 4.2: "si hoy es 30/04/2023, se permite la modificación de las ventas con fecha
# factura/adquisición de los meses de abril/2023 y marzo/2023" ... "si el plazo en días es de 10".
@pytest.mark.parametrize(
    ("today", "sale_date", "window"),
    [
        (date(2023, 4, 30), date(2023, 4, 1), Window.ALL_FIELDS),
        (date(2023, 4, 30), date(2023, 3, 31), Window.ALL_FIELDS),
        (date(2023, 4, 30), date(2023, 2, 28), Window.CLOSED),
        (date(2023, 4, 1), date(2023, 2, 1), Window.NOT_MATURITY),
        (date(2023, 4, 10), date(2023, 2, 28), Window.NOT_MATURITY),
        (date(2023, 4, 10), date(2023, 1, 31), Window.CLOSED),
        (date(2023, 4, 11), date(2023, 2, 15), Window.CLOSED),
        (date(2023, 4, 11), date(2023, 3, 15), Window.ALL_FIELDS),
        (date(2023, 1, 5), date(2022, 11, 30), Window.NOT_MATURITY),  # across the year
        (date(2023, 4, 30), date(2023, 5, 2), Window.ALL_FIELDS),  # dated later than today
    ],
)
def test_modification_window(today: date, sale_date: date, window: Window) -> None:
    assert modification_window(today, sale_date, 10) is window


def test_the_extra_days_come_from_the_policy() -> None:
    assert modification_window(date(2023, 4, 15), date(2023, 2, 1), 15) is Window.NOT_MATURITY
    assert modification_window(date(2023, 4, 15), date(2023, 2, 1), 14) is Window.CLOSED


def test_months_between() -> None:
    assert months_between(date(2023, 4, 30), date(2023, 4, 1)) == 0
    assert months_between(date(2023, 1, 1), date(2022, 12, 31)) == 1
    assert months_between(date(2023, 1, 1), date(2023, 2, 1)) == -1


def test_modification_refusals() -> None:
    april = sale()
    assert (
        modification_refusal(Window.ALL_FIELDS, april, {"maturityDate": date(2023, 8, 1)}, has_claim_file=False) is None
    )
    assert modification_refusal(Window.ALL_FIELDS, april, {}, has_claim_file=True) == MSG_MODIFICATION_NOT_ALLOWED
    assert (
        modification_refusal(Window.NOT_MATURITY, april, {"maturityDate": date(2023, 8, 1)}, has_claim_file=False)
        == MSG_MODIFICATION_NOT_ALLOWED
    )
    assert (
        modification_refusal(Window.NOT_MATURITY, april, {"currencyAmount": Decimal(5)}, has_claim_file=False) is None
    )
    # point 7: the invoice date stays in the sale's month
    assert (
        modification_refusal(Window.ALL_FIELDS, april, {"invoiceDate": date(2023, 4, 30)}, has_claim_file=False) is None
    )
    assert (
        modification_refusal(Window.ALL_FIELDS, april, {"invoiceDate": date(2023, 5, 1)}, has_claim_file=False)
        == MSG_MODIFICATION_NOT_ALLOWED
    )
    factoring = sale(acquisition_date=date(2023, 3, 20))
    assert (
        modification_refusal(Window.ALL_FIELDS, factoring, {"acquisitionDate": date(2023, 3, 1)}, has_claim_file=False)
        is None
    )


def test_a_modification_that_flips_the_amount_s_sign_is_refused() -> None:
    """001 lines 862-864: "Ventas negativas: es posible declarar ventas con importe negativo (se añade el signo - en
    el importe) generando una prima negativa. Para poder hacerlo la póliza debe tener contratado el suplemento de
    Abonos." A credit note is a declaration of its own, not a correction (assumption modification-sign-flip)."""
    april = sale()
    assert (
        modification_refusal(Window.ALL_FIELDS, april, {"currencyAmount": Decimal(-5)}, has_claim_file=False)
        == MSG_MODIFICATION_NOT_ALLOWED
    )
    credit_note = sale(amount=Decimal("-50.00"))
    assert (
        modification_refusal(Window.ALL_FIELDS, credit_note, {"currencyAmount": Decimal(5)}, has_claim_file=False)
        == MSG_MODIFICATION_NOT_ALLOWED
    )
    assert (
        modification_refusal(Window.ALL_FIELDS, credit_note, {"currencyAmount": Decimal(-40)}, has_claim_file=False)
        is None
    )


def test_the_duplicate_key_uses_the_debtor_not_the_identifier_sent() -> None:
    by_reference = sale()
    by_number = sale(customer_reference=None, endorsement_no="1", reference="200000000002")
    assert duplicate_key(by_reference) == duplicate_key(by_number)
    assert find_duplicate([by_reference], duplicate_key(by_number)) is by_reference
    assert find_duplicate([by_reference], duplicate_key(by_reference), ignore=by_reference) is None


def test_find_duplicate_builds_the_key_only_of_sales_with_the_same_invoice_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a ledger of thousands of sales (the chaos harness's 10,000) the scan stays cheap, and the answer
    is the whole key's: the same invoiceNo with another amount, date or debtor is not a duplicate."""
    others = [sale(invoice_no=f"F-{n}", reference=str(200000000100 + n)) for n in range(2, 2002)]
    near = [
        sale(amount=Decimal("1000.01"), countervalue=Decimal("1000.01")),
        sale(maturity_date=date(2023, 7, 11)),
        sale(debtor_no=2, customer_reference="CLI-0002"),
    ]
    original = sale()
    built: list[str] = []

    def counting_key(recorded: Sale) -> sales_rules.DuplicateKey:
        built.append(recorded.invoice_no)
        return duplicate_key(recorded)

    monkeypatch.setattr(sales_rules, "duplicate_key", counting_key)
    key = duplicate_key(original)
    assert find_duplicate([*others, *near], key) is None
    assert built == ["F-1"] * len(near)
    assert find_duplicate([*others, *near, original], key) is original
    assert find_duplicate([*others, original], key, ignore=original) is None


@pytest.mark.parametrize(
    "change",
    [
        {"invoice_no": "F-2"},
        {"invoice_date": date(2023, 4, 11)},
        {"maturity_date": date(2023, 7, 11)},
        {"debtor_no": 2},
        {"amount": Decimal("1000.01")},
    ],
)
def test_any_key_field_makes_another_sale(change: dict[str, object]) -> None:
    assert duplicate_key(sale(**change)) != duplicate_key(sale())


def test_the_key_ignores_what_is_not_in_the_rule() -> None:
    assert duplicate_key(sale(amount=Decimal("1000.0"))) == duplicate_key(sale())
    assert duplicate_key(sale(subsidiary_no="1", currency="USD", status=SALE_REJECTED)) == duplicate_key(sale())


def test_an_unknown_debtor_is_compared_as_sent() -> None:
    assert debtor_key(None, None, "X") == "customerReference:X"
    assert debtor_key(None, "007", None) == "endorsementNo:7"
    assert debtor_key(3, "3", None) == debtor_key(3, None, "CLI")


def test_credit_note_balance() -> None:
    today = date(2023, 5, 1)
    sales = [
        sale(countervalue=Decimal("600.00")),
        sale(countervalue=Decimal("400.00"), maturity_date=date(2023, 5, 1)),
        sale(countervalue=Decimal("999.00"), maturity_date=date(2023, 4, 30)),  # matured
        sale(countervalue=Decimal("999.00"), status=SALE_REJECTED),
        sale(countervalue=Decimal("999.00"), debtor_no=2),
        sale(countervalue=Decimal("999.00"), contract_no="38100029218"),
        sale(countervalue=Decimal("-250.00")),
    ]
    assert credit_note_balance(sales, "34109150331", 1, today) == Decimal("750.00")
    assert credit_note_balance(sales, "34109150331", None, today) == 0
    assert credit_note_balance([sale(countervalue=Decimal("-10.00"))], "34109150331", 1, today) == 0


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        ("1000.00", "0.13752", "1.38"),  # rates are per cent: 1.3752 -> 1.38
        ("12500.00", "0.13752", "17.19"),
        ("6250.00", "0.13752", "8.60"),  # 8.595 -> 8.60
        ("18750.00", "0.13752", "25.78"),  # 25.785: half to even -> 25.78 (half up would say 25.79)
        ("25.00", "0.1", "0.02"),  # 0.025: half to even -> 0.02
        ("35.00", "0.1", "0.04"),  # 0.035: half to even -> 0.04
        ("-25.00", "0.1", "-0.02"),
        ("-1000.00", "0.13752", "-1.38"),
    ],
)
def test_premium_rounds_half_to_even(amount: str, rate: str, expected: str) -> None:
    assert premium(Decimal(amount), Decimal(rate)) == Decimal(expected)


def test_sales_movements_are_today_and_the_two_days_before() -> None:
    # guide 4.3.2: "si hoy es 05/08/2023, la lectura de los movimientos será desde el día 03/08/2023"
    today = date(2023, 8, 5)
    assert [is_recent(date(2023, 8, d), today) for d in (2, 3, 4, 5, 6)] == [False, True, True, True, False]


def test_the_ledgers_indexes_follow_additions_and_modifications_in_the_ledgers_order() -> None:
    """The duplicate check, the credit-note balance and the lookups read indexes, not every sale recorded."""
    ledger = load_ledger(read_scenario(None))
    first, second, other = sale(reference="1"), sale(reference="2", amount=Decimal("5.00")), sale(reference="3")
    other = dataclasses.replace(other, invoice_no="F-OTHER", debtor_no=99)
    for recorded in (first, second, other):
        ledger.add_sale(recorded)
    assert ledger.sales_with_invoice(first.invoice_no) == [first, second]
    assert ledger.sales_of_debtor(first.contract_no, first.debtor_no) == [first, second]
    modified = dataclasses.replace(first, invoice_no="F-NEW", amount=Decimal("7.00"))
    ledger.replace_sale(first, modified)
    assert ledger.sales == [modified, second, other]  # in the modified sale's old place
    assert ledger.sales_with_invoice(first.invoice_no) == [second]
    assert ledger.sales_with_invoice("F-NEW") == [modified]
    assert ledger.sales_of_debtor(first.contract_no, first.debtor_no) == [modified, second]  # still in order
    assert ledger.sale_by_reference("1") is modified
    assert (
        sales_rules.find_duplicate(ledger.sales_with_invoice("F-NEW"), sales_rules.duplicate_key(modified)) is modified
    )
