"""The sandbox's own API (``/sandbox-admin``): see and steer the emulator. No auth, never faulted.

It answers in plain JSON; a bad request is ``{"detail": "..."}`` with 400/404/409/422, in
FastAPI's style rather than Cesce's, because no Cesce client ever talks to it. Amounts and dates
use the Cesce wire format ("1234,50", YYYYMMDD) so values can be copied from one API to the
other.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from workers.cesce.assumptions import SaleStatus
from workers.cesce.codecs import CodecError, decode_amount, decode_date
from workers.sandbox import claims, sales
from workers.sandbox import classifications as cls
from workers.sandbox.config import faults_from_wire, faults_to_wire
from workers.sandbox.debtors import record_wire
from workers.sandbox.runtime import SandboxRuntime, runtime_of
from workers.sandbox.sales_queries import sale_detail
from workers.sandbox.sales_rules import duplicate_key
from workers.sandbox.state import Sale
from workers.sandbox.wire import amount, wire_date

__all__ = ["router"]

router = APIRouter(prefix="/sandbox-admin", tags=["Sandbox admin"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClockChange(_Body):
    advance_seconds: float | None = Field(None, alias="advanceSeconds")
    today: str | None = Field(None, description="YYYYMMDD: put the clock at noon, Madrid time, of that day")


class Resolution(_Body):
    contract_no: str = Field(alias="contractNo")
    endorsement_no: str = Field(alias="endorsementNo")
    decision: Literal["grant", "reject"]
    credit_limit_granted: str | None = Field(None, alias="creditLimitGranted")


class LimitChange(_Body):
    contract_no: str = Field(alias="contractNo")
    endorsement_no: str = Field(alias="endorsementNo")
    credit_limit_granted: str | None = Field(None, alias="creditLimitGranted")
    cancel: bool = False


class PolicyPeriod(_Body):
    valid_from: str | None = Field(None, alias="validFrom", description="YYYYMMDD; unchanged when not given")
    valid_to: str | None = Field(None, alias="validTo", description="YYYYMMDD; unchanged when not given")


class SaleStatusChange(_Body):
    status_code: str = Field(alias="statusCode", description="the sale's new situation (assumptions 'sale-status')")
    reason_status_code: str | None = Field(None, alias="reasonStatusCode", description="unchanged when not given")


class Retariffing(_Body):
    commercial_risk_rate: str | None = Field(None, alias="commercialRiskRate", description="per cent, '0,15000'")
    political_risk_rate: str | None = Field(None, alias="politicalRiskRate", description="per cent; or unchanged")


class Collection(_Body):
    collected_amount: str = Field(alias="collectedAmount", description="collected now, contract currency: added")


class Extension(_Body):
    maturity_date: str = Field(alias="maturityDate", description="YYYYMMDD, later than the sale's")
    maturity_amount: str | None = Field(None, alias="maturityAmount", description="default: what is unpaid")


class DocumentStatusChange(_Body):
    status_code: str = Field(alias="statusCode")
    non_payment_no: str | None = Field(None, alias="nonPaymentNo")


class NewSettlement(_Body):
    settlement_status_code: str = Field(alias="settlementStatusCode")
    amt_prin_indemnified: str = Field(alias="amtPrinIndemnified")
    amt_int_indemnified: str = Field(alias="amtIntIndemnified")
    payment_date: str | None = Field(None, alias="paymentDate")


@router.get("/ledger", summary="Everything the sandbox recorded")
async def ledger(request: Request) -> dict[str, Any]:
    sandbox = runtime_of(request)
    sandbox.tick()
    state = sandbox.ledger
    keys = Counter(duplicate_key(s) for s in state.sales)
    return {
        "sales": [
            {
                "contractNo": s.contract_no,
                "saleCesceReferenceNo": s.reference,
                "invoiceNo": s.invoice_no,
                "invoiceDate": wire_date(s.invoice_date),
                "maturityDate": wire_date(s.maturity_date),
                "endorsementNo": s.endorsement_no,
                "customerReference": s.customer_reference,
                "currencyAmount": amount(s.amount),
                "statusCode": s.status,
                "entryDate": wire_date(s.entry_date),
                "modifications": s.modifications,
                "collectedAmount": amount(s.collected),
                "maturityAmount": amount(s.maturity_amount) if s.maturity_amount is not None else None,
                "extends": s.extends,
            }
            for s in state.sales
        ],
        "byDuplicateKey": [
            {
                "contractNo": k.contract_no,
                "invoiceNo": k.invoice_no,
                "invoiceDate": wire_date(k.invoice_date),
                "maturityDate": wire_date(k.maturity_date),
                "debtor": k.debtor,
                "currencyAmount": amount(k.amount),
                "count": count,
            }
            for k, count in keys.items()
        ],
        "duplicateAttempts": state.duplicate_attempts,
        "classificationRequests": state.classification_requests,
        "nonPaymentDeclarations": state.non_payment_declarations,
        "classifications": [
            {"contractNo": d.contract_no, **record_wire(d, d.record)}
            | ({"pending": record_wire(d, d.pending)} if d.pending is not None else {})
            for d in state.debtors
        ],
        "claimFiles": [
            {
                "contractNo": f.contract_no,
                "claimFileNo": f.number,
                "endorsementNo": str(f.endorsement_no),
                "nonPayments": len(f.non_payments),
            }
            for f in state.claim_files
        ],
    }


@router.get("/stats", summary="Requests by route and by status, and the faults injected")
async def stats(request: Request) -> dict[str, Any]:
    sandbox = runtime_of(request)
    counters = sandbox.faults.counters
    return {
        "byRoute": dict(sandbox.stats.by_route),
        "byStatus": dict(sandbox.stats.by_status),
        "faults": {
            "rateLimited": counters.rate_limited,
            "maintenance": counters.maintenance,
            "errors": counters.errors,
            "hung": counters.hung,
            "dropped": counters.dropped,
        },
    }


@router.get("/faults", summary="The faults in effect")
async def get_faults(request: Request) -> dict[str, Any]:
    return faults_to_wire(runtime_of(request).faults.faults)


@router.put("/faults", summary="Change the faults (the given keys only)")
async def put_faults(request: Request, changes: dict[str, Any]) -> dict[str, Any]:
    sandbox = runtime_of(request)
    try:
        sandbox.faults.faults = faults_from_wire(sandbox.faults.faults, changes)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return faults_to_wire(sandbox.faults.faults)


@router.get("/clock", summary="The sandbox's now")
async def get_clock(request: Request) -> dict[str, str]:
    return _clock(runtime_of(request))


@router.post("/clock", summary="Advance the clock, or put it on a day")
async def set_clock(request: Request, change: ClockChange) -> dict[str, str]:
    sandbox = runtime_of(request)
    if (change.advance_seconds is None) == (change.today is None):
        raise HTTPException(422, "give exactly one of advanceSeconds or today")
    if change.today is not None:
        sandbox.clock.set_today(_date(change.today))
    elif change.advance_seconds is not None:
        sandbox.clock.advance(change.advance_seconds)
    return _clock(sandbox)


@router.post("/tokens/revoke", summary="Invalidate every access token (refresh tokens stay valid)")
async def revoke(request: Request) -> dict[str, int]:
    return {"revoked": runtime_of(request).tokens.revoke_access_tokens()}


@router.post("/classifications/resolve", summary="Grant or reject a pending classification request")
async def resolve(request: Request, resolution: Resolution) -> dict[str, Any]:
    sandbox = runtime_of(request)
    sandbox.tick()
    granted = _amount(resolution.credit_limit_granted) if resolution.credit_limit_granted is not None else None
    if granted is not None and granted <= 0:
        raise HTTPException(422, "creditLimitGranted must be positive; reject instead")
    decision = cls.Decision.GRANT if resolution.decision == "grant" else cls.Decision.DENY
    try:
        return cls.resolve_request(
            sandbox.ledger,
            resolution.contract_no,
            _number(resolution.endorsement_no),
            decision,
            granted=granted,
            now=sandbox.clock.now(),
        )
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/limits", summary="Cesce changes or cancels a limit on its own (a movement)")
async def set_limit(request: Request, change: LimitChange) -> dict[str, Any]:
    sandbox = runtime_of(request)
    sandbox.tick()
    if change.cancel == (change.credit_limit_granted is not None):
        raise HTTPException(422, "give exactly one of creditLimitGranted or cancel")
    granted = Decimal(0) if change.cancel else _amount(change.credit_limit_granted or "")
    try:
        return cls.set_limit(
            sandbox.ledger, change.contract_no, _number(change.endorsement_no), granted, sandbox.clock.now()
        )
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/sales/{reference}/status", summary="Cesce moves a sale to another situation (a sales movement)")
async def sale_status(request: Request, reference: str, change: SaleStatusChange) -> dict[str, Any]:
    """Certified, securitised, cancelled (Baja), pending re-tariffing...: guide 4.2 points 4 and 6 name them."""
    sandbox, sale = _sale(request, reference)
    try:
        status = SaleStatus(change.status_code)
    except ValueError as exc:
        raise HTTPException(422, f"statusCode is one of {[s.value for s in SaleStatus]}") from exc
    reason = change.reason_status_code if change.reason_status_code is not None else sale.reason
    changed = sales.set_sale_status(sandbox.ledger, sale, status, reason, sandbox.clock.today())
    return _sale_wire(sandbox, changed)


@router.post("/sales/{reference}/retariff", summary="Cesce tariffs a sale again at new rates (a sales movement)")
async def sale_retariff(request: Request, reference: str, change: Retariffing) -> dict[str, Any]:
    sandbox, sale = _sale(request, reference)
    if change.commercial_risk_rate is None and change.political_risk_rate is None:
        raise HTTPException(422, "give commercialRiskRate, politicalRiskRate or both")
    rates = [None if r is None else _amount(r) for r in (change.commercial_risk_rate, change.political_risk_rate)]
    if any(r is not None and r < 0 for r in rates):
        raise HTTPException(422, "a rate is not negative")
    try:
        changed = sales.retariff_sale(
            sandbox.ledger, sale, sandbox.clock.today(), commercial_rate=rates[0], political_rate=rates[1]
        )
    except sales.SaleActionRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    return _sale_wire(sandbox, changed)


@router.post("/sales/{reference}/collections", summary="Cesce records a collection of a sale (collectedAmount)")
async def sale_collection(request: Request, reference: str, collection: Collection) -> dict[str, Any]:
    sandbox, sale = _sale(request, reference)
    try:
        changed = sales.record_collection(
            sandbox.ledger, sale, _amount(collection.collected_amount), sandbox.clock.today()
        )
    except sales.SaleActionRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    return _sale_wire(sandbox, changed)


@router.post("/sales/{reference}/extension", summary="An extension (prórroga): a new extended sale")
async def sale_extension(request: Request, reference: str, extension: Extension) -> dict[str, Any]:
    """000: a new sale with its own saleCesceReferenceNo, a differentiated premium and maturityAmount (the unpaid
    amount, never more than the original invoice); the original becomes PRORROGADA. Answers the new sale."""
    sandbox, sale = _sale(request, reference)
    contract = sandbox.ledger.contracts[sale.contract_no]
    amount_due = _amount(extension.maturity_amount) if extension.maturity_amount is not None else None
    try:
        extended = sales.extend_sale(
            sandbox.ledger,
            contract,
            sale,
            _date(extension.maturity_date),
            sandbox.clock.today(),
            maturity_amount=amount_due,
        )
    except sales.SaleActionRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    return _sale_wire(sandbox, extended)


@router.post("/contracts/{contract_no}/period", summary="Renew or expire a contract: change its policy period")
async def set_period(request: Request, contract_no: str, period: PolicyPeriod) -> dict[str, Any]:
    """A POST on a contract out of its period is refused 1522 "No existe periodo de seguro"; this puts it back
    in force (or out of it) without reloading the scenario."""
    sandbox = runtime_of(request)
    contract = sandbox.ledger.contracts.get(contract_no)
    if contract is None:
        raise HTTPException(404, f"no contract {contract_no}")
    if period.valid_from is None and period.valid_to is None:
        raise HTTPException(422, "give validFrom, validTo or both")
    valid_from = _date(period.valid_from) if period.valid_from is not None else contract.valid_from
    valid_to = _date(period.valid_to) if period.valid_to is not None else contract.valid_to
    if valid_to < valid_from:
        raise HTTPException(422, "validTo is before validFrom")
    changed = dataclasses.replace(contract, valid_from=valid_from, valid_to=valid_to)
    sandbox.ledger.contracts[contract_no] = changed
    return {
        "contractNo": contract_no,
        "validFrom": wire_date(valid_from),
        "validTo": wire_date(valid_to),
        "inForce": changed.in_force(sandbox.clock.today()),
    }


@router.post("/claims/{claim_file_no}/documents/{document_code}", summary="Change a claim-file document's status")
async def document_status(
    request: Request, claim_file_no: str, document_code: str, change: DocumentStatusChange
) -> dict[str, int]:
    sandbox = runtime_of(request)
    try:
        changed = claims.set_document_status(
            sandbox.ledger,
            claim_file_no,
            document_code,
            change.status_code,
            today=sandbox.clock.today(),
            non_payment_no=change.non_payment_no,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"changed": changed}


@router.post("/claims/{claim_file_no}/settlements", summary="Add a settlement to a claim file")
async def add_settlement(request: Request, claim_file_no: str, settlement: NewSettlement) -> dict[str, Any]:
    sandbox = runtime_of(request)
    payment_date = _date(settlement.payment_date) if settlement.payment_date is not None else None
    try:
        return claims.add_settlement(
            sandbox.ledger,
            claim_file_no,
            settlement.settlement_status_code,
            principal=_amount(settlement.amt_prin_indemnified),
            interest=_amount(settlement.amt_int_indemnified),
            payment_date=payment_date,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/reset", summary="Reload the scenario (clock, faults and tokens stay)")
async def reset(request: Request) -> dict[str, bool]:
    runtime_of(request).reset()
    return {"reset": True}


def _sale(request: Request, reference: str) -> tuple[SandboxRuntime, Sale]:
    sandbox = runtime_of(request)
    sandbox.tick()
    sale = sandbox.ledger.sale_by_reference(reference)
    if sale is None:
        raise HTTPException(404, f"no sale {reference}")
    return sandbox, sale


def _sale_wire(sandbox: SandboxRuntime, sale: Sale) -> dict[str, Any]:
    """The sale as GET .../sale shows it now."""
    return sale_detail(sandbox.ledger.contracts[sale.contract_no], sale) | {"statusDate": wire_date(sale.status_date)}


def _clock(sandbox: SandboxRuntime) -> dict[str, str]:
    return {"now": sandbox.clock.now().isoformat(), "today": wire_date(sandbox.clock.today())}


def _amount(text: str) -> Decimal:
    try:
        return decode_amount(text)
    except CodecError as exc:
        raise HTTPException(422, str(exc)) from exc


def _date(text: str) -> Any:
    try:
        return decode_date(text)
    except CodecError as exc:
        raise HTTPException(422, str(exc)) from exc


def _number(text: str) -> int:
    if not text.isdigit():
        raise HTTPException(422, f"not an endorsementNo: {text!r}")
    return int(text)
