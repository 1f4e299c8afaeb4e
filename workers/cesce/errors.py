"""Every way a Cesce call can fail, and the pure functions that decide which way it was.

    CesceError
    ├── CesceValidationError     refused before sending: a field breaks a documented rule (never sent)
    ├── CesceRejection           Cesce said no (HTTP 400/403/422 with errorCode): never retried
    │   └── DuplicateSale        the sale is already declared: same invoiceNo, invoiceDate,
    │                            maturityDate, debtor and amount
    ├── CesceNotFound            HTTP 404 (errorCode 4): no such sale, path or sandbox mock
    ├── CesceAuthError           HTTP 401, or the token endpoint refused the credentials
    ├── CesceTransientError      may succeed later: connect errors, timeouts, resets, 5xx
    │   │                        (errorCode 3), errorCode 18 (maintenance); retried with backoff
    │   └── CesceRateLimited     HTTP 429 (errorCode 29), with the server's Retry-After
    └── CesceProtocolError       an answer that is not in the documented shape

`classify()` maps an HTTP answer to an `ErrorKind`; `rejection_reason()` tells apart the
meanings the catalogue gives one errorCode (1522 means an expired policy, a missing supplement or
a missing contract). Both are pure and tested without sockets. `error_for()` builds the exception.

Nothing here holds a secret: the exceptions carry codes, texts, the HTTP method and the path,
never headers, tokens or request bodies.
"""

from __future__ import annotations

from enum import StrEnum

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    DUPLICATE_SALE_MARKER,
    MSG_CLASSIFICATION_NOT_CANCELLABLE,
    MSG_MODIFICATION_NOT_ALLOWED,
    MSG_MODIFICATION_WINDOW,
)

__all__ = [
    "CesceAuthError",
    "CesceError",
    "CesceNotFound",
    "CesceProtocolError",
    "CesceRateLimited",
    "CesceRejection",
    "CesceTransientError",
    "CesceValidationError",
    "DuplicateSale",
    "ErrorKind",
    "RejectionReason",
    "classify",
    "error_for",
    "quoted",
    "rejection_reason",
]

_QUOTED_CHARACTERS = 40


def quoted(value: object, limit: int = _QUOTED_CHARACTERS) -> str:
    """`value` as an error message may quote it: its repr when short, else the beginning and the length.

    Requests are built from input (an ERP row can hold a megabyte in any column), and error messages
    end up in dead letters and log lines, so they quote at most an excerpt.
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


class ErrorKind(StrEnum):
    """What an answer means for the caller."""

    BUSINESS = "business"
    """Cesce refused the request for a reason in its data or the policy; repeating it changes nothing."""
    DUPLICATE_SALE = "duplicate_sale"
    """The sale is already declared; read it back instead of declaring it again."""
    TRANSIENT = "transient"
    """The service could not answer now; the same request may succeed later."""
    AUTHENTICATION = "authentication"
    """The token, the credentials or the subscription are wrong; fix the configuration."""
    NOT_FOUND = "not_found"
    """What was asked for does not exist."""


class RejectionReason(StrEnum):
    """The documented meanings of a business rejection, told apart by errorCode and errorDescription."""

    EXPIRED_POLICY = "expired_policy"  # 1522 "No existe periodo de seguro"
    NOT_IN_POLICY_CONDITIONS = "not_in_policy_conditions"  # 1522 "No contemplado en condiciones póliza"
    CONTRACT_REQUIRED = "contract_required"  # 1522 "ES OBLIGATORIO INTRODUCIR EL CONTRATO"
    DATE_ORDER = "date_order"  # "fecha embarque > fecha vencimiento."
    NO_PENDING_SALES = "no_pending_sales"  # "DEUDOR SIN VENTAS PENDIENTES DE VENCIMIENTO"
    MODIFICATION_WINDOW = "modification_window"
    MODIFICATION_NOT_ALLOWED = "modification_not_allowed"
    POLICY_EXCLUDED = "policy_excluded"  # 2809
    NO_LIMIT = "no_limit"  # 2 "NO EXISTE LÍMITE ..."
    NOTHING_TO_CANCEL = "nothing_to_cancel"  # 2, a cancel of a debtor with no limit in force
    UNAUTHORIZED_CONTRACT = "unauthorized_contract"  # 6, or 403
    MISSING_FIELD = "missing_field"  # 422 "'field' is missing."
    OTHER = "other"


_TRANSIENT_CODES = frozenset(
    {cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.ERROR_CODE_MAINTENANCE, cat.ERROR_CODE_RATE_LIMITED}
)
_SUCCESS_CODES = frozenset({None, "", cat.ERROR_CODE_OK})


def classify(status: int, error_code: str | None, description: str | None) -> ErrorKind | None:
    """Decide what an answer means. ``None`` is success.

    The errorCode wins over the HTTP status for the codes that say "try later" (3, 18, 29): the
    catalogue lists maintenance (18) under 400 Bad Request.
    """
    code = (error_code or "").strip() or None
    if code in _TRANSIENT_CODES or status in {408, 429} or status >= 500:
        return ErrorKind.TRANSIENT
    if 200 <= status < 300:
        return None if code in _SUCCESS_CODES else ErrorKind.BUSINESS
    if status == 401:
        return ErrorKind.AUTHENTICATION
    if status == 404:
        return ErrorKind.NOT_FOUND
    if DUPLICATE_SALE_MARKER in (description or "").upper():
        return ErrorKind.DUPLICATE_SALE
    return ErrorKind.BUSINESS


def rejection_reason(status: int, error_code: str | None, description: str | None) -> RejectionReason:
    """Which documented meaning a business rejection has."""
    code = (error_code or "").strip()
    text = (description or "").strip()
    upper = text.upper()
    by_text = (
        (cat.MSG_EXPIRED_POLICY, RejectionReason.EXPIRED_POLICY),
        (cat.MSG_NOT_IN_POLICY_CONDITIONS, RejectionReason.NOT_IN_POLICY_CONDITIONS),
        (cat.MSG_CONTRACT_REQUIRED, RejectionReason.CONTRACT_REQUIRED),
        (cat.MSG_DATE_ORDER, RejectionReason.DATE_ORDER),
        (cat.MSG_NO_PENDING_SALES, RejectionReason.NO_PENDING_SALES),
        (MSG_MODIFICATION_WINDOW, RejectionReason.MODIFICATION_WINDOW),
        (MSG_MODIFICATION_NOT_ALLOWED, RejectionReason.MODIFICATION_NOT_ALLOWED),
        (MSG_CLASSIFICATION_NOT_CANCELLABLE, RejectionReason.NOTHING_TO_CANCEL),
    )
    for message, reason in by_text:
        if _same_text(message, text):
            return reason
    if code == cat.ERROR_CODE_POLICY_EXCLUDED:
        return RejectionReason.POLICY_EXCLUDED
    if code == cat.ERROR_CODE_NO_LIMIT and "NO EXISTE L" in upper:
        return RejectionReason.NO_LIMIT
    if code == cat.ERROR_CODE_UNAUTHORIZED_CONTRACT or status == 403:
        return RejectionReason.UNAUTHORIZED_CONTRACT
    if status == 422 and upper.endswith("IS MISSING."):
        return RejectionReason.MISSING_FIELD
    return RejectionReason.OTHER


def _same_text(documented: str, answered: str) -> bool:
    """Compare texts as Cesce's gateways mangle them: case, dashes, colons and spacing vary."""

    def fold(text: str) -> str:
        for dash in ("–", "—", ":", "-"):
            text = text.replace(dash, " ")
        return " ".join(text.upper().split())

    return bool(answered) and fold(documented) in fold(answered)


class CesceError(Exception):
    """Base of every error the Cesce client raises."""

    kind: ErrorKind | None = None

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        http_status: int | None = None,
        error_code: str | None = None,
        error_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.http_status = http_status
        self.error_code = error_code
        self.error_description = error_description

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.args[0]!r}, operation={self.operation!r}, "
            f"http_status={self.http_status!r}, error_code={self.error_code!r})"
        )


class CesceValidationError(CesceError):
    """A request field breaks a documented rule; nothing was sent."""

    def __init__(self, field: str, problem: str, *, operation: str = "") -> None:
        super().__init__(f"{field}: {problem}", operation=operation)
        self.field = field
        self.problem = problem


class CesceRejection(CesceError):
    """Cesce refused the request (a business rejection). `reason` names the documented meaning."""

    kind = ErrorKind.BUSINESS

    @property
    def reason(self) -> RejectionReason:
        return rejection_reason(self.http_status or 400, self.error_code, self.error_description)


class DuplicateSale(CesceRejection):
    """A rejection whose words say duplicate ("DUPLICAD"): a hint, never proof. Cesce's duplicate answer is not
    documented; the invoices worker reads the sale back and compares the guide's duplicate key before it calls
    a sale already declared (assumption duplicate-sale, `workers.invoices.duplicates`)."""

    kind = ErrorKind.DUPLICATE_SALE


class CesceNotFound(CesceError):
    kind = ErrorKind.NOT_FOUND


class CesceAuthError(CesceError):
    kind = ErrorKind.AUTHENTICATION


class CesceTransientError(CesceError):
    """The same request may succeed later.

    `outcome_unknown` is true when the request may have reached Cesce and been processed (a read
    timeout, a connection dropped after sending, a gateway timeout): repeating a non-idempotent
    request then needs a look-up first. `retry_after` is the server's Retry-After in seconds, if it
    sent one. `attempts` counts the tries made before giving up.
    """

    kind = ErrorKind.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
        attempts: int = 1,
        operation: str = "",
        http_status: int | None = None,
        error_code: str | None = None,
        error_description: str | None = None,
    ) -> None:
        super().__init__(
            message,
            operation=operation,
            http_status=http_status,
            error_code=error_code,
            error_description=error_description,
        )
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after
        self.attempts = attempts


class CesceRateLimited(CesceTransientError):
    """HTTP 429: wait `retry_after` seconds (from the Retry-After header) before trying again."""


class CesceProtocolError(CesceError):
    """The answer is not in the documented shape (not JSON, a field missing or malformed)."""


def error_for(
    kind: ErrorKind,
    *,
    operation: str,
    http_status: int,
    error_code: str | None,
    error_description: str | None,
    retry_after: float | None = None,
) -> CesceError:
    """The exception for an answer that `classify()` judged a failure."""
    summary = f"{operation}: HTTP {http_status}"
    if error_code:
        summary += f" errorCode {error_code}"
    if error_description:
        summary += f" {error_description!r}"
    if kind is ErrorKind.TRANSIENT:
        transient_type = CesceRateLimited if http_status == 429 else CesceTransientError
        return transient_type(
            summary,
            outcome_unknown=http_status in (502, 504),
            retry_after=retry_after,
            operation=operation,
            http_status=http_status,
            error_code=error_code,
            error_description=error_description,
        )
    exception_type: type[CesceError] = {
        ErrorKind.BUSINESS: CesceRejection,
        ErrorKind.DUPLICATE_SALE: DuplicateSale,
        ErrorKind.AUTHENTICATION: CesceAuthError,
        ErrorKind.NOT_FOUND: CesceNotFound,
    }[kind]
    return exception_type(
        summary,
        operation=operation,
        http_status=http_status,
        error_code=error_code,
        error_description=error_description,
    )
