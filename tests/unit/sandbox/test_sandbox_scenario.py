"""Scenario loading, the clock, the answer envelope and the drop log filter."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from workers.cesce.assumptions import ClassificationStatus
from workers.sandbox.clock import SandboxClock
from workers.sandbox.middleware import DropLogFilter
from workers.sandbox.scenario import ScenarioError, load_ledger, read_scenario
from workers.sandbox.wire import ApiError, amount, ok


def test_the_default_scenario_matches_the_wire_specification() -> None:
    ledger = load_ledger(read_scenario(None))
    oro, clasica, expired = (ledger.contracts[c] for c in ("34109150331", "38100029218", "34100000017"))
    today = date(2026, 1, 1)
    assert (oro.name, oro.credit_note_supplement, oro.foreign_debtors, oro.in_force(today)) == (
        "Máster Oro Integral",
        True,
        True,
        True,
    )
    assert [s.number for s in oro.subsidiaries] == ["0", "1", "2"]
    assert oro.subsidiaries[0].name == "Central"
    assert (clasica.name, clasica.credit_note_supplement, clasica.foreign_debtors) == ("Póliza Clásica", False, False)
    assert not expired.in_force(today)
    assert oro.commercial_rate == Decimal("0.13752")
    assert oro.commercial_cover_pct == Decimal("95.00")
    assert [d.endorsement_no for d in ledger.debtors] == list(range(1, 11))
    by_reference = {d.customer_reference: d for d in ledger.debtors}
    assert {f"CLI-000{n}" for n in range(1, 6)} <= set(by_reference)
    assert by_reference["CLI-FR-01"].country_code == "FR"
    assert by_reference["CLI-BAJA-01"].record.status is ClassificationStatus.CANCELLED
    assert {d.contract_no for d in ledger.debtors} == {oro.contract_no, clasica.contract_no, expired.contract_no}
    assert ledger.settings.auto_grant_threshold == Decimal("100000.00")


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def contract(**changes: Any) -> dict[str, Any]:
    base = {"contractNo": "38100000001", "name": "X", "validFrom": "20200101", "validTo": "20301231"}
    return base | changes


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ("{not json", "not JSON"),
        ([], "JSON object"),
        ({"contracts": []}, "non-empty list"),
        ({"contracts": [contract(contractNo="9990000001")]}, "11 digits"),
        ({"contracts": [contract(), contract()]}, "listed twice"),
        ({"contracts": [contract(validTo="20000101")]}, "before validFrom"),
        ({"contracts": [contract(validFrom="2020-01-01")]}, "validFrom"),
        ({"contracts": [contract(factoring="maybe")]}, "factoring"),
        (
            {"contracts": [contract(debtors=[{"countryCode": "FR", "taxCode": "1", "requestDate": "20230101"}])]},
            "foreign",
        ),
        (
            {"contracts": [contract(debtors=[{"countryCode": "ES", "taxCode": "1", "statusCode": "3"}])]},
            "statusCode",
        ),
        ({"contracts": [contract()], "settings": {"salesPageSize": 0}}, "salesPageSize"),
        ({"contracts": [contract()], "settings": {"pendingResolveSeconds": "soon"}}, "pendingResolveSeconds"),
    ],
)
def test_a_bad_scenario_fails_loudly(tmp_path: Path, data: Any, complaint: str) -> None:
    with pytest.raises(ScenarioError, match=complaint):
        load_ledger(read_scenario(write(tmp_path, data)))


def test_a_minimal_scenario_takes_defaults(tmp_path: Path) -> None:
    debtor = {"countryCode": "ES", "taxCode": "B1", "creditLimitGranted": "10,00", "requestDate": "20230101"}
    ledger = load_ledger(read_scenario(write(tmp_path, {"contracts": [contract(debtors=[debtor])]})))
    loaded = ledger.contracts["38100000001"]
    assert (loaded.currency, loaded.modification_extra_days, loaded.credit_note_supplement) == ("EUR", 10, False)
    assert ledger.settings.portfolio_page_size == 500
    assert ledger.debtors[0].record.requested == Decimal("10.00")


def test_the_clock_moves_and_lands_on_noon_in_madrid() -> None:
    wall_now = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    clock = SandboxClock(lambda: wall_now)
    assert clock.now() == wall_now
    clock.advance(3600)
    assert clock.now() == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    clock.set_today(date(2023, 4, 30))
    assert clock.today() == date(2023, 4, 30)
    assert clock.now() == datetime(2023, 4, 30, 10, tzinfo=UTC)  # 12:00 CEST
    clock.set_today(date(2023, 1, 15))
    assert clock.now() == datetime(2023, 1, 15, 11, tzinfo=UTC)  # 12:00 CET
    assert clock.epoch_seconds() == int(datetime(2023, 1, 15, 11, tzinfo=UTC).timestamp())


def test_today_is_the_madrid_date() -> None:
    late_evening_utc = datetime(2023, 4, 30, 22, 30, tzinfo=UTC)  # 00:30 on 1 May in Madrid
    assert SandboxClock(lambda: late_evening_utc).today() == date(2023, 5, 1)


def test_envelopes_and_amounts() -> None:
    assert ok(result=[]) == {"error": {"errorCode": "0", "errorDescription": ""}, "result": []}
    assert amount(Decimal("0.125")) == "0,12"
    assert amount(Decimal("-1234.5")) == "-1234,50"
    error = ApiError(429, "29", "Too Many Requests", {"Retry-After": "2"})
    response = error.response()
    assert (response.status_code, response.headers["retry-after"]) == (429, "2")
    assert json.loads(bytes(response.body)) == {"error": {"errorCode": "29", "errorDescription": "Too Many Requests"}}


def test_the_drop_filter_passes_every_record_outside_a_drop() -> None:
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom", None, None)
    assert DropLogFilter().filter(record)
