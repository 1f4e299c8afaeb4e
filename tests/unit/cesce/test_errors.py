"""Which answers are retried, which are rejections, which are duplicates: a pure decision."""

from __future__ import annotations

import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    DUPLICATE_SALE_DESCRIPTION,
    MSG_CLASSIFICATION_NOT_CANCELLABLE,
    MSG_MODIFICATION_WINDOW,
)
from workers.cesce.errors import (
    CesceAuthError,
    CesceError,
    CesceNotFound,
    CesceRateLimited,
    CesceRejection,
    CesceTransientError,
    DuplicateSale,
    ErrorKind,
    RejectionReason,
    classify,
    error_for,
    rejection_reason,
)

K = ErrorKind


@pytest.mark.parametrize(
    ("status", "code", "text", "kind"),
    [
        (200, "0", "", None),
        (201, "0", "", None),
        (200, None, None, None),
        (400, "1522", cat.MSG_EXPIRED_POLICY, K.BUSINESS),
        (400, "1522", cat.MSG_NOT_IN_POLICY_CONDITIONS, K.BUSINESS),
        (400, "1522", cat.MSG_CONTRACT_REQUIRED, K.BUSINESS),
        (400, "2809", cat.MSG_POLICY_EXCLUDED, K.BUSINESS),
        (400, "2", cat.MSG_NO_LIMIT, K.BUSINESS),
        (400, "6", cat.MSG_UNAUTHORIZED_CONTRACT, K.BUSINESS),
        (403, "6", "You are not authorized to execute this operation", K.BUSINESS),
        (422, "422", "'nonPaymentInd' is missing.", K.BUSINESS),
        (400, "1522", cat.MSG_DATE_ORDER, K.BUSINESS),
        (400, "1522", cat.MSG_NO_PENDING_SALES, K.BUSINESS),
        (400, "1522", DUPLICATE_SALE_DESCRIPTION, K.DUPLICATE_SALE),
        (400, "1522", "VENTA ERRÓNEA: FACTURA DUPLICADA", K.DUPLICATE_SALE),
        (400, "18", "", K.TRANSIENT),
        (400, "18", "Servicio en mantenimiento", K.TRANSIENT),
        (500, "3", cat.MSG_SERVICE_UNAVAILABLE, K.TRANSIENT),
        (500, None, None, K.TRANSIENT),
        (502, None, None, K.TRANSIENT),
        (503, None, None, K.TRANSIENT),
        (504, None, None, K.TRANSIENT),
        (429, "29", cat.MSG_RATE_LIMITED, K.TRANSIENT),
        (408, None, None, K.TRANSIENT),
        (401, "21", cat.MSG_SECURITY_CHECKS, K.AUTHENTICATION),
        (401, "21", cat.MSG_SUBSCRIPTION, K.AUTHENTICATION),
        (404, "4", cat.MSG_NOT_FOUND, K.NOT_FOUND),
        (405, "25", "Method Not Allowed", K.BUSINESS),
        (200, "1522", cat.MSG_EXPIRED_POLICY, K.BUSINESS),
        (200, "18", "", K.TRANSIENT),
    ],
)
def test_classify(status: int, code: str | None, text: str | None, kind: ErrorKind | None) -> None:
    assert classify(status, code, text) is kind


@pytest.mark.parametrize(
    ("status", "code", "text", "reason"),
    [
        (400, "1522", cat.MSG_EXPIRED_POLICY, RejectionReason.EXPIRED_POLICY),
        (400, "1522", "venta errónea: No existe periodo de seguro", RejectionReason.EXPIRED_POLICY),
        (400, "1522", cat.MSG_NOT_IN_POLICY_CONDITIONS, RejectionReason.NOT_IN_POLICY_CONDITIONS),
        (
            400,
            "1522",
            "venta errónea: Erróneas - No contemplado en condiciones póliza",
            RejectionReason.NOT_IN_POLICY_CONDITIONS,
        ),
        (400, "1522", cat.MSG_CONTRACT_REQUIRED, RejectionReason.CONTRACT_REQUIRED),
        (400, "1522", cat.MSG_DATE_ORDER, RejectionReason.DATE_ORDER),
        (400, "", cat.MSG_DATE_ORDER, RejectionReason.DATE_ORDER),
        (400, "1522", cat.MSG_NO_PENDING_SALES, RejectionReason.NO_PENDING_SALES),
        (400, "1522", MSG_MODIFICATION_WINDOW, RejectionReason.MODIFICATION_WINDOW),
        (400, "2809", cat.MSG_POLICY_EXCLUDED, RejectionReason.POLICY_EXCLUDED),
        (400, "2", cat.MSG_NO_LIMIT, RejectionReason.NO_LIMIT),
        (400, "2", "NO EXISTE LIMITE A PARTIR DE LOS DATOS INTRODUCIDOS", RejectionReason.NO_LIMIT),
        (400, "6", cat.MSG_UNAUTHORIZED_CONTRACT, RejectionReason.UNAUTHORIZED_CONTRACT),
        (403, "6", "You are not authorized to execute this operation", RejectionReason.UNAUTHORIZED_CONTRACT),
        (422, "422", "'nonPaymentInd' is missing.", RejectionReason.MISSING_FIELD),
        (400, "2", MSG_CLASSIFICATION_NOT_CANCELLABLE, RejectionReason.NOTHING_TO_CANCEL),
        (400, "2", " ", RejectionReason.OTHER),
        (400, "999", "something new", RejectionReason.OTHER),
    ],
)
def test_rejection_reason_tells_the_meanings_of_one_code_apart(
    status: int, code: str, text: str, reason: RejectionReason
) -> None:
    assert rejection_reason(status, code, text) is reason


def test_error_for_builds_the_most_specific_exception() -> None:
    def build(kind: ErrorKind, status: int, code: str, text: str = "") -> CesceError:
        return error_for(kind, operation="sales.declare", http_status=status, error_code=code, error_description=text)

    duplicate = build(K.DUPLICATE_SALE, 400, "1522", DUPLICATE_SALE_DESCRIPTION)
    assert type(duplicate) is DuplicateSale
    assert isinstance(duplicate, CesceRejection)
    expired = build(K.BUSINESS, 400, "1522", cat.MSG_EXPIRED_POLICY)
    assert type(expired) is CesceRejection
    assert expired.reason is RejectionReason.EXPIRED_POLICY
    assert "1522" in str(expired)
    assert "sales.declare" in str(expired)
    assert type(build(K.AUTHENTICATION, 401, "21")) is CesceAuthError
    assert type(build(K.NOT_FOUND, 404, "4")) is CesceNotFound

    limited = error_for(
        K.TRANSIENT, operation="x", http_status=429, error_code="29", error_description="", retry_after=7.0
    )
    assert isinstance(limited, CesceRateLimited)
    assert limited.retry_after == 7.0
    assert limited.outcome_unknown is False

    gateway = build(K.TRANSIENT, 504, "")
    assert type(gateway) is CesceTransientError
    assert gateway.outcome_unknown is True
    assert build(K.TRANSIENT, 500, "3").outcome_unknown is False  # Cesce answered: it did not process it


def test_every_kind_has_an_exception() -> None:
    for kind in ErrorKind:
        error = error_for(
            kind, operation="op", http_status=500 if kind is K.TRANSIENT else 400, error_code="1", error_description=""
        )
        assert error.kind is kind


def test_repr_names_codes_not_payloads() -> None:
    error = error_for(
        K.BUSINESS,
        operation="sales.declare",
        http_status=400,
        error_code="2809",
        error_description=cat.MSG_POLICY_EXCLUDED,
    )
    assert repr(error).startswith("CesceRejection(")
    assert "2809" in repr(error)
