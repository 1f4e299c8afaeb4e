"""The Cesce operations the workers call, as protocols: what a handler needs, and what a test fakes.

Each protocol names the methods of one API that the workers use, with the concrete API's signature
(`SalesApi`, `ClassificationsApi`, `ClaimsApi` satisfy them, and so does any fake with the same
methods). A handler takes the part of the client it uses (`HasSales`, `HasClassifications`,
`HasClaims`): `CesceClient` is each of them, and a test passes an object holding only its fake.

    SalesOperations            declare, get, modify
    ClassificationsOperations  create, get, portfolio, pending_requests, movements
    ClaimsOperations           declare_non_payment, claim_files, documents, settlements
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Protocol

from workers.cesce.models import DebtorId
from workers.cesce.models.claims import (
    ClaimDocument,
    ClaimFile,
    NonPaymentDeclaration,
    NonPaymentDeclared,
    Settlement,
)
from workers.cesce.models.classifications import Classification, ClassificationRequest
from workers.cesce.models.sales import Sale, SaleChanges, SaleDeclaration, SaleDeclared, SaleModified, SaleRef

__all__ = [
    "ClaimsOperations",
    "ClassificationsOperations",
    "HasClaims",
    "HasClassifications",
    "HasSales",
    "SalesOperations",
]


class SalesOperations(Protocol):
    """The Sales API calls of the invoices worker (`workers.cesce.sales.SalesApi`)."""

    async def declare(self, contract_no: str, sale: SaleDeclaration) -> SaleDeclared: ...

    async def get(
        self,
        contract_no: str,
        *,
        sale_cesce_reference_no: str | None = None,
        invoice_no: str | None = None,
        maturity_date: date | None = None,
    ) -> Sale: ...

    async def modify(self, contract_no: str, sale: SaleRef, changes: SaleChanges) -> SaleModified: ...


class ClassificationsOperations(Protocol):
    """The Classifications API calls of the credit-requests worker, its follow-up and the risk poller
    (`workers.cesce.classifications.ClassificationsApi`)."""

    async def create(self, contract_no: str, request: ClassificationRequest) -> Classification: ...

    async def get(self, contract_no: str, debtor: DebtorId) -> Classification: ...

    def portfolio(self, contract_no: str, *, start: str | None = None) -> AsyncIterator[Classification]: ...

    def pending_requests(self, contract_no: str) -> AsyncIterator[Classification]: ...

    def movements(self, contract_no: str) -> AsyncIterator[Classification]: ...


class ClaimsOperations(Protocol):
    """The Claims API calls of the non-payments worker and its claims poller (`workers.cesce.claims.ClaimsApi`)."""

    async def declare_non_payment(self, contract_no: str, declaration: NonPaymentDeclaration) -> NonPaymentDeclared: ...

    async def claim_files(self, contract_no: str, key: DebtorId | str) -> list[ClaimFile]: ...

    async def documents(self, contract_no: str, claim_file_no: str) -> list[ClaimDocument]: ...

    async def settlements(self, contract_no: str, claim_file_no: str | None = None) -> list[Settlement]: ...


class HasSales(Protocol):
    """A client with a Sales API (`CesceClient`, or a test's holder of a fake)."""

    @property
    def sales(self) -> SalesOperations: ...


class HasClassifications(Protocol):
    """A client with a Classifications API (`CesceClient`, or a test's holder of a fake)."""

    @property
    def classifications(self) -> ClassificationsOperations: ...


class HasClaims(Protocol):
    """A client with a Claims API (`CesceClient`, or a test's holder of a fake)."""

    @property
    def claims(self) -> ClaimsOperations: ...
