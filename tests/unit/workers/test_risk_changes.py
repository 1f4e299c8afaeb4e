"""Comparing Cesce's classification records with the last known state: which change, if any, each one is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from workers.cesce import Classification
from workers.risk import RiskTopics
from workers.risk.changes import Comparison, Source, compare, state_key, state_of

CONTRACT = "34109150331"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def record(number: str | None = "7", *, status: str = "2", granted: str = "50000", **fields: Any) -> Classification:
    values: dict[str, Any] = {
        "endorsementNo": number,
        "countryCode": "ES",
        "taxCode": "B12345674",
        "statusCode": status,
        "reasonStatusCode": "0",
        "creditLimitRequested": Decimal(fields.pop("requested", granted)),
        "creditLimitGranted": Decimal(granted),
        "currencyCode": "EUR",
        "requestDate": date(2024, 1, 2),
        "statusDate": date(2024, 1, 2),
    }
    return Classification.model_validate(values | fields)


def known(*records: Classification) -> dict[str, dict[str, Any]]:
    states = (state_of(CONTRACT, r, NOW - timedelta(days=1)) for r in records)
    return {state_key(CONTRACT, s): s for s in states}


def run(before: dict[str, dict[str, Any]], *records: Classification, source: Source = Source.MOVEMENTS) -> Comparison:
    return compare(CONTRACT, before, records, source=source, now=NOW)


def kinds(found: Comparison) -> list[str]:
    return [change["kind"] for change in found.changes]


def test_an_unchanged_record_changes_nothing() -> None:
    found = run(known(record()), record())
    assert (found.changes, found.writes) == ([], {})


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (None, record(), "NEW_LIMIT"),
        (record(granted="50000"), record(granted="60000", statusDate=date(2026, 11, 20)), "INCREASED"),
        (record(granted="50000"), record(granted="40000", statusDate=date(2026, 11, 20)), "REDUCED"),
        (record(), record(status="4", granted="0", statusDate=date(2026, 11, 20)), "CANCELLED"),
        (record(status="4", granted="0"), record(statusDate=date(2026, 11, 20)), "NEW_LIMIT"),
        (record(status="1", granted="0", requested="80000"), record(granted="80000"), "PENDING_DECIDED"),
        (None, record(None, status="3", granted="0"), "REJECTED"),
    ],
)
def test_each_kind(before: Classification | None, after: Classification, kind: str) -> None:
    found = run(known(before) if before else {}, after)
    assert kinds(found) == [kind]
    assert found.writes == {state_key(CONTRACT, state_of(CONTRACT, after, NOW)): state_of(CONTRACT, after, NOW)}


def test_a_change_in_nothing_that_counts_is_remembered_without_an_event() -> None:
    found = run(known(record()), record(paymentTermsGranted="90", statusDate=date(2026, 11, 20)))
    assert found.changes == []
    assert list(found.writes) == [f"{CONTRACT}/7"]


def test_a_record_older_than_the_known_one_is_ignored() -> None:
    newer = record(granted="30000", statusDate=date(2026, 11, 19))
    assert run(known(newer), record()).changes == []


def test_a_300xxx_request_decided_on_the_supplement_is_one_pending_decided() -> None:
    supplement = record("7", granted="50000")
    request = record("300004", status="1", granted="0", requested="90000", requestDate=date(2026, 11, 18))
    granted = record("7", granted="75000", requested="90000", requestDate=date(2026, 11, 18))
    found = run(known(supplement, request), granted)
    (change,) = found.changes
    assert (change["kind"], change["requestEndorsementNo"], change["endorsementNo"]) == (
        "PENDING_DECIDED",
        "300004",
        "7",
    )
    assert (change["previousCreditLimitGranted"], change["creditLimitGranted"]) == (Decimal(50000), Decimal(75000))
    assert found.writes[f"{CONTRACT}/300004"] is None, "the request is forgotten"


def test_a_300xxx_request_denied_is_one_pending_decided_not_a_rejection() -> None:
    request = record("300004", status="1", granted="0", requested="90000", requestDate=date(2026, 11, 18))
    denial = record(None, status="3", granted="0", requested="90000", requestDate=date(2026, 11, 18))
    found = run(known(record("7"), request), denial)
    (change,) = found.changes
    assert (change["kind"], change["previousStatusCode"], change["statusCode"]) == ("PENDING_DECIDED", "1", "3")
    assert found.writes[f"{CONTRACT}/300004"] is None


def test_a_pending_request_gone_from_the_portfolio_is_inferred_denied_only_by_a_portfolio_read() -> None:
    request = record("300004", status="1", granted="0", requested="90000")
    before = known(record("7"), request)
    assert run(before, record("7")).changes == []
    found = run(before, record("7"), source=Source.PORTFOLIO)
    (change,) = found.changes
    assert (change["kind"], change["inferred"], change["statusCode"]) == ("PENDING_DECIDED", True, "3")
    assert change["statusDate"] == date(2026, 11, 20)
    assert found.writes == {f"{CONTRACT}/300004": None}


def test_denials_are_one_key_each_and_forgotten_once_the_movements_cannot_show_them() -> None:
    first = record(None, status="3", granted="0", requested="10000", statusDate=date(2026, 11, 19))
    second = record(None, status="3", granted="0", requested="20000", statusDate=date(2026, 11, 20))
    found = run({}, first, second)
    assert kinds(found) == ["REJECTED", "REJECTED"]
    assert len(found.writes) == 2
    assert run(known(first, second), second, first).changes == [], "an overlapping window"
    old = record(None, status="3", granted="0", statusDate=date(2026, 11, 10))
    assert run(known(old), record()).writes[state_key(CONTRACT, state_of(CONTRACT, old, NOW))] is None


def test_a_change_id_names_the_change() -> None:
    after = record(granted="40000", statusDate=date(2026, 11, 20))
    (change,) = run(known(record()), after).changes
    assert change["changeId"] == f"{CONTRACT}/7@2:2026-11-20:40000.00"


def test_contracts_are_a_comma_separated_list_of_contract_numbers() -> None:
    topics = RiskTopics.model_validate({"RISK_CONTRACTS": f" {CONTRACT}, 38100029218 "})
    assert topics.contract_numbers == (CONTRACT, "38100029218")
    with pytest.raises(ValidationError, match="11 digits"):
        RiskTopics.model_validate({"RISK_CONTRACTS": "12345"})
    with pytest.raises(ValidationError, match="RISK_CONTRACTS"):
        RiskTopics.model_validate({})
