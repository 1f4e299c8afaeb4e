"""``client.claims``: declare a non-payment, follow its claim file, documents and settlements.

Cesce never refuses a repeated declaration (it attaches a second non-payment to the file), so a
declaration whose answer is lost is not resent; the caller looks it up with `claim_files` first.
"""

from __future__ import annotations

from typing import TypeVar

from workers.cesce.assumptions import CLAIMS_PATHS
from workers.cesce.config import CesceApi
from workers.cesce.http import CesceHttp, parse_answer, parse_results
from workers.cesce.models import AnswerModel, DebtorId
from workers.cesce.models.claims import (
    ClaimDocument,
    ClaimFile,
    NonPaymentDeclaration,
    NonPaymentDeclared,
    Settlement,
)
from workers.cesce.validation import check_debtor_id, check_single_debtor

__all__ = ["ClaimsApi"]

_M = TypeVar("_M", bound=AnswerModel)


class ClaimsApi:
    """The Claims API of one client."""

    def __init__(self, http: CesceHttp) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"ClaimsApi({self._http!r})"

    async def declare_non_payment(self, contract_no: str, declaration: NonPaymentDeclaration) -> NonPaymentDeclared:
        """Declare one unpaid invoice; the first of a debtor opens a claim file (newClaimFileInd Y)."""
        operation = "claims.declare_non_payment"
        data = declaration.to_wire()
        check_single_debtor(data, operation=operation)
        answer = await self._http.post(
            CesceApi.CLAIMS,
            CLAIMS_PATHS["declare"],
            contract_no,
            operation=operation,
            sections={"generalData": data},
            idempotent=False,
        )
        return parse_answer(NonPaymentDeclared, answer.get("generalData"), operation)

    async def claim_files(self, contract_no: str, key: DebtorId | str) -> list[ClaimFile]:
        """The claim files of a debtor (by endorsementNo or customerReference), or the one numbered `key`."""
        operation = "claims.claim_files"
        if isinstance(key, DebtorId):
            params = key.to_wire()
            check_debtor_id(params, operation=operation, tax_code_allowed=False)
            check_single_debtor(params, operation=operation)
        else:
            params = {"claimFileNo": key}
        return await self._list(ClaimFile, "claim_files", contract_no, operation, params)

    async def documents(self, contract_no: str, claim_file_no: str) -> list[ClaimDocument]:
        """The documents of a claim file and where each stands (requested, claimed, received, validated)."""
        operation = "claims.documents"
        return await self._list(ClaimDocument, "documents", contract_no, operation, {"claimFileNo": claim_file_no})

    async def settlements(self, contract_no: str, claim_file_no: str | None = None) -> list[Settlement]:
        """The settlements of the policy, or of one claim file."""
        operation = "claims.settlements"
        params = {} if claim_file_no is None else {"claimFileNo": claim_file_no}
        return await self._list(Settlement, "settlements", contract_no, operation, params)

    async def _list(
        self, model: type[_M], path: str, contract_no: str, operation: str, params: dict[str, str]
    ) -> list[_M]:
        answer = await self._http.get(
            CesceApi.CLAIMS, CLAIMS_PATHS[path], contract_no, operation=operation, params=params
        )
        return parse_results(model, answer, operation)
