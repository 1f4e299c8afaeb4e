"""What the Cesce documents say, verbatim: error codes and texts, status codes, field limits.

Everything here is quoted from `shared/seeds/` (the support page's error catalogue, the
integration guide and the Sales API reference). What the documents leave open lives in
`workers.cesce.assumptions`, never here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CLASSIFICATION_PENDING",
    "CONTRACT_MODALITY_EXAMPLES",
    "CONTRACT_NO_LENGTH",
    "ERROR_CODE_MAINTENANCE",
    "ERROR_CODE_METHOD_NOT_ALLOWED",
    "ERROR_CODE_NOT_FOUND",
    "ERROR_CODE_NO_LIMIT",
    "ERROR_CODE_OK",
    "ERROR_CODE_POLICY_EXCLUDED",
    "ERROR_CODE_RATE_LIMITED",
    "ERROR_CODE_SALE_REJECTED",
    "ERROR_CODE_SERVICE_UNAVAILABLE",
    "ERROR_CODE_UNAUTHORIZED",
    "ERROR_CODE_UNAUTHORIZED_CONTRACT",
    "FIELD_MAX_LENGTHS",
    "MSG_CONTRACT_REQUIRED",
    "MSG_DATE_ORDER",
    "MSG_EXPIRED_POLICY",
    "MSG_METHOD_NOT_ALLOWED",
    "MSG_MISSING_FIELD",
    "MSG_NOT_FOUND",
    "MSG_NOT_IN_POLICY_CONDITIONS",
    "MSG_NO_LIMIT",
    "MSG_NO_PENDING_SALES",
    "MSG_POLICY_EXCLUDED",
    "MSG_RATE_LIMITED",
    "MSG_RESOURCE_OWNER_DENIED",
    "MSG_SECURITY_CHECKS",
    "MSG_SERVICE_UNAVAILABLE",
    "MSG_SUBSCRIPTION",
    "MSG_UNAUTHORIZED_CONTRACT",
    "PORTFOLIO_PAGE_SIZE",
    "SALE_REJECTED",
    "SALE_TARIFFED",
    "SCOPES",
]

# --- errorCode values (support page "Catálogo de Errores", Sales API error bodies) ---
ERROR_CODE_OK: Final = "0"
ERROR_CODE_NO_LIMIT: Final = "2"
ERROR_CODE_SERVICE_UNAVAILABLE: Final = "3"  # 500 "Service unavailable. Please, try again later"
ERROR_CODE_NOT_FOUND: Final = "4"  # 404 "API not found for requested URI"
ERROR_CODE_UNAUTHORIZED_CONTRACT: Final = "6"
ERROR_CODE_MAINTENANCE: Final = "18"  # PRE maintenance: try again later
ERROR_CODE_UNAUTHORIZED: Final = "21"  # 401
ERROR_CODE_METHOD_NOT_ALLOWED: Final = "25"  # 405 "Method Not Allowed"
ERROR_CODE_RATE_LIMITED: Final = "29"  # 429 "Too Many Requests"
ERROR_CODE_SALE_REJECTED: Final = "1522"  # "venta errónea", several meanings told apart by the text
ERROR_CODE_POLICY_EXCLUDED: Final = "2809"

# --- errorDescription texts, exactly as the catalogue writes them ---
MSG_NO_LIMIT: Final = "NO EXISTE LÍMITE A PARTIR DE LOS DATOS INTRODUCIDOS"
MSG_UNAUTHORIZED_CONTRACT: Final = "Acceso no autorizado para la operación solicitada"
MSG_EXPIRED_POLICY: Final = "venta errónea - No existe periodo de seguro"
MSG_NOT_IN_POLICY_CONDITIONS: Final = "venta errónea: Erróneas – No contemplado en condiciones póliza"
MSG_CONTRACT_REQUIRED: Final = "ES OBLIGATORIO INTRODUCIR EL CONTRATO"
MSG_POLICY_EXCLUDED: Final = "2809 PORCENTAJES  EXCLUIDO DE LA PÓLIZA"  # two spaces, as written
MSG_DATE_ORDER: Final = "fecha embarque > fecha vencimiento."
MSG_NO_PENDING_SALES: Final = "DEUDOR SIN VENTAS PENDIENTES DE VENCIMIENTO"
MSG_RESOURCE_OWNER_DENIED: Final = "Resource owner denied or not found"
MSG_SUBSCRIPTION: Final = "Cannot find valid subscription for the incoming API request."
MSG_SECURITY_CHECKS: Final = (
    "Cannot pass the security checks that are required by the target API or operation, "
    "Enable debug headers for more details."
)
MSG_MISSING_FIELD: Final = "'{field}' is missing."  # 422, e.g. "'nonPaymentInd' is missing."
MSG_SERVICE_UNAVAILABLE: Final = "Service unavailable. Please, try again later"
MSG_RATE_LIMITED: Final = "Too Many Requests"
MSG_NOT_FOUND: Final = "API not found for requested URI"
MSG_METHOD_NOT_ALLOWED: Final = "Method Not Allowed"

# --- status codes (integration guide 3.1.2 and 4.1) ---
CLASSIFICATION_PENDING: Final = "1"  # EN TRÁMITE
SALE_TARIFFED: Final = "5"  # TARIFICADA
SALE_REJECTED: Final = "9"  # RECHAZADA, reasonStatusCode says why

# contractNo = modality + policy number, 11 digits, no spaces. 000 names two modalities as examples ("Modalidad
# (341 para Máster Oro Integral o 381 para Póliza Clásica)") and the guide a third kind of policy ("pólizas de
# modalidad PPC"): the modalities are not a closed list, any 3 digits are well-formed.
CONTRACT_NO_LENGTH: Final = 11
CONTRACT_MODALITY_EXAMPLES: Final = {"341": "Máster Oro Integral", "381": "Póliza Clásica"}

# OAuth2 scopes (guide 2: "Los posibles valores son: read, update, delete, create")
SCOPES: Final = ("read", "update", "delete", "create")

# Portfolio and movements pages ("En Producción se muestran hasta 500 registros por página")
PORTFOLIO_PAGE_SIZE: Final = 500

# "Longitud máxima de campos en POST Clasificación" (guide 3.1.2). Fields the table lists with no
# length (languageCode, creditLimitRequested, ...) are absent. nonPaymentAmount is listed at 700.
# The same names carry the same limits wherever they appear (sales, claims).
FIELD_MAX_LENGTHS: Final[dict[str, int]] = {
    "contractNo": 11,
    "countryCode": 2,
    "taxCode": 20,
    "endorsementNo": 6,
    "customerReference": 50,
    "pdfInd": 1,
    "email": 100,
    "companyName": 100,
    "address": 80,
    "city": 30,
    "state": 30,
    "postalCode": 15,
    "phoneNo": 30,
    "currencyCode": 3,
    "nonPaymentAmount": 700,
    "otherPartiesInvolved": 700,
    "otherPaymentTerms": 700,
    "otherComments": 700,
    "durationCoverage": 3,
    "takerCode": 9,
    "policyHolderTaxCode": 9,
    "coverDuration": 3,
}
