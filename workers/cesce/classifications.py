"""``client.classifications``: ask for a credit limit, read, cancel, deactivate or activate it, answer its
premium, follow the portfolio.

A classification request or any other POST whose answer is lost is not resent: a second request
would be a second study (and the sandbox counts it). The caller reads the debtor with `get` before
trying again. Portfolio and movements page by nextEndorsementNo until it comes back "0".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from workers.cesce.config import CesceApi
from workers.cesce.http import CesceHttp, parse_answer
from workers.cesce.models import DebtorId
from workers.cesce.models.classifications import Classification, ClassificationRequest
from workers.cesce.validation import check_classification_request, check_debtor_id

__all__ = ["ClassificationsApi"]

_CLASSIFICATIONS = "/contracts/{contractNo}/classifications"
_CANCEL = "/contracts/{contractNo}/classifications/cancel"
_ACTIVATE = "/contracts/{contractNo}/classifications/activate-deactivate"
_PREMIUM = "/contracts/{contractNo}/classifications/accept-deny-premium"
_PORTFOLIO = "/contracts/{contractNo}/portfolio"
_MOVEMENTS = "/contracts/{contractNo}/movements"
_CURSOR = "nextEndorsementNo"
_LAST_PAGE = "0"


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
        return await self._post_debtor(_CANCEL, contract_no, debtor, "classifications.cancel")

    async def set_active(self, contract_no: str, debtor: DebtorId, *, active: bool) -> Classification:
        """POST /contracts/{contractNo}/classifications/activate-deactivate (PPC-modality policies only).

        ``generalData`` names the debtor and carries activeInd Y (activate) or N (deactivate) (assumptions
        "activate-deactivate"); Cesce refuses it on other policies (a `CesceBusinessError`)."""
        operation = "classifications.activate_deactivate"
        return await self._post_debtor(_ACTIVATE, contract_no, debtor, operation, activeInd=_yes_no(active))

    async def answer_premium(self, contract_no: str, debtor: DebtorId, *, accept: bool) -> Classification:
        """POST /contracts/{contractNo}/classifications/accept-deny-premium.

        ``generalData`` names the debtor and carries acceptPremiumInd Y (accept) or N (deny) (assumptions
        "accept-deny-premium"): accepted, the limit is in force; denied, it is not granted."""
        operation = "classifications.accept_deny_premium"
        return await self._post_debtor(_PREMIUM, contract_no, debtor, operation, acceptPremiumInd=_yes_no(accept))

    async def _post_debtor(
        self, path: str, contract_no: str, debtor: DebtorId, operation: str, **fields: str
    ) -> Classification:
        """An operation on the debtor's limit: ``generalData`` names the debtor (checked first), plus `fields`."""
        ids = debtor.to_wire()
        check_debtor_id(ids, operation=operation)
        return await self._post_record(path, contract_no, ids | fields, operation)

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
        """Every debtor in force, cancelled or pending, page after page from the first. `start` resumes a walk at a
        nextEndorsementNo a previous page returned (guide 3.2.2: send back what the answer gave), never a number
        of our own."""
        return self._records(_PORTFOLIO, contract_no, "classifications.portfolio", start)

    async def pending_requests(self, contract_no: str) -> AsyncIterator[Classification]:
        """The requests on known debtors still EN TRÁMITE: a debtor's record EN TRÁMITE beside another record of
        the same debtor (guide 3.2.2, "aparecerán dos registros": the supplement in force or cancelled, and the
        request numbered 300xxx). The individual read shows the supplement only, so the whole portfolio is
        walked, from its first page, sending back each nextEndorsementNo as the guide says; the pages' order is
        not documented, so the debtor's other record may come after its request."""
        records = [record async for record in self.portfolio(contract_no)]
        debtors = Counter((record.countryCode, record.taxCode) for record in records)
        for record in records:
            if record.pending and debtors[(record.countryCode, record.taxCode)] > 1:
                yield record

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


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"
