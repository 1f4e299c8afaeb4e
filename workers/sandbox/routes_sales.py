"""The Sales API (``/sales/v1``), described in the OpenAPI document by the seed's JSON Schemas."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from workers.sandbox import openapi as oa
from workers.sandbox.claims import has_claim_file
from workers.sandbox.fields import CLIENT_FIELDS, read_section, reject_unknown
from workers.sandbox.runtime import begin_get, begin_post
from workers.sandbox.sales import GENERAL_DATA_FIELDS, NEW_DATA_FIELDS, SALE_ID_FIELDS, declare_sale, modify_sale
from workers.sandbox.sales_queries import (
    LIST_QUERY_FIELDS,
    SALE_QUERY_FIELDS,
    SUBSIDIARIES_QUERY_FIELDS,
    find_sale,
    list_sales,
    sale_detail,
    subsidiaries_page,
)
from workers.sandbox.wire import answer, ok

__all__ = ["router"]

router = APIRouter(prefix="/sales/v1", tags=["Sales"])
_ERRORS: Final = oa.error_responses(400, 401, 403, 404, 405, 422, 429, 500)


@router.post(
    "/contracts/{contractNo}/sales",
    summary="Create Sale",
    description="This app allows the declaration of a sale.",
    status_code=201,
    openapi_extra=oa.operation(body=oa.schema("sale_request")),
    responses={**oa.success(201, "Created.", oa.schema("sale_response")), **_ERRORS},
)
async def create_sale(request: Request) -> JSONResponse:
    sandbox, contract, body = await begin_post(request)
    reject_unknown(body, ("client", "generalData"))
    read_section(body, "client", CLIENT_FIELDS)
    data = read_section(body, "generalData", GENERAL_DATA_FIELDS)
    sandbox.require_in_force(contract)
    return answer(201, ok(generalData=declare_sale(sandbox.ledger, contract, data, sandbox.clock.today())))


@router.get(
    "/contracts/{contractNo}/sales",
    summary="Returns a sales list",
    description="This app allows the consultation of sales by debtor and/or month of invoice. Includes pagination.",
    openapi_extra=oa.operation(query=LIST_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", oa.schema("sales_list_response")), **_ERRORS},
)
async def sales_list(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, LIST_QUERY_FIELDS, cursors=("initialValue",))
    items, following = list_sales(sandbox.ledger, contract, query, sandbox.clock.today())
    return answer(200, ok(paginationData={"initialValue": following}, result=items))


@router.post(
    "/contracts/{contractNo}/sale",
    summary="Modify Sale",
    description="This app allows the modification of a sale.",
    openapi_extra=oa.operation(body=oa.schema("sale_modification_request")),
    responses={**oa.success(200, "OK.", oa.schema("sale_modification_response")), **_ERRORS},
)
async def modify(request: Request) -> JSONResponse:
    sandbox, contract, body = await begin_post(request)
    reject_unknown(body, ("client", "sale", "newData"))
    read_section(body, "client", CLIENT_FIELDS)
    ids = read_section(body, "sale", SALE_ID_FIELDS)
    new = read_section(body, "newData", NEW_DATA_FIELDS, required=False)
    sandbox.require_in_force(contract)
    sale = find_sale(sandbox.ledger, contract.contract_no, ids)
    claimed = has_claim_file(sandbox.ledger, contract.contract_no, sale.debtor_no)
    result = modify_sale(sandbox.ledger, contract, sale, new, sandbox.clock.today(), has_claim_file=claimed)
    return answer(200, ok(result=result))


@router.get(
    "/contracts/{contractNo}/sale",
    summary="Retrieve of a Sale",
    description="This app allows the consultation of a sale, by saleCesceReferenceNo or invoiceNo + maturityDate.",
    openapi_extra=oa.operation(query=SALE_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", oa.schema("sale_get_response")), **_ERRORS},
)
async def sale(request: Request) -> JSONResponse:
    sandbox, contract, query = begin_get(request, SALE_QUERY_FIELDS)
    found = find_sale(sandbox.ledger, contract.contract_no, query)
    return answer(200, ok(generalData=sale_detail(contract, found)))


@router.get(
    "/contracts/{contractNo}/subsidiaries",
    summary="Retrieve a list of the internal codes that Cesce grants to the affiliated members of the policy",
    description="Subsidiaries active at the time of the consultation. Includes pagination.",
    openapi_extra=oa.operation(query=SUBSIDIARIES_QUERY_FIELDS),
    responses={**oa.success(200, "OK.", oa.schema("subsidiaries_response")), **_ERRORS},
)
async def subsidiaries(request: Request) -> JSONResponse:
    _, contract, _ = begin_get(request, SUBSIDIARIES_QUERY_FIELDS, cursors=("initialValue",))
    return answer(200, ok(paginationData={"initialValue": ""}, result=subsidiaries_page(contract)))
