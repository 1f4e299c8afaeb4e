"""Item: movements pages over HTTP hold at most 500 records, the denials counted inside the 500."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

ORO = "34109150331"
MOVEMENTS = f"/classifications/v1/contracts/{ORO}/movements"
GRANTED, DENIED = 502, 3


def test_more_than_500_movements_with_denials_page_by_500(api: Any) -> None:
    """001 lines 648-649: "En Producción se muestran hasta 500 registros por página, por tanto si la póliza tiene
    más de 500 deudores será necesaria la paginación." Lines 711-712, of the movements: "hay que tener en cuenta
    la paginación (el campo nextEndorsementNo) con los mismos criterios"; lines 697-698: "Nuevos deudores
    clasificados. Ya hayan quedado con crédito en vigor o hayan sido rechazados." """
    for n in range(DENIED):  # known debtors' denials: a 300xxx request number (000), no supplement to page by
        denied = api.classify(customerReference=f"CLI-000{n + 1}", nonPaymentInd="Y", nonPaymentAmount="10,00")
        assert denied.json()["generalData"]["statusCode"] == "3"
    for n in range(GRANTED):
        granted = api.classify(countryCode="ES", taxCode=f"G{n:07d}", creditLimitRequested="1000,00")
        assert granted.status_code == 201, granted.text
    pages: list[list[dict[str, Any]]] = []
    cursors: list[str] = []
    cursor = ""
    while True:
        body = api.get(MOVEMENTS, nextEndorsementNo=cursor).json()
        pages.append(body["result"])
        cursor = body["paginationData"]["nextEndorsementNo"]
        cursors.append(cursor)
        if cursor == "0" or len(pages) > 5:
            break
    assert [len(page) for page in pages] == [500, GRANTED + DENIED - 500]
    assert sum(r["statusCode"] == "3" for r in pages[0]) == DENIED
    assert all(r["statusCode"] != "3" for r in pages[1])
    numbers = [int(r["endorsementNo"]) for page in pages for r in page if r["statusCode"] != "3"]
    assert len(set(numbers)) == GRANTED
    assert cursors == [str(numbers[500 - DENIED]), "0"]
    assert int(pages[1][0]["endorsementNo"]) == numbers[500 - DENIED]
