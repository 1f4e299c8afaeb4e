"""Item: the paging parameter's other spellings in the guide are accepted or refused, never ignored."""

from __future__ import annotations

import pytest

from workers.cesce.assumptions import ERROR_CODE_VALIDATION, PAGE_CURSOR_ALIASES, PAGE_CURSOR_REFUSED
from workers.sandbox import portfolio as pf
from workers.sandbox.wire import ApiError


def refusal(params: dict[str, str]) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as refused:
        pf.cursor(params)
    return refused.value.status, refused.value.code, refused.value.description


def test_the_documented_cursor() -> None:
    """001 lines 656-657: "la respuesta nos da un nextEndorsementNo 501. En tal caso habrá que hacer una
    segunda petición" - and it is sent empty (or not at all) on the first."""
    assert pf.cursor({"nextEndorsementNo": "501"}) == 501
    assert pf.cursor({"nextEndorsementNo": ""}) == 0
    assert pf.cursor({}) == 0
    assert pf.cursor({"languageCode": "ES"}) == 0


@pytest.mark.parametrize("name", ["nextEndorsmentNo", "nextEndorsment", "NextEndorsementNo", "nextendorsementno"])
def test_the_guides_other_spellings_are_the_cursor(name: str) -> None:
    """001 line 645: 'Campo "nextEndorsmentNo": Este campo indica la paginación necesaria' and line 657:
    "añadiendo el campo nextEndorsment con el valor 501" - the same field, spelled otherwise."""
    assert pf.cursor({name: "501"}) == 501
    assert pf.cursor({name: ""}) == 0
    assert name.casefold() in {alias.casefold() for alias in PAGE_CURSOR_ALIASES}


def test_a_malformed_alias_is_refused_under_its_own_name() -> None:
    """001 line 656: the cursor is a supplement number ("nextEndorsementNo 501")."""
    assert refusal({"nextEndorsment": "5x1"}) == (422, ERROR_CODE_VALIDATION, "'nextEndorsment' is invalid.")


def test_two_spellings_that_disagree_are_refused() -> None:
    """001 line 650: the field "indica el nº de suplemento por el que empieza la siguiente página": one page."""
    assert pf.cursor({"nextEndorsementNo": "501", "nextEndorsment": "501"}) == 501
    assert refusal({"nextEndorsementNo": "501", "nextEndorsment": "1001"}) == (
        422,
        ERROR_CODE_VALIDATION,
        "'nextEndorsment' is invalid.",
    )


@pytest.mark.parametrize("name", ["initialValue", "INITIALVALUE"])
def test_the_sales_lists_cursor_is_refused_not_ignored(name: str) -> None:
    """001 line 1034: "Para ello se utilizará el campo initialValue" - said of the sales list (4.3.2), not of
    the portfolio or the movements: sent there it is refused by name."""
    assert name.casefold() in {refused.casefold() for refused in PAGE_CURSOR_REFUSED}
    assert refusal({name: "2"}) == (422, ERROR_CODE_VALIDATION, f"'{name}' is invalid.")
