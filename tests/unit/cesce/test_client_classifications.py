"""client.classifications: create, read, cancel, and portfolio/movements paging by nextEndorsementNo."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.cesce.fakes import (
    CLASSIFICATION,
    CONTRACT,
    FakeCesce,
    answer,
    cesce_error,
    classification_row,
)
from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.errors import CesceProtocolError, CesceRejection, RejectionReason
from workers.cesce.models import DebtorId
from workers.cesce.models.classifications import ClassificationRequest

BASE = f"/classifications/v1/contracts/{CONTRACT}"


async def test_create_posts_general_data_and_returns_the_record(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("POST", f"{BASE}/classifications", answer(201, generalData=CLASSIFICATION))

    record = await client.classifications.create(
        CONTRACT,
        ClassificationRequest(
            countryCode="ES",
            taxCode="B12345678",
            customerReference="CLI-0100",
            creditLimitRequested=Decimal(50000),
            nonPaymentInd="N",
        ),
    )

    assert fake.api_requests[0].url.path == f"{BASE}/classifications"
    assert fake.bodies() == [
        {
            "client": {"languageCode": "ES"},
            "generalData": {
                "countryCode": "ES",
                "taxCode": "B12345678",
                "customerReference": "CLI-0100",
                "creditLimitRequested": "50000,00",
                "nonPaymentInd": "N",
            },
        }
    ]
    assert record.endorsementNo == "7"
    assert record.creditLimitGranted == Decimal("50000.00")


@pytest.mark.parametrize(
    ("debtor", "params"),
    [
        (DebtorId.by_customer_reference("CLI-0100"), {"customerReference": "CLI-0100"}),
        (DebtorId.by_endorsement("7"), {"endorsementNo": "7"}),
        (DebtorId.by_tax_code("ES", "B12345678"), {"countryCode": "ES", "taxCode": "B12345678"}),
    ],
)
async def test_get_identifies_the_debtor_in_the_query(
    fake: FakeCesce, client: CesceClient, debtor: DebtorId, params: dict[str, str]
) -> None:
    fake.route("GET", f"{BASE}/classifications", answer(generalData=CLASSIFICATION))

    record = await client.classifications.get(CONTRACT, debtor)

    assert fake.query() == {"languageCode": "ES", **params}
    assert record.taxCode == "B12345678"


async def test_get_of_an_unknown_debtor_is_the_no_limit_rejection(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/classifications", cesce_error(400, "2", cat.MSG_NO_LIMIT))

    with pytest.raises(CesceRejection) as rejected:
        await client.classifications.get(CONTRACT, DebtorId.by_endorsement("999"))

    assert rejected.value.reason is RejectionReason.NO_LIMIT


async def test_cancel_posts_the_identification(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "POST",
        f"{BASE}/classifications/cancel",
        answer(generalData=CLASSIFICATION | {"statusCode": "4", "creditLimitGranted": "0,00"}),
    )

    record = await client.classifications.cancel(CONTRACT, DebtorId.by_customer_reference("CLI-0100"))

    assert fake.bodies() == [{"client": {"languageCode": "ES"}, "generalData": {"customerReference": "CLI-0100"}}]
    assert record.statusCode == "4"
    assert record.creditLimitGranted == Decimal(0)


@pytest.mark.parametrize("path", ["portfolio", "movements"])
async def test_pages_follow_next_endorsement_no_until_zero(fake: FakeCesce, client: CesceClient, path: str) -> None:
    fake.route(
        "GET",
        f"{BASE}/{path}",
        answer(paginationData={"nextEndorsementNo": "3"}, result=[classification_row("1"), classification_row("2")]),
        answer(paginationData={"nextEndorsementNo": 5}, result=[classification_row("3")]),
        answer(paginationData={"nextEndorsementNo": "0"}, result=[classification_row("300001", statusCode="1")]),
    )
    read = client.classifications.portfolio if path == "portfolio" else client.classifications.movements

    records = [record async for record in read(CONTRACT)]

    assert [r.endorsementNo for r in records] == ["1", "2", "3", "300001"]
    assert records[-1].pending
    assert [fake.query(n).get("nextEndorsementNo") for n in range(3)] == [None, "3", "5"]
    assert {r.url.path for r in fake.api_requests} == {f"{BASE}/{path}"}


async def test_a_portfolio_walk_resumes_at_the_cursor_a_previous_page_returned(
    fake: FakeCesce, client: CesceClient
) -> None:
    """001 line 655-657: "la respuesta nos da un nextEndorsementNo 501. En tal caso habrá que hacer una segunda
    petición de cartera añadiendo el campo nextEndorsment con el valor 501"."""
    fake.route(
        "GET",
        f"{BASE}/portfolio",
        answer(paginationData={"nextEndorsementNo": "300002"}, result=[classification_row("501")]),
        answer(paginationData={"nextEndorsementNo": "0"}, result=[classification_row("300002", statusCode="1")]),
    )

    records = [record async for record in client.classifications.portfolio(CONTRACT, start="501")]

    assert [r.endorsementNo for r in records] == ["501", "300002"]
    assert [fake.query(n).get("nextEndorsementNo") for n in range(2)] == ["501", "300002"]


async def test_an_empty_portfolio(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/portfolio", answer(paginationData={"nextEndorsementNo": "0"}, result=[]))

    assert [record async for record in client.classifications.portfolio(CONTRACT)] == []
    assert len(fake.api_requests) == 1


async def test_a_page_without_a_result_list_is_a_protocol_error(fake: FakeCesce, client: CesceClient) -> None:
    fake.route("GET", f"{BASE}/movements", answer(paginationData={"nextEndorsementNo": "0"}))

    with pytest.raises(CesceProtocolError, match="result"):
        [record async for record in client.classifications.movements(CONTRACT)]


async def test_an_endorsement_cursor_that_repeats_is_a_protocol_error(fake: FakeCesce, client: CesceClient) -> None:
    fake.route(
        "GET",
        f"{BASE}/portfolio",
        answer(paginationData={"nextEndorsementNo": "3"}, result=[classification_row("1")]),
    )

    with pytest.raises(CesceProtocolError, match="nextEndorsementNo"):
        [record async for record in client.classifications.portfolio(CONTRACT)]
