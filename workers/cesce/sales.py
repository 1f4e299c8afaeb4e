"""``client.sales``: declare, read, modify and list sales; list the policy's subsidiaries.

A declaration is resent when its answer is lost: Cesce refuses the second one if the first went in,
in words the documents do not give (the client's `DuplicateSale` is only a guess from the text). The
refusal then carries `workers.cesce.retry.follows_unknown_attempt`, and the caller reads the sale
back with `get` (by invoiceNo + maturityDate: the latest declared when several share them) and
compares the guide's duplicate key. A modification is not resent: the caller checks with `get` first.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import date

from workers.cesce.assumptions import SALES_LIST_PARAMS
from workers.cesce.config import CesceApi
from workers.cesce.http import CesceHttp, parse_answer
from workers.cesce.models.sales import (
    Sale,
    SaleChanges,
    SaleDeclaration,
    SaleDeclared,
    SaleListItem,
    SaleModified,
    SaleRef,
    Subsidiary,
)
from workers.cesce.validation import (
    check_sale_amount,
    check_sale_changes,
    check_sale_ref,
    check_single_debtor,
    check_year_month,
)

__all__ = ["SalesApi"]

_SALES = "/contracts/{contractNo}/sales"
_SALE = "/contracts/{contractNo}/sale"
_SUBSIDIARIES = "/contracts/{contractNo}/subsidiaries"
_CURSOR = SALES_LIST_PARAMS["page"]  # initialValue, "" on the last page


class SalesApi:
    """The Sales API of one client."""

    def __init__(self, http: CesceHttp) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"SalesApi({self._http!r})"

    async def declare(self, contract_no: str, sale: SaleDeclaration) -> SaleDeclared:
        """Declare one sale (a credit note if the amount is negative); RECHAZADA is an answer, not an error."""
        operation = "sales.declare"
        data = sale.to_wire()
        check_single_debtor(data, operation=operation)
        check_sale_amount(data, operation=operation)
        answer = await self._http.post(
            CesceApi.SALES, _SALES, contract_no, operation=operation, sections={"generalData": data}, idempotent=True
        )
        return parse_answer(SaleDeclared, answer.get("generalData"), operation)

    async def get(
        self,
        contract_no: str,
        *,
        sale_cesce_reference_no: str | None = None,
        invoice_no: str | None = None,
        maturity_date: date | None = None,
    ) -> Sale:
        """Read a sale by its saleCesceReferenceNo, or by invoiceNo + maturityDate (the latest declared)."""
        operation = "sales.get"
        ref = SaleRef(saleCesceReferenceNo=sale_cesce_reference_no, invoiceNo=invoice_no, maturityDate=maturity_date)
        params = ref.to_wire()
        check_sale_ref(params, operation=operation)
        answer = await self._http.get(CesceApi.SALES, _SALE, contract_no, operation=operation, params=params)
        return parse_answer(Sale, answer.get("generalData"), operation)

    async def modify(self, contract_no: str, sale: SaleRef, changes: SaleChanges) -> SaleModified:
        """Change a declared sale within the modification windows (guide 4.2); all changes or none."""
        operation = "sales.modify"
        ref, new_data = sale.to_wire(), changes.to_wire()
        check_sale_ref(ref, operation=operation)
        check_sale_changes(new_data, operation=operation)
        check_sale_amount(new_data, operation=operation)
        answer = await self._http.post(
            CesceApi.SALES,
            _SALE,
            contract_no,
            operation=operation,
            sections={"sale": ref, "newData": new_data},
            idempotent=False,
        )
        return parse_answer(SaleModified, answer.get("result"), operation)

    def list(
        self,
        contract_no: str,
        *,
        recent_movements: bool | None = None,
        endorsement_no: str | None = None,
        customer_reference: str | None = None,
        invoice_year_month: str | None = None,
        status_code: str | None = None,
    ) -> AsyncIterator[SaleListItem]:
        """Every sale matching the filters, page after page; `invoice_year_month` is YYYYMM."""
        operation = "sales.list"
        if invoice_year_month is not None:
            check_year_month(invoice_year_month, operation=operation)
        filters = {
            "recent_movements": None if recent_movements is None else ("Y" if recent_movements else "N"),
            "endorsement_no": endorsement_no,
            "customer_reference": customer_reference,
            "invoice_year_month": invoice_year_month,
            "status_code": status_code,
        }
        params = {SALES_LIST_PARAMS[name]: value for name, value in filters.items() if value is not None}
        return self._http.records(
            SaleListItem,
            CesceApi.SALES,
            _SALES,
            contract_no,
            operation=operation,
            cursor=_CURSOR,
            last="",
            params=params,
        )

    async def subsidiaries(self, contract_no: str) -> builtins.list[Subsidiary]:
        """The policy's active subsidiaries (the head office is 0)."""
        operation = "sales.subsidiaries"
        records = self._http.records(
            Subsidiary, CesceApi.SALES, _SUBSIDIARIES, contract_no, operation=operation, cursor=_CURSOR, last=""
        )
        return [subsidiary async for subsidiary in records]
