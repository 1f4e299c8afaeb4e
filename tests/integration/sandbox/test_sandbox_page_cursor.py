"""Item: over HTTP, the guide's other spellings of the paging parameter are accepted or refused, never ignored."""

from __future__ import annotations

from typing import Any

import pytest

from workers.cesce.assumptions import ERROR_CODE_VALIDATION

pytestmark = pytest.mark.integration

CLASICA = "38100029218"  # the default scenario's Póliza Clásica: debtors 8 and 9
PORTFOLIO = f"/classifications/v1/contracts/{CLASICA}/portfolio"


def numbers(api: Any, **params: str) -> list[str]:
    response = api.get(PORTFOLIO, **params)
    assert response.status_code == 200, response.text
    return [r["endorsementNo"] for r in response.json()["result"]]


@pytest.mark.parametrize("spelling", ["nextEndorsementNo", "nextEndorsmentNo", "nextEndorsment", "NEXTENDORSEMENTNO"])
def test_every_spelling_of_the_cursor_starts_the_page_there(api: Any, spelling: str) -> None:
    """001 line 645: 'Campo "nextEndorsmentNo": Este campo indica la paginación necesaria'; lines 656-657:
    "nos da un nextEndorsementNo 501. En tal caso habrá que hacer una segunda petición de cartera añadiendo el
    campo nextEndorsment con el valor 501"."""
    assert numbers(api) == ["8", "9"]
    assert numbers(api, **{spelling: "9"}) == ["9"]
    assert numbers(api, **{spelling: ""}) == ["8", "9"]


@pytest.mark.parametrize("path", ["portfolio", "movements"])
def test_initial_value_is_refused_by_name(api: Any, path: str) -> None:
    """001 line 1034: "Para ello se utilizará el campo initialValue" - the sales list's cursor (4.3.2); on the
    classifications pages it is answered 422 naming it rather than silently ignored."""
    response = api.get(f"/classifications/v1/contracts/{CLASICA}/{path}", initialValue="9")
    assert api.error_of(response) == (422, ERROR_CODE_VALIDATION, "'initialValue' is invalid.")


def test_disagreeing_spellings_are_refused(api: Any) -> None:
    """001 line 650: the cursor "indica el nº de suplemento por el que empieza la siguiente página" - one page."""
    response = api.get(PORTFOLIO, nextEndorsementNo="8", nextEndorsment="9")
    assert api.error_of(response) == (422, ERROR_CODE_VALIDATION, "'nextEndorsment' is invalid.")
