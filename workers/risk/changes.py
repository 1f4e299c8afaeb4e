"""What changed: Cesce's classification records compared with the last known state of each.

Pure: no Kafka, no HTTP. `compare` takes the known states of one contract (the compacted topic
``cesce.risk-limits``, `RiskLimit` values by key) and the records one read returned, and gives the
risk changes to publish and the state writes that go with them, in one transaction.

Keys of the state (assumptions "risk-state-keys"):
- a numbered record: ``contractNo/endorsementNo`` (a supplement, or a 300xxx request EN TRÁMITE);
- a denial that generated no supplement (no endorsementNo): ``contractNo/-/countryCode/taxCode/
  requestDate/creditLimitRequested``, one key per denial, forgotten once it is older than the
  movements can show, so overlapping 48-hour windows meet it again as known.

A record equal to its known state produces nothing; an older one (statusDate before the known
one) is ignored. A 300xxx request EN TRÁMITE is not a second debtor: its decision shows on the
debtor's supplement (granted: the supplement takes the request's creditLimitRequested and
requestDate) or as a denial of that request, and is one PENDING_DECIDED; the 300xxx key is then
deleted. In a whole-portfolio read, a request EN TRÁMITE that is gone with no decision seen can
only have been denied while nobody read the movements: PENDING_DECIDED, ``inferred``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from workers.cesce import Classification
from workers.cesce.assumptions import ClassificationStatus
from workers.cesce.codecs import MADRID
from workers.polling.poller import Comparison

__all__ = [
    "CHANGE_SCHEMA",
    "LIMIT_SCHEMA",
    "Comparison",
    "Kind",
    "Source",
    "compare",
    "debtor_key",
    "state_key",
]

LIMIT_SCHEMA: Final = "cesce.state.RiskLimit"
CHANGE_SCHEMA: Final = "cesce.results.RiskChange"
DENIALS_KEPT: Final = timedelta(days=3)
"""How long a denial's key is kept: longer than the 48-hour movements can show it again."""

_PENDING, _IN_FORCE, _REJECTED, _CANCELLED = (s.value for s in ClassificationStatus)
# every field of Cesce's record of a debtor that cesce.state.RiskLimit keeps; the PPC activation and the premium
# awaiting acceptance (assumptions "activate-deactivate", "accept-deny-premium") are the credit-request worker's
_NOT_KEPT: Final = frozenset({"activeInd", "premiumAmount", "premiumPendingInd"})
_COMPARED: Final = tuple(name for name in Classification.model_fields if name not in _NOT_KEPT)

_log = logging.getLogger(__name__)


class Kind(StrEnum):
    NEW_LIMIT = "NEW_LIMIT"
    INCREASED = "INCREASED"
    REDUCED = "REDUCED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    PENDING_DECIDED = "PENDING_DECIDED"


class Source(StrEnum):
    MOVEMENTS = "MOVEMENTS"
    PORTFOLIO = "PORTFOLIO"


def state_key(contract_no: str, state: Mapping[str, Any]) -> str:
    """Where a record's state lives in the compacted topic (see the module's doc)."""
    number = state.get("endorsementNo")
    if number:
        return f"{contract_no}/{number}"
    requested = f"{state['creditLimitRequested']:.2f}"
    return f"{contract_no}/-/{state['countryCode']}/{state['taxCode']}/{state['requestDate'].isoformat()}/{requested}"


def debtor_key(contract_no: str, state: Mapping[str, Any]) -> str:
    """The risk changes' key: every change of one debtor in one partition, in order."""
    return f"{contract_no}/{state['countryCode']}/{state['taxCode']}"


def state_of(contract_no: str, record: Classification, seen_at: datetime) -> dict[str, Any]:
    values = record.model_dump(include=set(_COMPARED))
    return {"contractNo": contract_no, **{name: values.get(name) for name in _COMPARED}, "seenAt": seen_at}


def compare(
    contract_no: str,
    known: Mapping[str, Mapping[str, Any]],
    records: Iterable[Classification],
    *,
    source: Source,
    now: datetime,
) -> Comparison:
    """The changes between `known` (this contract's states by key) and what one read returned.

    `source` PORTFOLIO means `records` hold the whole portfolio (and the movements read with it),
    so a request EN TRÁMITE missing from them is known to be decided.
    """
    found = Comparison()
    current: dict[str, Mapping[str, Any]] = dict(known)
    pending = _Pending(current)
    seen: set[str] = set()
    for record in records:
        new = state_of(contract_no, record, now)
        key = state_key(contract_no, new)
        seen.add(key)
        old = current.get(key)
        if old is not None and (_same(old, new) or new["statusDate"] < old["statusDate"]):
            continue
        request_key = None
        if new["statusCode"] != _PENDING and (old is None or old["statusCode"] != _PENDING):
            request_key = pending.decided_by(new, key)
        request = current.get(request_key) if request_key else None
        kind = _kind(old, new, decides_request=request is not None)
        current[key] = found.writes[key] = new
        pending.update(key, new)
        if request_key is not None:
            pending.update(request_key, None)
            current.pop(request_key)
            found.writes[request_key] = None
        if kind is not None:
            # a denial of a 300xxx request has no record of its own before: the request is what it changes
            before = old if old is not None else request
            found.changes.append(_change(kind, source, before, new, request, now=now, inferred=False))
    if source is Source.PORTFOLIO:
        _infer_denials(contract_no, current, seen, found, now)
    _forget_old_denials(current, seen, found, now)
    return found


def _same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return all(old.get(name) == new.get(name) for name in _COMPARED)


class _Pending:
    """The records EN TRÁMITE by debtor (countryCode, taxCode): which request a decided record decides."""

    def __init__(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        self._by_debtor: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
        self._debtor_of: dict[str, tuple[str, str]] = {}
        for key, state in states.items():
            self.update(key, state)

    def update(self, key: str, state: Mapping[str, Any] | None) -> None:
        """`key` now holds `state` (None: deleted)."""
        debtor = self._debtor_of.pop(key, None)
        if debtor is not None:
            self._by_debtor[debtor].pop(key, None)
        if state is not None and state["statusCode"] == _PENDING:
            debtor = (state["countryCode"], state["taxCode"])
            self._by_debtor.setdefault(debtor, {})[key] = state
            self._debtor_of[key] = debtor

    def decided_by(self, new: Mapping[str, Any], key: str) -> str | None:
        """The key of the debtor's other record EN TRÁMITE (a 300xxx) that `new` decides, if any."""
        for other, state in self._by_debtor.get((new["countryCode"], new["taxCode"]), {}).items():
            if (
                other != key
                and state["creditLimitRequested"] == new["creditLimitRequested"]
                and state["requestDate"] == new["requestDate"]
            ):
                return other
        return None


def _kind(old: Mapping[str, Any] | None, new: Mapping[str, Any], *, decides_request: bool) -> Kind | None:
    status = new["statusCode"]
    if status == _PENDING:
        return None  # a request EN TRÁMITE is only remembered; its decision is the change
    if decides_request or (old is not None and old["statusCode"] == _PENDING):
        return Kind.PENDING_DECIDED
    if status == _REJECTED:
        return Kind.REJECTED
    if status == _CANCELLED:
        return None if old is not None and old["statusCode"] == _CANCELLED else Kind.CANCELLED
    if status == _IN_FORCE:
        if old is None or old["statusCode"] != _IN_FORCE:
            return Kind.NEW_LIMIT
        granted, before = new["creditLimitGranted"], old["creditLimitGranted"]
        return Kind.INCREASED if granted > before else Kind.REDUCED if granted < before else None
    _log.warning("statusCode %r of %s is not documented: remembered, no change published", status, new["taxCode"])
    return None


def _infer_denials(
    contract_no: str, current: dict[str, Mapping[str, Any]], seen: set[str], found: Comparison, now: datetime
) -> None:
    for key, old in list(current.items()):
        if old["statusCode"] != _PENDING or key in seen:
            continue
        new = dict(old) | {
            "statusCode": _REJECTED,
            "reasonStatusCode": None,
            "creditLimitGranted": Decimal(0),
            "statusDate": now.astimezone(MADRID).date(),
            "seenAt": now,
        }
        _log.warning("%s: request %s EN TRÁMITE left the portfolio undecided: denied", contract_no, key)
        found.changes.append(_change(Kind.PENDING_DECIDED, Source.PORTFOLIO, old, new, None, now=now, inferred=True))
        current.pop(key)
        found.writes[key] = None


def _forget_old_denials(
    current: Mapping[str, Mapping[str, Any]], seen: set[str], found: Comparison, now: datetime
) -> None:
    """Denials the movements can no longer show (and this read did not show) leave the state."""
    oldest: date = (now - DENIALS_KEPT).astimezone(MADRID).date()
    for key, state in current.items():
        if not state.get("endorsementNo") and state["statusDate"] < oldest and key not in seen:
            found.writes[key] = None


def _change(
    kind: Kind,
    source: Source,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    request: Mapping[str, Any] | None,
    *,
    now: datetime,
    inferred: bool,
) -> dict[str, Any]:
    key = state_key(new["contractNo"], new)
    granted: Decimal = new["creditLimitGranted"]
    return {
        "changeId": f"{key}@{new['statusCode']}:{new['statusDate'].isoformat()}:{granted:.2f}",
        "kind": kind.value,
        "source": source.value,
        "inferred": inferred,
        "contractNo": new["contractNo"],
        **{name: new[name] for name in ("endorsementNo", "customerReference", "countryCode", "taxCode", "companyName")},
        "cesceCode": new["cesceCode"],
        "requestEndorsementNo": request["endorsementNo"] if request is not None else None,
        "previousStatusCode": old["statusCode"] if old is not None else None,
        "statusCode": new["statusCode"],
        "reasonStatusCode": new["reasonStatusCode"],
        "previousCreditLimitGranted": old["creditLimitGranted"] if old is not None else None,
        "creditLimitGranted": granted,
        "creditLimitRequested": new["creditLimitRequested"],
        "currencyCode": new["currencyCode"],
        "paymentTermsGranted": new["paymentTermsGranted"],
        "requestDate": new["requestDate"],
        "effectiveDate": new["effectiveDate"],
        "previousStatusDate": old["statusDate"] if old is not None else None,
        "statusDate": new["statusDate"],
        "detectedAt": now,
    }
