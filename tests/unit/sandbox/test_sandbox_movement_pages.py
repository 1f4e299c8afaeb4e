"""Item: movements pages hold at most 500 records, the denials counted inside the 500 (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workers.sandbox import classifications as cls
from workers.sandbox import portfolio as pf
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Ledger

ORO = "34109150331"
NOW = datetime(2023, 4, 30, 10, tzinfo=UTC)
SIZE = 500


@pytest.fixture
def ledger() -> Ledger:
    return load_ledger(read_scenario(None))


def submit(ledger: Ledger, when: datetime, **data: str) -> dict[str, Any]:
    fields = {"creditLimitRequested": "1000,00", "nonPaymentInd": "N"} | data
    return cls.submit(ledger, ledger.contracts[ORO], fields, when)


def fill(ledger: Ledger, granted: int, denied: int) -> None:
    start = NOW - timedelta(hours=1)
    for n in range(denied):
        # denials of known debtors: numbered by a 300xxx request (000), which is no supplement to page by
        denial = {"customerReference": f"CLI-000{1 + n % 5}", "nonPaymentInd": "Y", "nonPaymentAmount": "10,00"}
        submit(ledger, start + timedelta(seconds=n), **denial)
    for n in range(granted):
        submit(ledger, start + timedelta(seconds=denied + n), countryCode="ES", taxCode=f"G{n:07d}")


def _denial(record: dict[str, Any]) -> bool:
    return bool(record["statusCode"] == "3")


def walk(ledger: Ledger) -> tuple[list[list[dict[str, Any]]], list[str]]:
    entries = pf.movements(ledger, ORO, NOW)
    pages, cursors, start = [], [], 0
    while True:
        records, following = pf.page(entries, start, SIZE)
        pages.append(records)
        cursors.append(following)
        if following == "0":
            return pages, cursors
        start = int(following)


def test_denials_count_inside_the_first_page_of_500(ledger: Ledger) -> None:
    """001 lines 648-649: "En Producción se muestran hasta 500 registros por página, por tanto si la
    póliza tiene más de 500 deudores será necesaria la paginación." and lines 711-712, for the movements:
    "hay que tener en cuenta la paginación (el campo nextEndorsementNo) con los mismos criterios"."""
    fill(ledger, granted=600, denied=3)
    pages, cursors = walk(ledger)
    assert [len(page) for page in pages] == [500, 103]
    first = pages[0]
    assert [r.get("endorsementNo") for r in first[:3]] == ["300001", "300002", "300003"]  # the denials, oldest first
    assert all(r["statusCode"] == "3" for r in first[:3])
    numbered = [int(r["endorsementNo"]) for page in pages for r in page if not _denial(r)]
    assert numbered == sorted(numbered)
    assert len(numbered) == len(set(numbered)) == 600
    assert cursors == [str(numbered[497]), "0"]  # the first number the first page could not hold


def test_exactly_500_with_denials_is_one_page(ledger: Ledger) -> None:
    """001 lines 656-658: "... nextEndorsementNo 501 ... y así sucesivamente hasta que en la respuesta salga 0"."""
    fill(ledger, granted=498, denied=2)
    pages, cursors = walk(ledger)
    assert [len(page) for page in pages] == [500]
    assert cursors == ["0"]


def test_a_page_full_of_denials_hands_the_numbered_records_to_the_next(ledger: Ledger) -> None:
    """001 line 648: "se muestran hasta 500 registros por página" - never more, whatever the records are."""
    fill(ledger, granted=5, denied=SIZE)
    pages, cursors = walk(ledger)
    assert [len(page) for page in pages] == [500, 5]
    assert all(_denial(r) for r in pages[0])
    assert not any(_denial(r) for r in pages[1])
    assert cursors[-1] == "0"


def test_later_pages_never_repeat_the_denials(ledger: Ledger) -> None:
    """001 line 650: the cursor "indica el nº de suplemento por el que empieza la siguiente página"."""
    fill(ledger, granted=700, denied=4)
    pages, _ = walk(ledger)
    assert sum(1 for page in pages for r in page if _denial(r)) == 4
    assert not any(_denial(r) for page in pages[1:] for r in page)
    assert max(len(page) for page in pages) == SIZE
