"""Claims (guide 5): non-payment declarations, claim files, documents, settlements.

"Si es el primer impago de una modalidad, póliza, nº de suplemento y deudor, se creará ... un
expediente de Siniestros y un impago asociado"; later non-payments of the same debtor attach to
that file. Every non-payment requests two documents (01 Factura, 02 Reclamación de pago al
deudor) in status 1 (SOLICITADO). The sandbox never refuses a repeated declaration: a second
identical one is a second non-payment, and telling them apart is the worker's job.

Settlements and document statuses change only through the admin API, as Cesce's adjusters would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    ERROR_CODE_IDENTIFICATION,
    MSG_BOTH_IDENTIFIERS,
    MSG_NO_IDENTIFIER,
    DocumentStatus,
    SettlementStatus,
)
from workers.cesce.codecs import decode_amount, decode_date
from workers.sandbox.debtors import by_endorsement, by_reference
from workers.sandbox.fields import Field, Kind
from workers.sandbox.state import ClaimFile, Contract, Document, Ledger, NonPayment, Settlement
from workers.sandbox.wire import ApiError, amount, invalid, wire_date

__all__ = [
    "CLAIM_FILES_QUERY_FIELDS",
    "DECLARATION_FIELDS",
    "DOCUMENTS_QUERY_FIELDS",
    "REQUESTED_DOCUMENTS",
    "SETTLEMENTS_QUERY_FIELDS",
    "add_settlement",
    "claim_files",
    "declare_non_payment",
    "documents",
    "has_claim_file",
    "set_document_status",
    "settlements",
]

REQUESTED_DOCUMENTS: Final = (("01", "Factura"), ("02", "Reclamación de pago al deudor"))
DECLARATION_FIELDS: Final = (
    Field("endorsementNo", Kind.DIGITS),
    Field("customerReference"),
    Field("invoiceNo", required=True),
    Field("invoiceDate", Kind.DATE, required=True),
    Field("maturityDate", Kind.DATE, required=True),
    Field("unpaidAmount", Kind.AMOUNT, required=True),
    Field("currencyCode", required=True),
)
_LANGUAGE: Final = Field("languageCode", Kind.LANGUAGE, required=True)
CLAIM_FILES_QUERY_FIELDS: Final = (
    _LANGUAGE,
    Field("endorsementNo", Kind.DIGITS),
    Field("customerReference"),
    Field("claimFileNo", Kind.DIGITS),
)
DOCUMENTS_QUERY_FIELDS: Final = (_LANGUAGE, Field("claimFileNo", Kind.DIGITS, required=True))
SETTLEMENTS_QUERY_FIELDS: Final = (_LANGUAGE, Field("claimFileNo", Kind.DIGITS))


def declare_non_payment(ledger: Ledger, contract: Contract, data: Mapping[str, str], today: date) -> dict[str, Any]:
    """POST .../non-payment-declaration -> the 201 body's generalData."""
    endorsement, reference = data.get("endorsementNo"), data.get("customerReference")
    if endorsement is None and reference is None:
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_NO_IDENTIFIER)
    if endorsement is not None and reference is not None:
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_BOTH_IDENTIFIERS)
    if endorsement is not None:
        debtor = by_endorsement(ledger, contract.contract_no, int(endorsement))
    else:
        debtor = by_reference(ledger, contract.contract_no, reference or "")
    if debtor is None or debtor.endorsement_no is None:
        raise ApiError(400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    invoice_date, maturity_date = decode_date(data["invoiceDate"]), decode_date(data["maturityDate"])
    if invoice_date > maturity_date:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_DATE_ORDER)
    unpaid = decode_amount(data["unpaidAmount"])
    if unpaid <= 0:
        raise invalid("unpaidAmount")
    claim_file = next(
        (
            f
            for f in ledger.claim_files
            if (f.contract_no, f.endorsement_no) == (contract.contract_no, debtor.endorsement_no)
        ),
        None,
    )
    new_file = claim_file is None
    if claim_file is None:
        claim_file = ClaimFile(ledger.new_claim_file_no(), contract.contract_no, debtor.endorsement_no, today)
        ledger.claim_files.append(claim_file)
    non_payment = NonPayment(
        number=str(len(claim_file.non_payments) + 1),
        invoice_no=data["invoiceNo"],
        invoice_date=invoice_date,
        maturity_date=maturity_date,
        unpaid_amount=unpaid,
        currency=data["currencyCode"],
        declaration_date=today,
    )
    claim_file.non_payments.append(non_payment)
    requested = [
        Document(non_payment.number, code, text, DocumentStatus.REQUESTED.value, today)
        for code, text in REQUESTED_DOCUMENTS
    ]
    claim_file.documents.extend(requested)
    return {
        "claimFileNo": claim_file.number,
        "nonPaymentNo": non_payment.number,
        "newClaimFileInd": "Y" if new_file else "N",
        "endorsementNo": str(debtor.endorsement_no),
        "documents": [
            {
                "documentCode": d.code,
                "documentDescription": d.description,
                "statusCode": d.status,
                "statusDate": wire_date(d.status_date),
            }
            for d in requested
        ],
    }


def has_claim_file(ledger: Ledger, contract_no: str, endorsement_no: int | None) -> bool:
    return endorsement_no is not None and any(
        (f.contract_no, f.endorsement_no) == (contract_no, endorsement_no) for f in ledger.claim_files
    )


def claim_files(ledger: Ledger, contract: Contract, query: Mapping[str, str]) -> list[dict[str, Any]]:
    files = [f for f in ledger.claim_files if f.contract_no == contract.contract_no]
    if "claimFileNo" in query:
        files = [f for f in files if f.number == query["claimFileNo"]]
    if "customerReference" in query:
        debtor = by_reference(ledger, contract.contract_no, query["customerReference"])
        files = [f for f in files if debtor is not None and f.endorsement_no == debtor.endorsement_no]
    if "endorsementNo" in query:
        files = [f for f in files if f.endorsement_no == int(query["endorsementNo"])]
    result = []
    for claim_file in files:
        debtor = by_endorsement(ledger, contract.contract_no, claim_file.endorsement_no)
        item: dict[str, Any] = {"claimFileNo": claim_file.number, "endorsementNo": str(claim_file.endorsement_no)}
        if debtor is not None and debtor.customer_reference is not None:
            item["customerReference"] = debtor.customer_reference
        item["openingDate"] = wire_date(claim_file.opening_date)
        item["nonPayments"] = [
            {
                "nonPaymentNo": n.number,
                "invoiceNo": n.invoice_no,
                "invoiceDate": wire_date(n.invoice_date),
                "maturityDate": wire_date(n.maturity_date),
                "unpaidAmount": amount(n.unpaid_amount),
                "currencyCode": n.currency,
                "declarationDate": wire_date(n.declaration_date),
            }
            for n in claim_file.non_payments
        ]
        result.append(item)
    return result


def documents(ledger: Ledger, contract: Contract, claim_file_no: str) -> list[dict[str, Any]]:
    claim_file = _file(ledger, claim_file_no, contract.contract_no)
    if claim_file is None:
        return []
    return [
        {
            "claimFileNo": claim_file.number,
            "nonPaymentNo": d.non_payment_no,
            "documentCode": d.code,
            "documentDescription": d.description,
            "statusCode": d.status,
            "statusDate": wire_date(d.status_date),
        }
        for d in claim_file.documents
    ]


def settlements(ledger: Ledger, contract: Contract, claim_file_no: str | None) -> list[dict[str, Any]]:
    files = {f.number for f in ledger.claim_files if f.contract_no == contract.contract_no}
    result = []
    for s in ledger.settlements:
        if s.claim_file_no not in files or (claim_file_no is not None and s.claim_file_no != claim_file_no):
            continue
        item: dict[str, Any] = {
            "settlementNo": s.number,
            "claimFileNo": s.claim_file_no,
            "settlementStatusCode": s.status,
        }
        if s.payment_date is not None:
            item["paymentDate"] = wire_date(s.payment_date)
        item.update(
            amtPrinIndemnified=amount(s.principal), amtIntIndemnified=amount(s.interest), currencyCode=s.currency
        )
        result.append(item)
    return result


def set_document_status(
    ledger: Ledger, claim_file_no: str, code: str, status: str, *, today: date, non_payment_no: str | None = None
) -> int:
    """The admin changes a document's status; returns how many documents changed."""
    if status not in set(DocumentStatus):
        raise ValueError(f"statusCode must be one of {[s.value for s in DocumentStatus]}")
    claim_file = _file(ledger, claim_file_no)
    if claim_file is None:
        raise LookupError(f"no claim file {claim_file_no}")
    changed = 0
    for document in claim_file.documents:
        if document.code == code and non_payment_no in (None, document.non_payment_no):
            document.status, document.status_date = status, today
            changed += 1
    if not changed:
        raise LookupError(f"no document {code} in claim file {claim_file_no}")
    return changed


def add_settlement(
    ledger: Ledger,
    claim_file_no: str,
    status: str,
    *,
    principal: Decimal,
    interest: Decimal,
    payment_date: date | None,
) -> dict[str, Any]:
    if status not in set(SettlementStatus):
        raise ValueError(f"settlementStatusCode must be one of {[s.value for s in SettlementStatus]}")
    claim_file = _file(ledger, claim_file_no)
    if claim_file is None:
        raise LookupError(f"no claim file {claim_file_no}")
    contract = ledger.contracts[claim_file.contract_no]
    settlement = Settlement(
        ledger.new_settlement_no(), claim_file_no, status, payment_date, principal, interest, contract.currency
    )
    ledger.settlements.append(settlement)
    return {"settlementNo": settlement.number, "claimFileNo": claim_file_no}


def _file(ledger: Ledger, number: str, contract_no: str | None = None) -> ClaimFile | None:
    return next(
        (f for f in ledger.claim_files if f.number == number and contract_no in (None, f.contract_no)),
        None,
    )
