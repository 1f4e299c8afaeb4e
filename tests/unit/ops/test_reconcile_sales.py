"""The month-end books check's decisions (`workers.ops.reconcile_sales`), without sockets."""

from __future__ import annotations

import argparse
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from workers.cesce.assumptions import ASSUMPTIONS
from workers.ops import reconcile_command
from workers.ops.reconcile_sales import (
    CesceSale,
    DeadLetterSale,
    OurSale,
    compare,
    contract_problem,
    fold_results,
    in_month,
    month_problem,
    table_lines,
)

CONTRACT = "34109150331"
MONTH = "203001"


def ours(invoice: str = "F-1", amount: str = "1000.00", outcome: str = "DECLARED", **changes: Any) -> OurSale:
    fields: dict[str, Any] = {
        "invoice_no": invoice,
        "invoice_date": date(2030, 1, 10),
        "maturity_date": date(2030, 4, 10),
        "amount": Decimal(amount),
        "currency_code": "EUR",
        "endorsement_no": None,
        "customer_reference": "CLI-0001",
        "sale_cesce_reference_no": None,
        "status_code": "5",
        "contract_no": CONTRACT,
        "outcome": outcome,
        "source": f"cesce.sale-results[0]@{invoice}",
    }
    return OurSale(**(fields | changes))


def cesce(invoice: str = "F-1", amount: str = "1000.00", **changes: Any) -> CesceSale:
    fields: dict[str, Any] = {
        "invoice_no": invoice,
        "invoice_date": date(2030, 1, 10),
        "maturity_date": date(2030, 4, 10),
        "amount": Decimal(amount),
        "currency_code": "EUR",
        "endorsement_no": "1000123",
        "customer_reference": "CLI-0001",
        "sale_cesce_reference_no": f"R-{invoice}",
        "status_code": "5",
    }
    return CesceSale(**(fields | changes))


def letter(invoice: str = "F-9") -> DeadLetterSale:
    return DeadLetterSale(
        ref="erp.invoices.dlq[0]@3",
        invoice_no=invoice,
        invoice_date=date(2030, 1, 12),
        debtor="CLI-0001",
        amount=Decimal("50.00"),
        category="business",
        code="1522",
        description="venta errónea",
    )


def test_the_same_sale_at_both_sides_agrees() -> None:
    """001 line 842: "En el sistema se considera una factura duplicada cuando coinciden dos ventas con misma
    factura (invoiceNo), fecha de emisión (invoiceDate), vencimiento (maturityDate), suplemento (endorsementNo o
    customerReference) e importe (currencyAmount)": that key pairs the two sides; Cesce naming the debtor both
    ways still pairs with our customerReference."""
    books = compare(CONTRACT, MONTH, [ours("F-1"), ours("F-2", "20.5")], [cesce("F-2", "20.50"), cesce("F-1")])
    assert books.agrees
    assert books.exit_status == 0
    assert books.matched == 2
    assert (books.missing_at_cesce, books.not_declared, books.differing) == ([], [], [])


def test_declared_here_but_missing_at_cesce() -> None:
    """001 lines 845-846: "El API devuelve error y la venta no se da de alta en el sistema": a sale we count as
    declared that Cesce does not list is reported, and the books differ."""
    books = compare(CONTRACT, MONTH, [ours("F-1"), ours("F-2")], [cesce("F-1")])
    assert [s.invoice_no for s in books.missing_at_cesce] == ["F-2"]
    assert books.exit_status == 1
    assert books.to_json()["missingAtCesce"][0]["invoiceNo"] == "F-2"


def test_at_cesce_but_never_declared_by_us() -> None:
    """001 line 1020: "la consulta de ventas de una póliza por deudor y/o mes de factura": every sale Cesce
    lists for the month and we never declared is reported."""
    books = compare(CONTRACT, MONTH, [ours("F-1")], [cesce("F-1"), cesce("X-1", "300.00")])
    assert [s.invoice_no for s in books.not_declared] == ["X-1"]
    assert books.exit_status == 1
    assert books.to_json()["counts"] == {
        "matched": 1,
        "missingAtCesce": 0,
        "notDeclared": 1,
        "differing": 0,
        "deadLetters": 0,
    }


def test_an_amount_one_cent_apart_differs() -> None:
    """001 line 848: "Si cambia cualquiera de estos valores ya se considera una venta diferente": one cent is
    another key, so the pair is found by invoiceNo and debtor and reported as an amount difference (exact
    Decimal comparison)."""
    books = compare(CONTRACT, MONTH, [ours("F-1", "1000.00")], [cesce("F-1", "1000.01")])
    assert books.matched == 0
    assert [(d.ours.invoice_no, d.fields) for d in books.differing] == [("F-1", ("amount",))]
    assert books.to_json()["differing"][0]["cesce"]["amount"] == "1000.01"
    assert books.exit_status == 1
    table = "\n".join(table_lines(books))
    assert "Amounts or dates that differ" in table
    assert "1000.00" in table
    assert "1000.01" in table


def test_a_date_differing_is_reported_as_dates() -> None:
    """001 line 844: "fecha de emisión (invoiceDate), vencimiento (maturityDate)": dates compare as dates."""
    books = compare(
        CONTRACT,
        MONTH,
        [ours("F-1", maturity_date=date(2030, 4, 10))],
        [cesce("F-1", invoice_date=date(2030, 1, 11), maturity_date=date(2030, 4, 10))],
    )
    assert [d.fields for d in books.differing] == [("invoiceDate",)]
    assert books.differing[0].to_json()["cesce"]["invoiceDate"] == "2030-01-11"


def test_a_credit_note_counts_as_declared() -> None:
    """001 line 862: "Ventas negativas: es posible declarar ventas con importe negativo (se añade el signo - en
    el importe)": a credit note is a sale of its own, matched by its negative amount."""
    books = compare(CONTRACT, MONTH, [ours("F-1"), ours("F-1-A", "-250.00")], [cesce("F-1"), cesce("F-1-A", "-250")])
    assert books.agrees
    assert books.matched == 2


def test_fold_keeps_the_latest_result_per_key_and_counts_already_declared() -> None:
    """001 line 842 (the duplicate key): a redelivery's ALREADY_DECLARED is the same sale, declared; a row
    deleted in the ERP withdraws its key; NO_CHANGE says nothing new."""
    folded = fold_results(
        [
            ours("F-1"),
            ours("F-1", outcome="ALREADY_DECLARED"),
            ours("F-2"),
            ours("F-2", outcome="DELETED_IN_ERP"),
            ours("F-3", outcome="NO_CHANGE"),
            ours("F-4", outcome="REJECTED_BY_POLICY", status_code="9"),
        ]
    )
    assert [(s.invoice_no, s.outcome) for s in folded] == [("F-1", "ALREADY_DECLARED"), ("F-4", "REJECTED_BY_POLICY")]


def test_a_modification_retires_the_values_it_replaced() -> None:
    """001 line 848: "Si cambia cualquiera de estos valores ya se considera una venta diferente": after a
    MODIFIED result the sale's old key is no longer ours to find at Cesce."""
    folded = fold_results([ours("F-1", "100.00"), ours("F-2"), ours("F-1", "130.00", outcome="MODIFIED")])
    assert [(s.invoice_no, s.amount) for s in folded] == [("F-2", Decimal("1000.00")), ("F-1", Decimal("130.00"))]
    books = compare(CONTRACT, MONTH, folded, [cesce("F-1", "130.00"), cesce("F-2")])
    assert books.agrees


def test_an_endorsement_number_names_the_debtor_when_we_used_it() -> None:
    """001 lines 844-845: "suplemento (endorsementNo o customerReference)": the supplement as we named it."""
    mine = ours("F-1", endorsement_no="1000123", customer_reference=None)
    assert compare(CONTRACT, MONTH, [mine], [cesce("F-1")]).agrees
    other = ours("F-1", endorsement_no="9999999", customer_reference=None)
    books = compare(CONTRACT, MONTH, [other], [cesce("F-1")])
    assert len(books.missing_at_cesce) == 1
    assert len(books.not_declared) == 1


def test_unresolved_dead_letters_make_the_books_differ() -> None:
    """001 line 846: "la venta no se da de alta en el sistema": a dead-lettered invoice is a sale Cesce may
    not have; unreadable ones are shown but not counted."""
    books = compare(
        CONTRACT, MONTH, [ours()], [cesce()], dead_letters=[letter()], unreadable_dead_letters=["erp.invoices.dlq[0]@7"]
    )
    assert books.exit_status == 1
    document = books.to_json()
    assert document["deadLetters"][0]["deadLetter"] == "erp.invoices.dlq[0]@3"
    assert document["deadLetters"][0]["amount"] == "50.00"
    assert document["unreadableDeadLetters"] == ["erp.invoices.dlq[0]@7"]
    table = table_lines(books)
    assert "DIFFER" in table[0]
    assert any("erp.invoices.dlq[0]@3" in line for line in table)
    assert compare(CONTRACT, MONTH, [], [], unreadable_dead_letters=["erp.invoices.dlq[0]@7"]).exit_status == 0


def test_the_month_is_the_invoice_dates_month() -> None:
    """001 line 1021: "y/o mes de factura" (the filter invoiceYearMonth, YYYYMM, assumption "sales-list-params"):
    the month is the invoice date's month."""
    assert in_month(date(2030, 1, 31), "203001")
    assert not in_month(date(2030, 2, 1), "203001")
    assert month_problem("203001") is None
    for bad in ("2030-01", "203013", "20301", "abcdef"):
        assert month_problem(bad) is not None
    assert contract_problem("34109150331") is None
    for bad in ("3410915033", "341091503311", "34109I50331"):
        assert contract_problem(bad) is not None
    assert any(a.key == "reconcile-sales" for a in ASSUMPTIONS)


def test_the_json_shape_is_stable() -> None:
    """The documented --json shape (docs/operations.md, "Month-end reconciliation")."""
    document = compare(CONTRACT, MONTH, [ours()], [cesce()]).to_json()
    assert list(document) == [
        "contractNo",
        "month",
        "agrees",
        "counts",
        "missingAtCesce",
        "notDeclared",
        "differing",
        "deadLetters",
        "unreadableDeadLetters",
    ]
    assert json.loads(json.dumps(document))["agrees"] is True


@pytest.mark.parametrize(
    ("contract", "month", "error"),
    [("123", "203001", "11 digits"), ("34109150331", "2030-01", "YYYYMM"), ("34109150331", "203000", "YYYYMM")],
)
def test_bad_input_exits_2_with_one_line(contract: str, month: str, error: str, capsys: Any) -> None:
    """Exit status 2 and one line for a malformed month or a contract that is not 11 digits."""
    args = argparse.Namespace(contract=contract, month=month, json=False, timeout=1.0, schemas_dir=[])
    assert reconcile_command.sales_command(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert error in err
