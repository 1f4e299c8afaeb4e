"""Recognising a credit request already registered at Cesce, against a scripted Cesce."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx

from tests.unit.cesce.fakes import CONTRACT, FakeCesce, answer, cesce_error, classification_row
from workers.cesce import CesceClient, DebtorId
from workers.cesce.catalogue import ERROR_CODE_NO_LIMIT, MSG_NO_LIMIT
from workers.credit_requests.lookup import find_registered

BASE = f"/classifications/v1/contracts/{CONTRACT}"
DEBTOR = DebtorId.by_customer_reference("CLI-0100")
SINCE = date(2026, 1, 10)
OURS = Decimal("150000.00")


def page(*rows: dict[str, str]) -> httpx.Response:
    return answer(paginationData={"nextEndorsementNo": "0"}, result=list(rows))


async def look(client: CesceClient) -> str | None:
    lookup = await find_registered(client.classifications, CONTRACT, DEBTOR, OURS, SINCE)
    assert lookup.may_send == (lookup.registered is None and lookup.newer is None)
    found = lookup.registered
    return None if found is None else f"{found.endorsementNo}:{found.statusCode}"


async def test_an_unknown_debtor_has_nothing_registered(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/classifications", cesce_error(400, ERROR_CODE_NO_LIMIT, MSG_NO_LIMIT))
    assert await look(client) is None
    assert len(fake.api_requests) == 1


async def test_the_individual_record_is_the_request(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "GET",
        f"{BASE}/classifications",
        answer(generalData=classification_row("100", creditLimitRequested="150000,00")),
    )
    assert await look(client) == "100:2"
    assert len(fake.api_requests) == 1


async def test_a_known_debtors_pending_request_is_found_walking_the_portfolio_from_its_first_page(
    fake: FakeCesce, client: CesceClient
) -> None:
    """001 line 627-632: "En la consulta de cartera de este cliente aparecerán dos registros: - Suplemento 100
    ... - Suplemento 300xxx con limite solicitado 100000 y situación EN TRAMITE." 001 line 651-652: "habrá que
    invocar sucesivas peticiones añadiendo el campo que nos arroje en la respuesta": no page is sought."""
    fake.route("GET", f"{BASE}/classifications", answer(generalData=classification_row("100")))
    fake.route(
        "GET",
        f"{BASE}/portfolio",
        answer(
            paginationData={"nextEndorsementNo": "101"},
            result=[
                classification_row("100"),
                classification_row("77", taxCode="B99999999"),
            ],
        ),
        page(
            classification_row("300001", statusCode="1", taxCode="B99999999", creditLimitRequested="150000,00"),
            classification_row("300002", statusCode="1", creditLimitRequested="150000,00"),
        ),
    )
    fake.route("GET", f"{BASE}/movements", page())
    assert await look(client) == "300002:1"
    portfolio = [r for r in fake.api_requests if r.url.path == f"{BASE}/portfolio"]
    assert [r.url.params.get("nextEndorsementNo") for r in portfolio] == [None, "101"]


async def test_a_known_debtors_denial_is_found_in_the_movements(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/classifications", answer(generalData=classification_row("100")))
    fake.route("GET", f"{BASE}/portfolio", page(classification_row("300009", statusCode="1", taxCode="B99999999")))
    fake.route(
        "GET",
        f"{BASE}/movements",
        page(
            {
                k: v
                for k, v in classification_row("", statusCode="3", creditLimitRequested="150000,00").items()
                if k != "endorsementNo"
            }
        ),
    )
    assert await look(client) == "None:3"


async def test_an_older_request_or_another_amount_is_not_this_one(fake: FakeCesce, client: CesceClient) -> None:
    older = classification_row("100", creditLimitRequested="150000,00", requestDate="20260109")
    fake.route("GET", f"{BASE}/classifications", answer(generalData=older))
    fake.route("GET", f"{BASE}/portfolio", page(classification_row("300002", statusCode="1")))
    fake.route(
        "GET",
        f"{BASE}/movements",
        page(classification_row("100", statusCode="2", creditLimitRequested="150000,00", requestDate="20260101")),
    )
    assert await look(client) is None


async def test_a_later_request_for_the_debtor_means_an_old_one_is_not_sent(
    fake: FakeCesce, client: CesceClient
) -> None:
    """A snapshot re-read of a request from the 10th, when Cesce holds the debtor's request of the 12th."""
    later = classification_row("100", creditLimitRequested="80000,00", requestDate="20260112")
    fake.route("GET", f"{BASE}/classifications", answer(generalData=later))
    fake.route("GET", f"{BASE}/portfolio", page())
    fake.route("GET", f"{BASE}/movements", page())
    lookup = await find_registered(client.classifications, CONTRACT, DEBTOR, OURS, SINCE)
    assert lookup.registered is None
    assert lookup.newer is not None
    assert lookup.newer.requestDate == date(2026, 1, 12)
    assert not lookup.may_send


async def test_another_request_of_the_same_day_does_not_stop_this_one(fake: FakeCesce, client: CesceClient) -> None:
    same_day = classification_row("100", creditLimitRequested="80000,00", requestDate="20260110")
    fake.route("GET", f"{BASE}/classifications", answer(generalData=same_day))
    fake.route("GET", f"{BASE}/portfolio", page())
    fake.route("GET", f"{BASE}/movements", page())
    assert (await find_registered(client.classifications, CONTRACT, DEBTOR, OURS, SINCE)).may_send
