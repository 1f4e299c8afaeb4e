"""What the client refuses to send, decided before anything leaves the process.

Cesce answers some mistakes badly: a blank value is an HTTP 500 that looks transient and would be
retried for hours, an over-long field is a bare 422. Refusing them here gives a
`CesceValidationError` that names the field, costs no request, and is never retried.

Every function is pure: it reads the wire form of a request (the JSON-mode dump, amounts and dates
already encoded) and raises or returns. Type rules (exact amounts, real dates, no unknown field)
are enforced earlier, when the request model is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from workers.cesce import codecs
from workers.cesce.assumptions import MSG_ZERO_AMOUNT
from workers.cesce.catalogue import FIELD_MAX_LENGTHS
from workers.cesce.errors import CesceValidationError

__all__ = [
    "DEBTOR_FIELD",
    "check_classification_request",
    "check_contract_no",
    "check_debtor_id",
    "check_fields",
    "check_sale_amount",
    "check_sale_changes",
    "check_sale_ref",
    "check_single_debtor",
    "check_year_month",
]

DEBTOR_FIELD: Final = "endorsementNo/customerReference"
"""The field a neither-or-both identification error names."""

_YEAR_MONTH = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")


def check_contract_no(contract_no: str, *, operation: str = "") -> str:
    """11 digits, any 3-digit modality, no spaces (codecs.check_contract_no)."""
    try:
        return codecs.check_contract_no(contract_no)
    except codecs.CodecError as exc:
        raise CesceValidationError("contractNo", str(exc), operation=operation) from exc


def check_fields(data: Mapping[str, Any], *, operation: str = "") -> None:
    """No blank string anywhere, and every field within its documented length, at any depth."""
    for name, value in data.items():
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if isinstance(item, Mapping):
                check_fields(item, operation=operation)
            elif isinstance(item, str):
                _check_text(name, item, operation)


def _check_text(name: str, value: str, operation: str) -> None:
    if not value.strip():
        raise CesceValidationError(name, "is blank (Cesce answers a blank value with HTTP 500)", operation=operation)
    limit = FIELD_MAX_LENGTHS.get(name)
    if limit is not None and len(value) > limit:
        raise CesceValidationError(
            name, f"is {len(value)} characters long; Cesce accepts at most {limit}", operation=operation
        )


def _has(data: Mapping[str, Any], name: str) -> bool:
    return data.get(name) is not None


def check_single_debtor(data: Mapping[str, Any], *, operation: str = "", required: bool = True) -> None:
    """A sale or a non-payment names its debtor by endorsementNo or customerReference: one, never both."""
    named = [name for name in ("endorsementNo", "customerReference") if _has(data, name)]
    if len(named) > 1:
        raise CesceValidationError(DEBTOR_FIELD, "send one of them, not both", operation=operation)
    if required and not named:
        raise CesceValidationError(DEBTOR_FIELD, "one of them must identify the debtor", operation=operation)


def check_debtor_id(data: Mapping[str, Any], *, operation: str = "", tax_code_allowed: bool = True) -> None:
    """A debtor is found by customerReference, endorsementNo or countryCode + taxCode (guide 3.2.1)."""
    for name, partner in (("countryCode", "taxCode"), ("taxCode", "countryCode")):
        if _has(data, name) and not _has(data, partner):
            raise CesceValidationError(partner, f"is required with {name}", operation=operation)
    if _has(data, "countryCode") and not tax_code_allowed:
        raise CesceValidationError(
            "countryCode",
            "cannot identify the debtor here; use endorsementNo or customerReference",
            operation=operation,
        )
    if not any(_has(data, name) for name in ("customerReference", "endorsementNo", "countryCode")):
        raise CesceValidationError(
            "debtor", "identify it by customerReference, endorsementNo or countryCode + taxCode", operation=operation
        )


def check_classification_request(data: Mapping[str, Any], *, operation: str = "") -> None:
    """The debtor is identified; nonPaymentInd is Y or N, Y with the amount unpaid, N without one (guide 3.1.2)."""
    check_debtor_id(data, operation=operation)
    indicator = data.get("nonPaymentInd")
    if indicator not in ("Y", "N"):
        raise CesceValidationError("nonPaymentInd", "must be Y or N", operation=operation)
    amount = _amount(data, "nonPaymentAmount", operation)
    if indicator == "Y" and (amount is None or amount <= 0):
        raise CesceValidationError(
            "nonPaymentAmount", "is required, above zero, when nonPaymentInd is Y", operation=operation
        )
    if indicator == "N" and amount:
        raise CesceValidationError(
            "nonPaymentAmount", "must be absent or 0,00 when nonPaymentInd is N", operation=operation
        )


def _amount(data: Mapping[str, Any], name: str, operation: str) -> Decimal | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        return codecs.decode_amount(value)
    except codecs.CodecError as exc:
        raise CesceValidationError(name, str(exc), operation=operation) from exc


def check_sale_ref(data: Mapping[str, Any], *, operation: str = "") -> None:
    """A declared sale is found by saleCesceReferenceNo, or by invoiceNo + maturityDate (guide 4.2, 4.3.1)."""
    by_invoice = [name for name in ("invoiceNo", "maturityDate") if _has(data, name)]
    if _has(data, "saleCesceReferenceNo"):
        if by_invoice:
            raise CesceValidationError(
                "saleCesceReferenceNo",
                "identify the sale by it or by invoiceNo + maturityDate, not both",
                operation=operation,
            )
        return
    for name in ("invoiceNo", "maturityDate"):
        if name not in by_invoice:
            raise CesceValidationError(
                name, "is required to identify the sale without saleCesceReferenceNo", operation=operation
            )


def check_sale_amount(data: Mapping[str, Any], *, operation: str = "") -> None:
    """A sale's currencyAmount, when given, is not zero in any sign ("0,00"; a -0 encodes the same).

    Our assumption "zero-amount" (`workers.cesce.assumptions`): a sale of nothing is neither a sale
    nor a credit note, and Cesce answers it 422 'currencyAmount' is invalid.
    """
    amount = _amount(data, "currencyAmount", operation)
    if amount is not None and amount == 0:
        raise CesceValidationError("currencyAmount", MSG_ZERO_AMOUNT, operation=operation)


def check_sale_changes(data: Mapping[str, Any], *, operation: str = "") -> None:
    """A modification changes at least one field, and moves the sale to at most one debtor identifier."""
    if not data:
        raise CesceValidationError("newData", "names no field to change", operation=operation)
    check_single_debtor(data, operation=operation, required=False)


def check_year_month(value: str, *, operation: str = "") -> None:
    """The sales list's invoiceYearMonth filter is YYYYMM."""
    if not _YEAR_MONTH.match(value):
        raise CesceValidationError("invoiceYearMonth", "must be YYYYMM", operation=operation)
