"""The Classifications API (``/classifications/v1``): requests, reads, cancellation, activation and deactivation,
premium answers, portfolio, movements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from workers.cesce.models.classifications import Classification
from workers.sandbox import classifications as cls
from workers.sandbox import openapi as oa
from workers.sandbox import portfolio as pf
from workers.sandbox.fields import CLIENT_FIELDS, Field, Kind, read_section
from workers.sandbox.runtime import SandboxRuntime, begin_get, begin_post
from workers.sandbox.state import Contract
from workers.sandbox.wire import answer, ok

__all__ = ["router"]

router = APIRouter(prefix="/classifications/v1", tags=["Classifications"])
_ERRORS: Final = oa.error_responses(400, 401, 403, 404, 405, 422, 429, 500)
_RECORD_FIELDS: Final = tuple(Classification.model_fields)  # the record as the client reads it
_RECORD: Final = oa.object_schema((Field(name) for name in _RECORD_FIELDS), title="ClassificationRecord")
_RECORD_ANSWER: Final = oa.envelope(generalData=_RECORD)
_PAGE_ANSWER: Final = oa.envelope(
    paginationData={"type": "object", "properties": {"nextEndorsementNo": {"type": "string"}}},
    result={"type": "array", "items": _RECORD},
)
_GET_QUERY: Final = (Field("languageCode", Kind.LANGUAGE, required=True), *cls.IDENTIFICATION_FIELDS)


@router.post(
    "/contracts/{contractNo}/classifications",
    summary="Create Classifications",
    description="Request a credit limit for a new or an existing debtor.",
    status_code=201,
    openapi_extra=oa.operation(
        body=oa.request_envelope("generalData", cls.REQUEST_FIELDS, title="ClassificationRequest")
    ),
    responses={**oa.success(201, "Created.", _RECORD_ANSWER), **_ERRORS},
)
async def create(request: Request) -> JSONResponse:
    sandbox, contract, body = await begin_post(request)
    sandbox.ledger.classification_requests += 1
    read_section(body, "client", CLIENT_FIELDS)
    data = read_section(body, "generalData", cls.REQUEST_FIELDS, closed=False)
    sandbox.require_in_force(contract)
    return answer(201, ok(generalData=cls.submit(sandbox.ledger, contract, data, sandbox.clock.now())))


@router.get(
    "/contracts/{contractNo}/classifications",
    summary="Classifications Query",
    description="The debtor's record in force or last state (precedence customerReference > endorsementNo > "
    "countryCode + taxCode); a 300xxx number names a pending request.",
    openapi_extra=oa.operation(query=_GET_QUERY),
    responses={**oa.success(200, "OK.", _RECORD_ANSWER), **_ERRORS},
)
async def read(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, _GET_QUERY)
    return answer(200, ok(generalData=cls.current_record(sandbox.ledger, contract, query)))


@router.post(
    "/contracts/{contractNo}/classifications/cancel",
    summary="Annul Classification",
    description="Cancel a limit in force.",
    openapi_extra=oa.operation(
        body=oa.request_envelope("generalData", cls.IDENTIFICATION_FIELDS, title="ClassificationIdentification")
    ),
    responses={**oa.success(200, "OK.", _RECORD_ANSWER), **_ERRORS},
)
async def cancel(request: Request) -> JSONResponse:
    sandbox, contract, ids = await _limit_operation(request, cls.IDENTIFICATION_FIELDS)
    return answer(200, ok(generalData=cls.cancel(sandbox.ledger, contract, ids, sandbox.clock.now())))


@router.post(
    "/contracts/{contractNo}/classifications/activate-deactivate",
    summary="Enable/Disable Classification",
    description="Deactivate (activeInd N) or activate again (activeInd Y) a limit in force. Only for PPC-modality "
    "policies (guide 3.1: 'Solo se utiliza para pólizas de modalidad PPC'); other policies answer 400, errorCode 1522.",
    openapi_extra=oa.operation(
        body=oa.request_envelope("generalData", cls.ACTIVATION_FIELDS, title="ClassificationActivation")
    ),
    responses={**oa.success(200, "OK.", _RECORD_ANSWER), **_ERRORS},
)
async def activate_deactivate(request: Request) -> JSONResponse:
    sandbox, contract, data = await _limit_operation(request, cls.ACTIVATION_FIELDS)
    active = data["activeInd"] == "Y"
    return answer(200, ok(generalData=cls.set_active(sandbox.ledger, contract, data, active, sandbox.clock.now())))


@router.post(
    "/contracts/{contractNo}/classifications/accept-deny-premium",
    summary="Accept Deny Premium",
    description="Accept (acceptPremiumInd Y: the limit comes into force) or deny (N: the limit is not granted) the "
    "premium of a classification waiting for it (premiumPendingInd Y).",
    openapi_extra=oa.operation(
        body=oa.request_envelope("generalData", cls.PREMIUM_ANSWER_FIELDS, title="ClassificationPremiumAnswer")
    ),
    responses={**oa.success(200, "OK.", _RECORD_ANSWER), **_ERRORS},
)
async def accept_deny_premium(request: Request) -> JSONResponse:
    sandbox, contract, data = await _limit_operation(request, cls.PREMIUM_ANSWER_FIELDS)
    accept = data["acceptPremiumInd"] == "Y"
    return answer(200, ok(generalData=cls.answer_premium(sandbox.ledger, contract, data, accept, sandbox.clock.now())))


@router.get(
    "/contracts/{contractNo}/portfolio",
    summary="Portfolio",
    description="Every debtor in force, cancelled or pending, 500 per page; nextEndorsementNo '0' on the last page.",
    openapi_extra=oa.operation(query=pf.PAGE_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", _PAGE_ANSWER), **_ERRORS},
)
async def portfolio(request: Request) -> JSONResponse:
    sandbox, contract, _ = begin_get(request, pf.PAGE_QUERY_FIELDS, cursors=("nextEndorsementNo",))
    entries = pf.portfolio(sandbox.ledger, contract.contract_no)
    return _page(entries, request.query_params, sandbox.ledger.settings.portfolio_page_size)


@router.get(
    "/contracts/{contractNo}/movements",
    summary="Movements",
    description="Records changed within the last 48 hours (never while pending), paged like the portfolio.",
    openapi_extra=oa.operation(query=pf.PAGE_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", _PAGE_ANSWER), **_ERRORS},
)
async def movements(request: Request) -> JSONResponse:
    sandbox, contract, _ = begin_get(request, pf.PAGE_QUERY_FIELDS, cursors=("nextEndorsementNo",))
    entries = pf.movements(sandbox.ledger, contract.contract_no, sandbox.clock.now())
    return _page(entries, request.query_params, sandbox.ledger.settings.portfolio_page_size)


def _page(entries: list[pf.Entry], params: Mapping[str, str], size: int) -> JSONResponse:
    records, following = pf.page(entries, pf.cursor(params), size)
    return answer(200, ok(paginationData={"nextEndorsementNo": following}, result=records))


async def _limit_operation(
    request: Request, fields: Sequence[Field]
) -> tuple[SandboxRuntime, Contract, dict[str, str]]:
    """The common start of the POSTs on a debtor's limit (cancel, activate-deactivate, accept-deny-premium): the
    envelope's ``client`` and ``generalData`` (`fields`, the debtor's identification among them) read, the
    contract in force."""
    sandbox, contract, body = await begin_post(request)
    read_section(body, "client", CLIENT_FIELDS)
    data = read_section(body, "generalData", fields, closed=False)
    sandbox.require_in_force(contract)
    return sandbox, contract, data
