"""Portfolio and movements (guide 3.2.2 and 3.2.3): whole-portfolio and 48-hour reads, paged.

Both are ordered by endorsementNo numerically, ``portfolioPageSize`` (500) records a page. A
page starts at the first endorsementNo >= the request's nextEndorsementNo, and the answer's
nextEndorsementNo is the first endorsementNo of the next page, "0" on the last page (the
guide: "nos da un nextEndorsementNo 501 ... hasta que en la respuesta salga 0").

- Portfolio: every debtor in force, cancelled or EN TRÁMITE, and beside a debtor its 300xxx
  request while pending. Denied requests never generated a supplement and are absent.
- Movements: records whose statusDate lies within the 48 hours before the sandbox's now;
  never one EN TRÁMITE ("no se mostrará el registro mientras la situación sea en trámite");
  denials included. A denial has no endorsementNo to page by: they come first on the first page,
  in the order they happened, and count inside its 500 ("se muestran hasta 500 registros por
  página"): the numbered records fill what they leave. More than a page of denials in 48 hours is
  not emulated: the first page carries the oldest 500.

The cursor's name: the guide also spells it "nextEndorsmentNo" and "nextEndorsment" (guide 3.2.2);
any of the three, in any letter case, is the cursor (`PAGE_CURSOR_ALIASES`). ``initialValue`` is the
Sales list's cursor (guide 4.3.2): sent here it is refused, 422 "'initialValue' is invalid.", never
ignored; so are two spellings with different values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from workers.cesce.assumptions import PAGE_CURSOR_ALIASES, PAGE_CURSOR_REFUSED, ClassificationStatus
from workers.sandbox.debtors import record_wire
from workers.sandbox.fields import Field, Kind, read_query
from workers.sandbox.state import Classification, Debtor, Ledger
from workers.sandbox.wire import invalid

__all__ = ["MOVEMENTS_WINDOW", "PAGE_QUERY_FIELDS", "Entry", "cursor", "movements", "page", "portfolio"]

MOVEMENTS_WINDOW: Final = timedelta(hours=48)
PAGE_QUERY_FIELDS: Final = (
    Field("languageCode", Kind.LANGUAGE, required=True),
    Field("nextEndorsementNo", Kind.DIGITS),
)

Entry = tuple[int | None, Debtor, Classification]


def portfolio(ledger: Ledger, contract_no: str) -> list[Entry]:
    entries: list[Entry] = []
    for debtor in ledger.debtors_of(contract_no):
        number = debtor.endorsement_no
        if number is not None and debtor.record.status is not ClassificationStatus.REJECTED:
            entries.append((number, debtor, debtor.record))
        if debtor.pending is not None:
            entries.append((debtor.pending.endorsement_no, debtor, debtor.pending))
    return entries


def movements(ledger: Ledger, contract_no: str, now: datetime) -> list[Entry]:
    def recent(record: Classification) -> bool:
        return now - MOVEMENTS_WINDOW <= record.status_at <= now and record.status is not ClassificationStatus.PENDING

    entries: list[Entry] = [(d.endorsement_no, d, d.record) for d in ledger.debtors_of(contract_no) if recent(d.record)]
    entries += [
        (None, x.debtor, x.record) for x in ledger.denials if x.debtor.contract_no == contract_no and recent(x.record)
    ]
    return entries


def cursor(params: Mapping[str, str]) -> int:
    """The page's start from the query: nextEndorsementNo or one of its other spellings (0 when absent or blank)."""
    starts: dict[str, int] = {}
    for name, value in params.items():
        folded = name.casefold()
        if folded in _REFUSED:
            raise invalid(name)
        if folded in _ALIASES:
            # sent blank on the first call; any spelling is checked as the documented one is (digits)
            checked = read_query({name: value}, (Field(name, Kind.DIGITS),), cursors=(name,))
            if name in checked:
                starts[name] = int(checked[name])
    if len(set(starts.values())) > 1:
        raise invalid(max(starts, key=lambda name: name != "nextEndorsementNo"))
    return next(iter(starts.values()), 0)


_ALIASES: Final = frozenset(name.casefold() for name in PAGE_CURSOR_ALIASES)
_REFUSED: Final = frozenset(name.casefold() for name in PAGE_CURSOR_REFUSED)


def page(entries: Sequence[Entry], start: int, size: int) -> tuple[list[dict[str, Any]], str]:
    """The records of the page starting at endorsementNo `start` (0: the first page) and the next cursor.

    At most `size` records a page, the denials (first page only) included."""
    unnumbered = sorted((e for e in entries if e[0] is None), key=lambda e: e[2].status_at)[:size] if start == 0 else []
    numbered = sorted(
        (e for e in entries if e[0] is not None and e[0] >= start),
        key=lambda e: e[0] or 0,
    )
    room = size - len(unnumbered)
    chosen = [*unnumbered, *numbered[:room]]
    following = str(numbered[room][0]) if len(numbered) > room else "0"
    return [record_wire(debtor, record) for _, debtor, record in chosen], following
