"""client.sales: the requests it sends (method, path, query, body) and the answers it returns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.unit.cesce.fakes import (
    CONTRACT,
    SALE,
    SALE_DECLARED,
    SALE_MODIFIED,
    FakeCesce,
    answer,
    client_for,
    sale_row,
)
from workers.cesce.client import CesceClient
from workers.cesce.errors import CesceProtocolError
from workers.cesce.models.sales import SaleChanges, SaleDeclaration, SaleRef

BASE = f"/sales/v1/contracts/{CONTRACT}"


async def test_declare_posts_the_sale_and_returns_its_tariff(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("POST", f"{BASE}/sales", answer(201, generalData=SALE_DECLARED))

    declared = await client.sales.declare(
        CONTRACT,
        SaleDeclaration(
            endorsementNo="7",
            invoiceNo="F-2026-0001",
            invoiceDate=date(2026, 1, 10),
            maturityDate=date(2026, 3, 10),
            currencyAmount=Decimal("-1234.50"),
        ),
    )

    request = fake.api_requests[0]
    assert (request.method, request.url.path) == ("POST", f"{BASE}/sales")
    assert request.headers["Content-Type"] == "application/json"
    assert fake.bodies() == [
        {
            "client": {"languageCode": "ES"},
            "generalData": {
                "endorsementNo": "7",
                "invoiceNo": "F-2026-0001",
                "invoiceDate": "20260110",
                "maturityDate": "20260310",
                "currencyAmount": "-1234,50",
            },
        }
    ]
    assert declared.saleCesceReferenceNo == "200000000001"
    assert declared.commercialRiskPremium == Decimal("1.70")


async def test_the_language_code_comes_from_the_settings(fake: FakeCesce) -> None:
    fake.route("GET", f"{BASE}/sale", answer(generalData=SALE))
    async with client_for(fake, language_code="EN") as client:
        await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")

    assert fake.query()["languageCode"] == "EN"


async def test_get_by_reference(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sale", answer(generalData=SALE))

    sale = await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")

    assert fake.query() == {"languageCode": "ES", "saleCesceReferenceNo": "200000000001"}
    assert sale.currencyAmount == Decimal("1234.50")
    assert sale.invoiceDate == date(2026, 1, 10)
    assert sale.customerReference == "CLI-0001"


async def test_get_by_invoice_and_maturity_date(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sale", answer(generalData=SALE))

    await client.sales.get(CONTRACT, invoice_no="F-2026-0001", maturity_date=date(2026, 3, 10))

    assert fake.query() == {"languageCode": "ES", "invoiceNo": "F-2026-0001", "maturityDate": "20260310"}


async def test_modify_posts_the_sale_and_the_new_data(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("POST", f"{BASE}/sale", answer(result=SALE_MODIFIED))

    modified = await client.sales.modify(
        CONTRACT,
        SaleRef.by_invoice("F-2026-0001", date(2026, 3, 10)),
        SaleChanges(currencyAmount=Decimal("2000"), maturityDate=date(2026, 4, 10)),
    )

    assert fake.api_requests[0].url.path == f"{BASE}/sale"
    assert fake.bodies() == [
        {
            "client": {"languageCode": "ES"},
            "sale": {"invoiceNo": "F-2026-0001", "maturityDate": "20260310"},
            "newData": {"maturityDate": "20260410", "currencyAmount": "2000,00"},
        }
    ]
    assert modified.countervalueAmount == Decimal("2000.00")
    assert modified.tariffed


async def test_list_follows_initial_value_until_it_is_empty(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "GET",
        f"{BASE}/sales",
        answer(paginationData={"initialValue": "cursor-2"}, result=[sale_row("1"), sale_row("2")]),
        answer(paginationData={"initialValue": "cursor-3"}, result=[sale_row("3")]),
        answer(paginationData={"initialValue": ""}, result=[sale_row("4", statusCode="9")]),
    )

    sales = [sale async for sale in client.sales.list(CONTRACT, customer_reference="CLI-0001")]

    assert [sale.saleCesceReferenceNo for sale in sales] == ["1", "2", "3", "4"]
    assert sales[3].rejected
    assert [fake.query(n).get("initialValue") for n in range(3)] == [None, "cursor-2", "cursor-3"]
    assert {fake.query(n)["customerReference"] for n in range(3)} == {"CLI-0001"}


async def test_list_sends_every_filter_under_its_wire_name(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sales", answer(paginationData={"initialValue": ""}, result=[]))

    found = client.sales.list(
        CONTRACT,
        recent_movements=True,
        endorsement_no="7",
        invoice_year_month="202601",
        status_code="5",
    )

    assert [sale async for sale in found] == []
    assert fake.query() == {
        "languageCode": "ES",
        "recentMovementsInd": "Y",
        "endorsementNo": "7",
        "invoiceYearMonth": "202601",
        "statusCode": "5",
    }


async def test_list_without_pagination_data_is_one_page(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sales", answer(result=[sale_row("1")]))

    sales = [sale async for sale in client.sales.list(CONTRACT, recent_movements=False)]

    assert len(sales) == 1
    assert fake.query()["recentMovementsInd"] == "N"
    assert len(fake.api_requests) == 1


async def test_a_cursor_that_comes_back_is_a_protocol_error(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sales", answer(paginationData={"initialValue": "same"}, result=[sale_row("1")]))

    with pytest.raises(CesceProtocolError, match="initialValue"):
        [sale async for sale in client.sales.list(CONTRACT)]

    assert len(fake.api_requests) == 2


async def test_a_malformed_row_is_a_protocol_error(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/sales", answer(result=[sale_row("1", currencyAmount="12.5")]))

    with pytest.raises(CesceProtocolError, match="currencyAmount"):
        [sale async for sale in client.sales.list(CONTRACT)]


async def test_subsidiaries_are_collected_across_pages(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "GET",
        f"{BASE}/subsidiaries",
        answer(paginationData={"initialValue": "2"}, result=[{"subsidiaryNo": "0", "subsidiaryName": "Central"}]),
        answer(paginationData={"initialValue": ""}, result=[{"subsidiaryNo": "1", "subsidiaryName": "Norte"}]),
    )

    subsidiaries = await client.sales.subsidiaries(CONTRACT)

    assert [(s.subsidiaryNo, s.subsidiaryName) for s in subsidiaries] == [("0", "Central"), ("1", "Norte")]
    assert [fake.query(n).get("initialValue") for n in range(2)] == [None, "2"]
