"""What the runtime should do about a Cesce error: the one mapping every worker shares.

- a field the client refused before sending: a ``validation`` dead letter naming the field;
- a business rejection or an unknown record (Cesce's errorCode, else the HTTP status): ``business``;
- a transient failure (timeouts, 5xx, 429 with its Retry-After, maintenance): `Retry`;
- refused credentials or an answer in no documented shape: `Retry` as well. Both are problems of
  configuration or of the other side that no record can fix; retrying lets the outage breaker
  pause consumption until they are mended, instead of dead-lettering every record meanwhile.
"""

from __future__ import annotations

from workers.cesce import (
    CesceAuthError,
    CesceError,
    CesceNotFound,
    CesceProtocolError,
    CesceRejection,
    CesceTransientError,
    CesceValidationError,
)
from workers.runtime.contract import DeadLetter, ErrorCategory, Retry

__all__ = ["describe", "failure_outcome"]


def describe(error: CesceError) -> str:
    """Cesce's own words when it gave some, else the client's."""
    return error.error_description or str(error)


def failure_outcome(error: CesceError) -> DeadLetter | Retry:
    if isinstance(error, CesceValidationError):
        return DeadLetter(ErrorCategory.VALIDATION, error.field, str(error))
    if isinstance(error, CesceRejection | CesceNotFound):
        code = error.error_code or str(error.http_status or ("404" if isinstance(error, CesceNotFound) else "400"))
        return DeadLetter(ErrorCategory.BUSINESS, code, describe(error))
    if isinstance(error, CesceTransientError):
        return Retry(error.error_code or type(error).__name__, str(error), error.retry_after)
    if isinstance(error, CesceAuthError | CesceProtocolError):
        return Retry(error.error_code or type(error).__name__, str(error))
    raise error
