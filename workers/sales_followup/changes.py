"""What changed: Cesce's sales list compared with the last known state of each sale.

Pure: no Kafka, no HTTP. `compare` takes the known states of one contract (the compacted topic
``cesce.sale-states``, `SaleState` values by key ``contractNo/saleCesceReferenceNo``) and the sales one read of
the sales list returned, and gives the sale changes to publish and the state writes that go with them, in one
transaction (assumptions "sales-followup").

- A sale first seen is remembered without an event (our own declarations, the first read's baseline), except an
  extended sale (it carries ``maturityAmount``, 000 "Prórrogas"): one EXTENDED change naming the sale it extends,
  the latest other sale of the contract with its invoiceNo (the one Cesce made PRORROGADA, when there is one).
  That sale's own move to PRORROGADA, seen in the same read, is part of the extension, not a second change.
- A known sale read again: statusCode / reasonStatusCode changed is STATUS; collectedAmount, COLLECTED;
  maturityAmount, EXTENDED; the declared data (invoiceNo, dates, amount, currency, debtor), MODIFIED; rates or
  premiums with the declared data unchanged, RETARIFFED. One change per sale and read, with every kind that
  applies. Unchanged, or older than what is known (statusDate), nothing.
- A sale's state is forgotten 400 days after the later of its maturityDate and statusDate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from workers.cesce.assumptions import SaleStatus
from workers.cesce.codecs import MADRID
from workers.cesce.models.sales import SaleListItem
from workers.polling.poller import Comparison

__all__ = [
    "CHANGE_SCHEMA",
    "STATE_SCHEMA",
    "Comparison",
    "Kind",
    "change_key",
    "compare",
    "state_key",
    "state_of",
]

STATE_SCHEMA: Final = "cesce.state.SaleState"
CHANGE_SCHEMA: Final = "cesce.results.SaleChange"
KEPT: Final = timedelta(days=400)
"""How long a sale's state outlives the later of its maturityDate and statusDate."""

_STATUS: Final = ("statusCode", "reasonStatusCode")
_DATA: Final = (
    "endorsementNo",
    "customerReference",
    "invoiceNo",
    "invoiceDate",
    "acquisitionDate",
    "maturityDate",
    "currencyAmount",
    "currencyCode",
    "countervalueAmount",
    "currencyContractCode",
)
_TARIFF: Final = ("commercialRiskRate", "commercialRiskPremium", "politicalRiskRate", "politicalRiskPremium")
_COMPARED: Final = (*_STATUS, *_DATA, *_TARIFF, "collectedAmount", "maturityAmount")
_STATE_FIELDS: Final = ("saleCesceReferenceNo", *_COMPARED, "statusDate")


class Kind(StrEnum):
    STATUS = "STATUS"
    RETARIFFED = "RETARIFFED"
    COLLECTED = "COLLECTED"
    EXTENDED = "EXTENDED"
    MODIFIED = "MODIFIED"


def state_key(contract_no: str, reference: str) -> str:
    return f"{contract_no}/{reference}"


def change_key(change: Mapping[str, Any]) -> str:
    """The sale changes' key: a sale's changes, and its extension's, in one partition, in order."""
    return state_key(change["contractNo"], change["extendedSaleCesceReferenceNo"] or change["saleCesceReferenceNo"])


def state_of(contract_no: str, item: SaleListItem, seen_at: datetime) -> dict[str, Any]:
    values = item.model_dump(include=set(_STATE_FIELDS))
    return {"contractNo": contract_no, **{name: values.get(name) for name in _STATE_FIELDS}, "seenAt": seen_at}


def compare(
    contract_no: str, known: Mapping[str, Mapping[str, Any]], items: Iterable[SaleListItem], *, now: datetime
) -> Comparison:
    """The changes between `known` (this contract's sale states by key) and the sales one read returned."""
    found = Comparison()
    current: dict[str, Mapping[str, Any]] = dict(known)
    events: list[tuple[list[Kind], Mapping[str, Any] | None, Mapping[str, Any]]] = []
    seen: set[str] = set()
    for item in items:
        new = state_of(contract_no, item, now)
        key = state_key(contract_no, new["saleCesceReferenceNo"])
        seen.add(key)
        old = current.get(key)
        if old is not None and (_same(old, new) or _older(new, old)):
            continue
        current[key] = found.writes[key] = new
        kinds = [Kind.EXTENDED] if old is None and new["maturityAmount"] is not None else _kinds(old, new)
        if kinds:
            events.append((kinds, old, new))
    extended = {_extended(current, state) for _, known_before, state in events if known_before is None}
    for kinds, known_before, state in events:
        if known_before is None:
            original_key = _extended(current, state)
            original = current.get(original_key) if original_key else None
            before = known.get(original_key, original) if original_key else None
            found.changes.append(_change(kinds, before, state, original, now))
        elif kinds == [Kind.STATUS] and state["statusCode"] == SaleStatus.EXTENDED and _key(state) in extended:
            continue  # the sale an extension of this read replaced: part of that EXTENDED change
        else:
            found.changes.append(_change(kinds, known_before, state, None, now))
    _forget(contract_no, current, seen, found, now)
    return found


def _key(state: Mapping[str, Any]) -> str:
    return state_key(state["contractNo"], state["saleCesceReferenceNo"])


def _same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return all(old.get(name) == new.get(name) for name in _COMPARED)


def _older(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    before, now = old.get("statusDate"), new.get("statusDate")
    return before is not None and now is not None and now < before


def _differs(old: Mapping[str, Any], new: Mapping[str, Any], names: Iterable[str]) -> bool:
    return any(old.get(name) != new.get(name) for name in names)


def _kinds(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Kind]:
    if old is None:
        return []  # first seen: remembered, nothing to tell
    kinds = []
    if _differs(old, new, _STATUS):
        kinds.append(Kind.STATUS)
    if _differs(old, new, ("collectedAmount",)):
        kinds.append(Kind.COLLECTED)
    if _differs(old, new, ("maturityAmount",)):
        kinds.append(Kind.EXTENDED)
    if _differs(old, new, _DATA):
        kinds.append(Kind.MODIFIED)  # its premiums follow the new data: no re-tariffing of its own
    elif _differs(old, new, _TARIFF):
        kinds.append(Kind.RETARIFFED)
    return kinds


def _extended(current: Mapping[str, Mapping[str, Any]], new: Mapping[str, Any]) -> str | None:
    """The key of the sale `new` (an extended sale) extends: the latest earlier sale with its invoiceNo, one made
    PRORROGADA first."""
    reference = new["saleCesceReferenceNo"]
    candidates = [
        state
        for state in current.values()
        if state["contractNo"] == new["contractNo"]
        and state["invoiceNo"] == new["invoiceNo"]
        and state["saleCesceReferenceNo"] < reference
    ]
    if not candidates:
        return None
    best = max(candidates, key=lambda s: (s["statusCode"] == SaleStatus.EXTENDED, s["saleCesceReferenceNo"]))
    return _key(best)


def _forget(
    contract_no: str, current: Mapping[str, Mapping[str, Any]], seen: set[str], found: Comparison, now: datetime
) -> None:
    oldest: date = (now - KEPT).astimezone(MADRID).date()
    for key, state in current.items():
        if key in seen or not key.startswith(f"{contract_no}/"):
            continue
        last = max(d for d in (state["maturityDate"], state.get("statusDate")) if d is not None)
        if last < oldest:
            found.writes[key] = None


def _change(
    kinds: list[Kind],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    original: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """A `SaleChange`. For an extension, `old` is the extended sale as known before, `original` as it is now."""

    def before(name: str) -> Any:
        return old.get(name) if old is not None else None

    digest = hashlib.sha256(repr([new.get(name) for name in _COMPARED]).encode()).hexdigest()[:16]
    status_date: date | None = new.get("statusDate")
    return {
        "changeId": f"{_key(new)}@{status_date.isoformat() if status_date else '-'}:{digest}",
        "kinds": [kind.value for kind in kinds],
        "contractNo": new["contractNo"],
        "saleCesceReferenceNo": new["saleCesceReferenceNo"],
        "extendedSaleCesceReferenceNo": original["saleCesceReferenceNo"] if original is not None else None,
        **{name: new[name] for name in ("endorsementNo", "customerReference", "invoiceNo", "invoiceDate")},
        "previousMaturityDate": before("maturityDate"),
        "maturityDate": new["maturityDate"],
        "previousStatusCode": before("statusCode"),
        "statusCode": new["statusCode"],
        "previousReasonStatusCode": before("reasonStatusCode"),
        "reasonStatusCode": new["reasonStatusCode"],
        "currencyContractCode": new["currencyContractCode"],
        "countervalueAmount": new["countervalueAmount"],
        **{f"previous{name[0].upper()}{name[1:]}": before(name) for name in _TARIFF},
        **{name: new[name] for name in _TARIFF},
        "previousCollectedAmount": before("collectedAmount"),
        "collectedAmount": new["collectedAmount"],
        "maturityAmount": new["maturityAmount"],
        "statusDate": status_date,
        "detectedAt": now,
    }
