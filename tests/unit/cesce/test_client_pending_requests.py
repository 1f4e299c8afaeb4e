"""client.classifications.pending_requests: a known debtor's request EN TRÁMITE, found by walking the portfolio
from its first page as the guide pages it, never by seeking a number of our own.

001 line 627-632: "En la consulta de cartera de este cliente aparecerán dos registros: - Suplemento 100 con
50000 euros en vigor de 2024. Es el límite vigente y actual, y el que se mostrará también en la petición GET
individual - Suplemento 300xxx con limite solicitado 100000 y situación EN TRAMITE."
001 line 651-653: "habrá que invocar sucesivas peticiones añadiendo el campo que nos arroje en la respuesta
hasta que este sea 0 lo que indica que hemos llegado a la última página."
"""

from __future__ import annotations

from tests.unit.cesce.fakes import CONTRACT, FakeCesce, answer, classification_row
from workers.cesce.client import CesceClient

BASE = f"/classifications/v1/contracts/{CONTRACT}"


async def test_pending_requests_walk_the_portfolio_from_the_first_page_sending_back_each_cursor(
    fake: FakeCesce, client: CesceClient
) -> None:
    fake.route(
        "GET",
        f"{BASE}/portfolio",
        answer(
            paginationData={"nextEndorsementNo": "501"},
            result=[
                classification_row("300004", statusCode="1", taxCode="B00000001"),  # before its supplement
                classification_row("12", statusCode="1", taxCode="B00000002"),  # a new debtor's own first request
                classification_row("100", taxCode="B00000003"),
            ],
        ),
        answer(
            paginationData={"nextEndorsementNo": "0"},
            result=[
                classification_row("501", taxCode="B00000001"),
                classification_row("300007", statusCode="1", taxCode="B00000003"),
                classification_row("300008", statusCode="2", taxCode="B00000003"),  # decided: not pending
            ],
        ),
    )

    records = [record async for record in client.classifications.pending_requests(CONTRACT)]

    assert [r.endorsementNo for r in records] == ["300004", "300007"]
    assert [fake.query(n).get("nextEndorsementNo") for n in range(2)] == [None, "501"]
    assert len(fake.api_requests) == 2


async def test_no_pending_requests_in_a_portfolio_without_any(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/portfolio", answer(paginationData={"nextEndorsementNo": "0"}, result=[]))

    assert [record async for record in client.classifications.pending_requests(CONTRACT)] == []
    assert fake.query(0).get("nextEndorsementNo") is None
