"""What Cesce changes on a sale on its own side, as the sandbox emulates it: situations, re-tariffing, collections,
extensions (prórrogas), sales on a cancelled supplement (venta endosada), and the modification rules they bring.

Each test quotes the document line it follows (000: the support page; 001: the integration guide; 002: the Sales API
reference).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from workers.cesce.assumptions import MSG_MODIFICATION_NOT_ALLOWED, SaleRejectionReason, SaleStatus
from workers.sandbox import sales_rules
from workers.sandbox.sales import (
    SaleActionRefused,
    declare_sale,
    extend_sale,
    modify_sale,
    record_collection,
    retariff_sale,
    set_sale_status,
)
from workers.sandbox.sales_queries import list_sales, sale_detail
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Ledger, Sale
from workers.sandbox.wire import ApiError

ORO = "34109150331"
TODAY = date(2024, 3, 15)


@pytest.fixture
def ledger() -> Ledger:
    return load_ledger(read_scenario(None))


def declared(ledger: Ledger, invoice_no: str = "F-1", amount: str = "10000,00", debtor: str = "CLI-0001") -> Sale:
    body = declare_sale(
        ledger,
        ledger.contracts[ORO],
        {
            "customerReference": debtor,
            "invoiceNo": invoice_no,
            "invoiceDate": "20240310",
            "maturityDate": "20240510",
            "currencyAmount": amount,
        },
        TODAY,
    )
    found = ledger.sale_by_reference(body["saleCesceReferenceNo"])
    assert found is not None
    return found


def recent(ledger: Ledger, today: date) -> list[dict[str, object]]:
    items, _ = list_sales(ledger, ledger.contracts[ORO], {"languageCode": "ES", "recentMovementsInd": "Y"}, today)
    return items


def test_a_collection_shows_in_collected_amount_and_is_a_movement(ledger: Ledger) -> None:
    """002 line 430-432: "collectedAmount" ... "Amount collected from the invoice. In the contract currency";
    001 line 1023: "Se debe entender como movimiento cualquier cambio registrado en la venta"."""
    sale = declared(ledger)
    later = date(2024, 4, 20)
    assert recent(ledger, later) == []  # declared a month ago: no movement in the last 48 hours
    record_collection(ledger, sale, Decimal("4000.00"), later)
    again = ledger.sale_by_reference(sale.reference)
    assert again is not None
    record_collection(ledger, again, Decimal("1500.00"), later)
    [item] = recent(ledger, later)
    assert (item["saleCesceReferenceNo"], item["collectedAmount"]) == (sale.reference, "5500,00")
    assert item["statusDate"] == "20240420"


def test_a_collection_never_exceeds_the_invoice(ledger: Ledger) -> None:
    """002 line 431: "Amount collected from the invoice": cumulative, never more than the invoice's countervalue."""
    sale = declared(ledger, amount="1000,00")
    with pytest.raises(SaleActionRefused, match="more than"):
        record_collection(ledger, sale, Decimal("1000.01"), TODAY)
    with pytest.raises(SaleActionRefused, match="positive"):
        record_collection(ledger, sale, Decimal("0"), TODAY)
    assert ledger.sale_by_reference(sale.reference) is sale  # nothing changed


def test_an_extension_is_a_new_sale_with_maturity_amount_and_its_own_premium(ledger: Ledger) -> None:
    """000 line 29: "el segundo genera una nueva venta prorrogada con un número saleCesceReferenceNo distinto,
    prima diferenciada y un nuevo campo maturityAmount, que recogerá el importe impagado de la factura inicial"."""
    sale = declared(ledger)
    record_collection(ledger, sale, Decimal("4000.00"), TODAY)
    collected = ledger.sale_by_reference(sale.reference)
    assert collected is not None
    extended = extend_sale(ledger, ledger.contracts[ORO], collected, date(2024, 7, 10), date(2024, 5, 8))
    assert extended.reference != sale.reference
    assert extended.maturity_amount == Decimal("6000.00")  # the unpaid amount
    assert extended.extends == sale.reference
    assert extended.commercial_premium == sales_rules.premium(Decimal("6000.00"), Decimal("0.13752")) == Decimal("8.25")
    assert extended.commercial_premium != sale.commercial_premium
    original = ledger.sale_by_reference(sale.reference)
    assert original is not None
    assert original.status == SaleStatus.EXTENDED
    body = sale_detail(ledger.contracts[ORO], extended)
    assert (body["maturityAmount"], body["maturityDate"], body["statusCode"]) == ("6000,00", "20240710", "5")
    assert "maturityAmount" not in sale_detail(ledger.contracts[ORO], original)
    moved = {item["saleCesceReferenceNo"]: item["statusCode"] for item in recent(ledger, date(2024, 5, 9))}
    assert moved == {sale.reference: SaleStatus.EXTENDED.value, extended.reference: "5"}


def test_maturity_amount_is_never_more_than_the_original_invoice(ledger: Ledger) -> None:
    """000 line 29: maturityAmount "no podrá ser en cualquier caso mayor a esa factura original"."""
    sale = declared(ledger, amount="2000,00")
    with pytest.raises(SaleActionRefused, match="more than the original invoice"):
        extend_sale(ledger, ledger.contracts[ORO], sale, date(2024, 7, 1), TODAY, maturity_amount=Decimal("2000.01"))
    with pytest.raises(SaleActionRefused, match="later"):
        extend_sale(ledger, ledger.contracts[ORO], sale, date(2024, 5, 10), TODAY)
    assert ledger.sale_by_reference(sale.reference) is sale
    assert len(list(ledger.sales_of(ORO))) == 1


def test_an_extended_sale_may_not_be_extended_or_modified_again(ledger: Ledger) -> None:
    """001 line 968-969: "No se permite la modificación de ventas en situación de Baja ni Prorrogada"."""
    sale = declared(ledger)
    extend_sale(ledger, ledger.contracts[ORO], sale, date(2024, 7, 10), TODAY)
    original = ledger.sale_by_reference(sale.reference)
    assert original is not None
    with pytest.raises(SaleActionRefused):
        extend_sale(ledger, ledger.contracts[ORO], original, date(2024, 8, 10), TODAY)
    with pytest.raises(ApiError) as refused:
        modify_sale(ledger, ledger.contracts[ORO], original, {"currencyAmount": "9000,00"}, TODAY, has_claim_file=False)
    assert refused.value.description == MSG_MODIFICATION_NOT_ALLOWED


@pytest.mark.parametrize(
    "status",
    [
        SaleStatus.CERTIFIED,
        SaleStatus.SECURITISED,
        SaleStatus.PENDING,
        SaleStatus.CANCELLED,
        SaleStatus.EXTENDED,
        SaleStatus.PENDING_RETARIFF,
    ],
)
def test_sales_in_these_situations_may_not_be_modified(ledger: Ledger, status: SaleStatus) -> None:
    """001 line 957: "No se permite la modificación de ventas que estén certificadas, titulizadas o en trámite.";
    001 line 968-970: "No se permite la modificación de ventas en situación de Baja ni Prorrogada. Tampoco se permite
    la modificación si la venta está pendiente de retarificar"."""
    sale = set_sale_status(ledger, declared(ledger), status, "0", TODAY)
    with pytest.raises(ApiError) as refused:
        modify_sale(ledger, ledger.contracts[ORO], sale, {"currencyAmount": "9000,00"}, TODAY, has_claim_file=False)
    assert (refused.value.description, refused.value.code) == (MSG_MODIFICATION_NOT_ALLOWED, "1522")
    assert sales_rules.modification_refusal(sales_rules.Window.ALL_FIELDS, sale, {}, has_claim_file=False) == (
        MSG_MODIFICATION_NOT_ALLOWED
    )


def test_a_tariffed_sale_may_still_be_modified(ledger: Ledger) -> None:
    """001 line 914-915: "Se permite la modificación de las ventas con fecha de factura/adquisición del mes en curso o
    el mes anterior." (the situations above aside)."""
    sale = declared(ledger)
    new = {"currencyAmount": "9000,00"}
    answer = modify_sale(ledger, ledger.contracts[ORO], sale, new, TODAY, has_claim_file=False)
    assert answer["statusCode"] == "5"


def test_retariffing_changes_the_rates_and_premiums(ledger: Ledger) -> None:
    """001 line 969-970: a sale "pendiente de retarificar" is tariffed again: new rate, new premium, TARIFICADA."""
    sale = set_sale_status(ledger, declared(ledger), SaleStatus.PENDING_RETARIFF, "0", TODAY)
    changed = retariff_sale(ledger, sale, date(2024, 3, 16), commercial_rate=Decimal("0.20000"))
    assert (changed.status, changed.commercial_rate, changed.commercial_premium) == (
        "5",
        Decimal("0.20000"),
        Decimal("20.00"),
    )
    assert changed.status_date == date(2024, 3, 16)
    [item] = recent(ledger, date(2024, 3, 17))
    assert (item["commercialRiskRate"], item["commercialRiskPremium"]) == ("0,20000", "20,00")


def test_a_cancelled_sale_is_not_retariffed(ledger: Ledger) -> None:
    """001 line 968: "Baja": the sale is gone, nothing to tariff."""
    sale = set_sale_status(ledger, declared(ledger), SaleStatus.CANCELLED, "0", TODAY)
    with pytest.raises(SaleActionRefused):
        retariff_sale(ledger, sale, TODAY, commercial_rate=Decimal("0.2"))


def test_a_sale_on_a_cancelled_supplement_is_tariffed_only_with_the_endorsements_supplement(ledger: Ledger) -> None:
    """000 line 21: "Se produce cuando se realiza una venta contra un suplemento anulado ... pero se permite
    igualmente la tarificación. Sólo se permite en pólizas que tengan contratado el suplemento de Endosos."."""
    without = declared(ledger, invoice_no="F-E1", debtor="CLI-BAJA-01")
    assert (without.status, without.reason) == ("9", SaleRejectionReason.NO_LIMIT_IN_FORCE.value)
    ledger.contracts[ORO] = dataclasses.replace(ledger.contracts[ORO], endorsements_supplement=True)
    endorsed = declared(ledger, invoice_no="F-E2", debtor="CLI-BAJA-01")
    assert (endorsed.status, endorsed.reason) == ("5", "0")
    assert endorsed.commercial_premium == Decimal("13.75")


def test_the_endorsements_supplement_is_a_scenario_flag() -> None:
    """000 line 21: "Sólo se permite en pólizas que tengan contratado el suplemento de Endosos" (off by default)."""
    scenario = read_scenario(None)
    assert not load_ledger(scenario).contracts[ORO].endorsements_supplement
    scenario["contracts"][0]["endorsementsSupplement"] = True
    assert load_ledger(scenario).contracts[ORO].endorsements_supplement
