"""The Claims API (``/claims/v1``): non-payment declarations, claim files, documents, settlements."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from workers.sandbox import claims
from workers.sandbox import openapi as oa
from workers.sandbox.fields import CLIENT_FIELDS, Field, read_section
from workers.sandbox.runtime import begin_get, begin_post
from workers.sandbox.wire import answer, ok

__all__ = ["router"]

router = APIRouter(prefix="/claims/v1", tags=["Claims"])
_ERRORS: Final = oa.error_responses(400, 401, 403, 404, 405, 422, 429, 500)


def _items(*names: str, title: str) -> dict[str, object]:
    return {"type": "array", "items": oa.object_schema((Field(n) for n in names), title=title)}


_DOCUMENT: Final = ("documentCode", "documentDescription", "statusCode", "statusDate")
_DECLARATION_ANSWER: Final = oa.envelope(
    generalData={
        "type": "object",
        "properties": {
            **{n: {"type": "string"} for n in ("claimFileNo", "nonPaymentNo", "newClaimFileInd", "endorsementNo")},
            "documents": _items(*_DOCUMENT, title="RequestedDocument"),
        },
    }
)
_NON_PAYMENT: Final = (
    "nonPaymentNo",
    "invoiceNo",
    "invoiceDate",
    "maturityDate",
    "unpaidAmount",
    "currencyCode",
    "declarationDate",
)
_CLAIM_FILES_ANSWER: Final = oa.envelope(
    result={
        "type": "array",
        "items": {
            "type": "object",
            "title": "ClaimFile",
            "properties": {
                **{n: {"type": "string"} for n in ("claimFileNo", "endorsementNo", "customerReference", "openingDate")},
                "nonPayments": _items(*_NON_PAYMENT, title="NonPayment"),
            },
        },
    }
)
_DOCUMENTS_ANSWER: Final = oa.envelope(result=_items("claimFileNo", "nonPaymentNo", *_DOCUMENT, title="Document"))
_SETTLEMENTS_ANSWER: Final = oa.envelope(
    result=_items(
        "settlementNo",
        "claimFileNo",
        "settlementStatusCode",
        "paymentDate",
        "amtPrinIndemnified",
        "amtIntIndemnified",
        "currencyCode",
        title="Settlement",
    )
)


@router.post(
    "/contracts/{contractNo}/non-payment-declaration",
    summary="Non-payment declaration",
    description="Declare an unpaid invoice; the first for a debtor opens a claim file, later ones attach to it.",
    status_code=201,
    openapi_extra=oa.operation(
        body=oa.request_envelope("generalData", claims.DECLARATION_FIELDS, title="NonPaymentDeclaration")
    ),
    responses={**oa.success(201, "Created.", _DECLARATION_ANSWER), **_ERRORS},
)
async def declare(request: Request) -> JSONResponse:
    sandbox, contract, body = await begin_post(request)
    sandbox.ledger.non_payment_declarations += 1
    read_section(body, "client", CLIENT_FIELDS)
    data = read_section(body, "generalData", claims.DECLARATION_FIELDS, closed=False)
    sandbox.require_in_force(contract)
    general = claims.declare_non_payment(sandbox.ledger, contract, data, sandbox.clock.today())
    return answer(201, ok(generalData=general))


@router.get(
    "/contracts/{contractNo}/claim-files",
    summary="Claim files",
    description="Claim files of the contract, by debtor or claimFileNo, with their non-payments.",
    openapi_extra=oa.operation(query=claims.CLAIM_FILES_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", _CLAIM_FILES_ANSWER), **_ERRORS},
)
async def claim_files(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, claims.CLAIM_FILES_QUERY_FIELDS)
    return answer(200, ok(result=claims.claim_files(sandbox.ledger, contract, query)))


@router.get(
    "/contracts/{contractNo}/documents",
    summary="Documents",
    description="Documents requested for a claim file, with their statusCode.",
    openapi_extra=oa.operation(query=claims.DOCUMENTS_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", _DOCUMENTS_ANSWER), **_ERRORS},
)
async def documents(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, claims.DOCUMENTS_QUERY_FIELDS)
    return answer(200, ok(result=claims.documents(sandbox.ledger, contract, query["claimFileNo"])))


@router.get(
    "/contracts/{contractNo}/settlements",
    summary="Settlements",
    description="Settlements of the contract or of one claim file.",
    openapi_extra=oa.operation(query=claims.SETTLEMENTS_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", _SETTLEMENTS_ANSWER), **_ERRORS},
)
async def settlements(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, claims.SETTLEMENTS_QUERY_FIELDS)
    return answer(200, ok(result=claims.settlements(sandbox.ledger, contract, query.get("claimFileNo"))))
