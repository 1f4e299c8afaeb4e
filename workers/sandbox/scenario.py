"""Load a scenario (contracts, settings, pre-classified debtors) into a fresh `Ledger`.

A scenario is a JSON file in the wire's own style (camelCase, amounts "1234,50", dates
YYYYMMDD); ``scenarios/default.json`` is the reference. Pre-classified debtors get endorsement
numbers 1, 2, 3... in the order the file lists them, across all contracts, as one sandbox
numbers them. A scenario that breaks a rule fails loudly with `ScenarioError`, naming the place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final

from workers.cesce.assumptions import ClassificationStatus
from workers.cesce.codecs import CodecError, check_contract_no, decode_amount, decode_date
from workers.sandbox.clock import MADRID
from workers.sandbox.state import Classification, Contract, Debtor, Factoring, Ledger, Settings, Subsidiary

__all__ = ["DEFAULT_SCENARIO", "ScenarioError", "load_ledger", "read_scenario"]

DEFAULT_SCENARIO: Final = "default.json"
_LOADABLE_STATUSES: Final = {
    ClassificationStatus.PENDING,
    ClassificationStatus.IN_FORCE,
    ClassificationStatus.CANCELLED,
}


class ScenarioError(ValueError):
    """The scenario file is not valid; the message says where."""


def read_scenario(path: Path | None) -> dict[str, Any]:
    """The scenario's JSON: the file at `path`, or the packaged default."""
    if path is None:
        text = resources.files("workers.sandbox").joinpath("scenarios").joinpath(DEFAULT_SCENARIO).read_text("utf-8")
        where = DEFAULT_SCENARIO
    else:
        text = path.read_text("utf-8")
        where = str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: the scenario must be a JSON object")
    return data


def load_ledger(data: Mapping[str, Any]) -> Ledger:
    settings = _settings(_object(data, "settings", "scenario", required=False))
    contracts_data = data.get("contracts")
    if not isinstance(contracts_data, list) or not contracts_data:
        raise ScenarioError("scenario: 'contracts' must be a non-empty list")
    ledger = Ledger(settings=settings, contracts={})
    for index, item in enumerate(contracts_data):
        where = f"contracts[{index}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: must be an object")
        contract = _contract(item, where)
        if contract.contract_no in ledger.contracts:
            raise ScenarioError(f"{where}: contractNo {contract.contract_no} is listed twice")
        ledger.contracts[contract.contract_no] = contract
        debtors = item.get("debtors", [])
        if not isinstance(debtors, list):
            raise ScenarioError(f"{where}.debtors: must be a list")
        for position, debtor in enumerate(debtors):
            if not isinstance(debtor, dict):
                raise ScenarioError(f"{where}.debtors[{position}]: must be an object")
            _add_debtor(ledger, contract, debtor, f"{where}.debtors[{position}]")
    return ledger


def _settings(data: Mapping[str, Any]) -> Settings:
    rates = _object(data, "exchangeRates", "settings", required=False)
    resolve = data.get("pendingResolveSeconds", 3600)
    if resolve is not None and (isinstance(resolve, bool) or not isinstance(resolve, int | float) or resolve < 0):
        raise ScenarioError("settings.pendingResolveSeconds: must be a number of seconds >= 0 or null")
    return Settings(
        auto_grant_threshold=_amount(data, "autoGrantThreshold", "settings", default="100000,00"),
        pending_resolve_seconds=resolve,
        sales_page_size=_positive_int(data, "salesPageSize", "settings", 100),
        portfolio_page_size=_positive_int(data, "portfolioPageSize", "settings", 500),
        exchange_rates={code: _amount(rates, code, "settings.exchangeRates") for code in rates},
    )


def _contract(data: Mapping[str, Any], where: str) -> Contract:
    contract_no = _text(data, "contractNo", where)
    try:
        check_contract_no(contract_no)
    except CodecError as exc:
        raise ScenarioError(f"{where}.contractNo: {exc}") from exc
    subsidiaries = data.get("subsidiaries", [])
    if not isinstance(subsidiaries, list) or not all(isinstance(s, dict) for s in subsidiaries):
        raise ScenarioError(f"{where}.subsidiaries: must be a list of objects")
    factoring = data.get("factoring", Factoring.NONE.value)
    if factoring not in set(Factoring):
        raise ScenarioError(f"{where}.factoring: one of {[f.value for f in Factoring]}")
    valid_from = _date(data, "validFrom", where)
    valid_to = _date(data, "validTo", where)
    if valid_to < valid_from:
        raise ScenarioError(f"{where}: validTo is before validFrom")
    return Contract(
        contract_no=contract_no,
        name=_text(data, "name", where),
        valid_from=valid_from,
        valid_to=valid_to,
        currency=_text(data, "currencyCode", where, default="EUR"),
        credit_note_supplement=_flag(data, "creditNoteSupplement", where),
        foreign_debtors=_flag(data, "foreignDebtors", where),
        endorsements_supplement=_flag(data, "endorsementsSupplement", where),
        premium_acceptance_threshold=(
            _amount(data, "premiumAcceptanceThreshold", where) if "premiumAcceptanceThreshold" in data else None
        ),
        factoring=Factoring(factoring),
        modification_extra_days=_positive_int(data, "modificationExtraDays", where, 10),
        commercial_cover_pct=_amount(data, "commercialRiskCoverPct", where, default="95,00"),
        commercial_rate=_amount(data, "commercialRiskRate", where, default="0,13752"),
        political_cover_pct=_amount(data, "politicalRiskCoverPct", where, default="0,00"),
        political_rate=_amount(data, "politicalRiskRate", where, default="0,00000"),
        subsidiaries=tuple(
            Subsidiary(
                _text(s, "subsidiaryNo", f"{where}.subsidiaries"), _text(s, "subsidiaryName", f"{where}.subsidiaries")
            )
            for s in subsidiaries
        ),
    )


def _add_debtor(ledger: Ledger, contract: Contract, data: Mapping[str, Any], where: str) -> None:
    status_text = _text(data, "statusCode", where, default=ClassificationStatus.IN_FORCE.value)
    if status_text not in _LOADABLE_STATUSES:
        raise ScenarioError(f"{where}.statusCode: a scenario debtor is pending (1), in force (2) or cancelled (4)")
    status = ClassificationStatus(status_text)
    country = _text(data, "countryCode", where)
    if country != "ES" and not contract.foreign_debtors:
        raise ScenarioError(f"{where}: contract {contract.contract_no} takes no foreign debtors")
    tax_code = _text(data, "taxCode", where)
    reference = data.get("customerReference")
    if reference is not None and not isinstance(reference, str):
        raise ScenarioError(f"{where}.customerReference: must be a string")
    for other in ledger.debtors_of(contract.contract_no):
        if (other.country_code, other.tax_code) == (country, tax_code) or (
            reference is not None and other.customer_reference == reference
        ):
            raise ScenarioError(f"{where}: the debtor is listed twice in contract {contract.contract_no}")
    granted = _amount(data, "creditLimitGranted", where, default="0,00")
    request_date = _date(data, "requestDate", where)
    status_date = _date(data, "statusDate", where, default=request_date)
    record = Classification(
        endorsement_no=ledger.new_endorsement_no(),
        status=status,
        reason="0",
        requested=_amount(data, "creditLimitRequested", where, default=_wire(granted)),
        granted=granted if status is ClassificationStatus.IN_FORCE else Decimal("0.00"),
        currency=_text(data, "currencyCode", where, default=contract.currency),
        payment_terms_requested=data.get("paymentTermsRequested"),
        payment_terms_granted=data.get("paymentTermsGranted"),
        request_date=request_date,
        effective_date=None
        if status is ClassificationStatus.PENDING
        else _date(data, "effectiveDate", where, request_date),
        requested_at=_start_of(request_date),
        status_at=_start_of(status_date),
    )
    ledger.add_debtor(
        Debtor(
            contract_no=contract.contract_no,
            country_code=country,
            tax_code=tax_code,
            customer_reference=reference,
            company_name=data.get("companyName"),
            cesce_code=ledger.new_cesce_code(),
            record=record,
            supplement=status is not ClassificationStatus.PENDING,
            ppc=contract.ppc,
        )
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), MADRID).astimezone(UTC)


def _wire(value: Decimal) -> str:
    return f"{value:f}".replace(".", ",")


def _object(data: Mapping[str, Any], key: str, where: str, *, required: bool) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}.{key}: must be an object")
    return value


def _text(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}.{key}: a non-empty string is required")
    return value


def _flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}.{key}: must be true or false")
    return value


def _positive_int(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScenarioError(f"{where}.{key}: must be a whole number >= 1")
    return value


def _amount(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> Decimal:
    text = _text(data, key, where, default)
    try:
        return decode_amount(text)
    except CodecError as exc:
        raise ScenarioError(f"{where}.{key}: {exc}") from exc


def _date(data: Mapping[str, Any], key: str, where: str, default: date | None = None) -> date:
    value = data.get(key)
    if value is None and default is not None:
        return default
    try:
        return decode_date(_text(data, key, where))
    except CodecError as exc:
        raise ScenarioError(f"{where}.{key}: {exc}") from exc
