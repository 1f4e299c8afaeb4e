"""The Cesce credit-insurance APIs: an async client, its models, settings and errors.

    async with CesceClient(CesceSettings.from_env(os.environ)) as cesce:
        declared = await cesce.sales.declare("34109150331", SaleDeclaration(...))

Everything a worker needs is importable from here; the modules behind it are small and private
in spirit (`config`, `auth`, `http`, `retry`, `validation`, one module per API, `models`).
"""

from __future__ import annotations

from workers.cesce.client import CesceClient
from workers.cesce.config import CesceApi, CesceSettings
from workers.cesce.errors import (
    CesceAuthError,
    CesceError,
    CesceNotFound,
    CesceProtocolError,
    CesceRateLimited,
    CesceRejection,
    CesceTransientError,
    CesceValidationError,
    DuplicateSale,
    ErrorKind,
    RejectionReason,
    rejection_reason,
)
from workers.cesce.models import DebtorId
from workers.cesce.models.claims import (
    ClaimDocument,
    ClaimFile,
    NonPayment,
    NonPaymentDeclaration,
    NonPaymentDeclared,
    RequestedDocument,
    Settlement,
)
from workers.cesce.models.classifications import Classification, ClassificationRequest
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
from workers.cesce.protocols import (
    ClaimsOperations,
    ClassificationsOperations,
    HasClaims,
    HasClassifications,
    HasSales,
    SalesOperations,
)

__all__ = [
    "CesceApi",
    "CesceAuthError",
    "CesceClient",
    "CesceError",
    "CesceNotFound",
    "CesceProtocolError",
    "CesceRateLimited",
    "CesceRejection",
    "CesceSettings",
    "CesceTransientError",
    "CesceValidationError",
    "ClaimDocument",
    "ClaimFile",
    "ClaimsOperations",
    "Classification",
    "ClassificationRequest",
    "ClassificationsOperations",
    "DebtorId",
    "DuplicateSale",
    "ErrorKind",
    "HasClaims",
    "HasClassifications",
    "HasSales",
    "NonPayment",
    "NonPaymentDeclaration",
    "NonPaymentDeclared",
    "RejectionReason",
    "RequestedDocument",
    "Sale",
    "SaleChanges",
    "SaleDeclaration",
    "SaleDeclared",
    "SaleListItem",
    "SaleModified",
    "SaleRef",
    "SalesOperations",
    "Settlement",
    "Subsidiary",
    "rejection_reason",
]
