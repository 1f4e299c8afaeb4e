"""``client.classifications``: ask for a credit limit, read or cancel it, follow the portfolio.

A classification request or a cancellation whose answer is lost is not resent: a second request
would be a second study (and the sandbox counts it). The caller reads the debtor with `get` before
trying again. Portfolio and movements page by nextEndorsementNo until it comes back "0".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from workers.cesce.config import CesceApi
from workers.cesce.http import CesceHttp, parse_answer
from workers.cesce.models import DebtorId
from workers.cesce.models.classifications import Classification, ClassificationRequest
from workers.cesce.validation import check_classification_request, check_debtor_id

__all__ = ["PENDING_NUMBERS_FROM", "ClassificationsApi"]

_CLASSIFICATIONS = "/contracts/{contractNo}/classifications"
_CANCEL = "/contracts/{contractNo}/classifications/cancel"
_PORTFOLIO = "/contracts/{contractNo}/portfolio"
_MOVEMENTS = "/contracts/{contractNo}/movements"
_CURSOR = "nextEndorsementNo"
_LAST_PAGE = "0"
PENDING_NUMBERS_FROM: Final = "300000"
"""Requests on known debtors are numbered 300xxx while EN TRÁMITE (guide 3.2.2)."""


class ClassificationsApi:
    """The Classifications API of one client."""

    def __init__(self, http: CesceHttp) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"ClassificationsApi({self._http!r})"

    async def create(self, contract_no: str, request: ClassificationRequest) -> Classification:
        """Ask for a limit on a new or known debtor; the answer may be granted, denied or pending."""
        operation = "classifications.create"
        data = request.to_wire()
        check_classification_request(data, operation=operation)
        return await self._post_record(_CLASSIFICATIONS, contract_no, data, operation)

    async def get(self, contract_no: str, debtor: DebtorId) -> Classification:
        """The debtor's limit in force, or its last state, or its pending request."""
        operation = "classifications.get"
        params = debtor.to_wire()
        check_debtor_id(params, operation=operation)
        answer = await self._http.get(
            CesceApi.CLASSIFICATIONS, _CLASSIFICATIONS, contract_no, operation=operation, params=params
        )
        return parse_answer(Classification, answer.get("generalData"), operation)

    async def cancel(self, contract_no: str, debtor: DebtorId) -> Classification:
        """Cancel the debtor's limit in force."""
        operation = "classifications.cancel"
        data = debtor.to_wire()
        check_debtor_id(data, operation=operation)
        return await self._post_record(_CANCEL, contract_no, data, operation)

    async def _post_record(self, path: str, contract_no: str, data: dict[str, Any], operation: str) -> Classification:
        """POST ``generalData`` and read the classification record back. Never resent when its answer is lost:
        the caller looks the request up first (assumptions "outcome-unknown")."""
        answer = await self._http.post(
            CesceApi.CLASSIFICATIONS,
            path,
            contract_no,
            operation=operation,
            sections={"generalData": data},
            idempotent=False,
        )
        return parse_answer(Classification, answer.get("generalData"), operation)

    def portfolio(self, contract_no: str, *, start: str | None = None) -> AsyncIterator[Classification]:
        """Every debtor in force, cancelled or pending, by endorsementNo; from endorsementNo `start` on when given
        (the pages are ordered by it, and a page starts at the first number >= the cursor)."""
        return self._records(_PORTFOLIO, contract_no, "classifications.portfolio", start)

    def pending_requests(self, contract_no: str) -> AsyncIterator[Classification]:
        """The portfolio's 300xxx records: requests on known debtors still EN TRÁMITE (one page, as a rule)."""
        return self.portfolio(contract_no, start=PENDING_NUMBERS_FROM)

    def movements(self, contract_no: str) -> AsyncIterator[Classification]:
        """Every record that changed in the last 48 hours (never a pending one)."""
        return self._records(_MOVEMENTS, contract_no, "classifications.movements")

    def _records(
        self, path: str, contract_no: str, operation: str, start: str | None = None
    ) -> AsyncIterator[Classification]:
        return self._http.records(
            Classification,
            CesceApi.CLASSIFICATIONS,
            path,
            contract_no,
            operation=operation,
            cursor=_CURSOR,
            last=_LAST_PAGE,
            params=None if start is None else {_CURSOR: start},
        )
