"""A small synchronous client of the admin API, for tests, demos and the command line.

Each call is one short httpx request (no client to close); an answer other than 2xx raises
`httpx.HTTPStatusError`. Names are Python's, values the wire's ("1234,50", YYYYMMDD). The TLS
context httpx would load for every new client (certifi's bundle, ~20 ms) is built once per
process and shared: the sandbox is plain HTTP, but a test calls the admin API many times.
"""

from __future__ import annotations

import functools
import ssl
from datetime import date, datetime
from typing import Any

import httpx

from workers.cesce.codecs import encode_date
from workers.sandbox.config import FAULT_WIRE_NAMES

__all__ = ["SandboxAdmin", "shared_tls_context"]


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class SandboxAdmin:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/") + "/sandbox-admin"
        self._timeout = timeout

    def ledger(self) -> dict[str, Any]:
        return self._call("GET", "/ledger")  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")  # type: ignore[no-any-return]

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")  # type: ignore[no-any-return]

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """``set_faults(error_rate=0.5, rate_limit=None)``: only the given faults change."""
        unknown = set(changes) - set(FAULT_WIRE_NAMES)
        if unknown:
            raise TypeError(f"unknown faults: {sorted(unknown)}")
        return self._call("PUT", "/faults", {FAULT_WIRE_NAMES[k]: v for k, v in changes.items()})  # type: ignore[no-any-return]

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "/clock")["now"])

    def advance_clock(self, seconds: float) -> dict[str, str]:
        return self._call("POST", "/clock", {"advanceSeconds": seconds})  # type: ignore[no-any-return]

    def set_today(self, day: date | str) -> dict[str, str]:
        text = day if isinstance(day, str) else encode_date(day)
        return self._call("POST", "/clock", {"today": text})  # type: ignore[no-any-return]

    def revoke_tokens(self) -> int:
        return int(self._call("POST", "/tokens/revoke")["revoked"])

    def resolve(
        self, contract_no: str, endorsement_no: str, decision: str = "grant", credit_limit_granted: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"contractNo": contract_no, "endorsementNo": endorsement_no, "decision": decision}
        if credit_limit_granted is not None:
            body["creditLimitGranted"] = credit_limit_granted
        return self._call("POST", "/classifications/resolve", body)  # type: ignore[no-any-return]

    def set_limit(
        self, contract_no: str, endorsement_no: str, credit_limit_granted: str | None = None, *, cancel: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"contractNo": contract_no, "endorsementNo": endorsement_no}
        if cancel:
            body["cancel"] = True
        else:
            body["creditLimitGranted"] = credit_limit_granted
        return self._call("POST", "/limits", body)  # type: ignore[no-any-return]

    def set_sale_status(
        self, sale_cesce_reference_no: str, status_code: str, reason_status_code: str | None = None
    ) -> dict[str, Any]:
        """Cesce moves the sale to another situation; answers the sale as GET .../sale shows it."""
        body: dict[str, Any] = {"statusCode": status_code}
        if reason_status_code is not None:
            body["reasonStatusCode"] = reason_status_code
        return self._call("POST", f"/sales/{sale_cesce_reference_no}/status", body)  # type: ignore[no-any-return]

    def retariff_sale(
        self,
        sale_cesce_reference_no: str,
        commercial_risk_rate: str | None = None,
        political_risk_rate: str | None = None,
    ) -> dict[str, Any]:
        """Cesce tariffs the sale again at these rates (per cent, "0,15000"); the ones not given stay."""
        body = {
            name: rate
            for name, rate in (("commercialRiskRate", commercial_risk_rate), ("politicalRiskRate", political_risk_rate))
            if rate is not None
        }
        return self._call("POST", f"/sales/{sale_cesce_reference_no}/retariff", body)  # type: ignore[no-any-return]

    def collect_sale(self, sale_cesce_reference_no: str, collected_amount: str) -> dict[str, Any]:
        """Cesce records a collection of `collected_amount` ("1000,00", contract currency): collectedAmount grows."""
        body = {"collectedAmount": collected_amount}
        return self._call("POST", f"/sales/{sale_cesce_reference_no}/collections", body)  # type: ignore[no-any-return]

    def extend_sale(
        self, sale_cesce_reference_no: str, maturity_date: date | str, maturity_amount: str | None = None
    ) -> dict[str, Any]:
        """An extension (prórroga) of the sale; answers the new extended sale (its own saleCesceReferenceNo)."""
        body: dict[str, Any] = {
            "maturityDate": maturity_date if isinstance(maturity_date, str) else encode_date(maturity_date)
        }
        if maturity_amount is not None:
            body["maturityAmount"] = maturity_amount
        return self._call("POST", f"/sales/{sale_cesce_reference_no}/extension", body)  # type: ignore[no-any-return]

    def set_policy_period(
        self, contract_no: str, valid_from: date | str | None = None, valid_to: date | str | None = None
    ) -> dict[str, Any]:
        """Renew or expire a contract; the dates not given stay. Answers the period and ``inForce`` today."""
        body: dict[str, Any] = {}
        for name, day in (("validFrom", valid_from), ("validTo", valid_to)):
            if day is not None:
                body[name] = day if isinstance(day, str) else encode_date(day)
        return self._call("POST", f"/contracts/{contract_no}/period", body)  # type: ignore[no-any-return]

    def set_document_status(
        self, claim_file_no: str, document_code: str, status_code: str, non_payment_no: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"statusCode": status_code}
        if non_payment_no is not None:
            body["nonPaymentNo"] = non_payment_no
        return self._call("POST", f"/claims/{claim_file_no}/documents/{document_code}", body)  # type: ignore[no-any-return]

    def add_settlement(
        self,
        claim_file_no: str,
        settlement_status_code: str,
        amt_prin_indemnified: str,
        amt_int_indemnified: str,
        payment_date: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "settlementStatusCode": settlement_status_code,
            "amtPrinIndemnified": amt_prin_indemnified,
            "amtIntIndemnified": amt_int_indemnified,
        }
        if payment_date is not None:
            body["paymentDate"] = payment_date
        return self._call("POST", f"/claims/{claim_file_no}/settlements", body)  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._call("POST", "/reset")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, self._base + path, json=body, timeout=self._timeout, verify=shared_tls_context()
        )
        response.raise_for_status()
        return response.json()
