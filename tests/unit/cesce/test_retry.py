"""Retries: the pure decisions alone, the policy with a fake clock, then the client end to end."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest

from tests.unit.cesce.fakes import (
    CLASSIFICATION,
    CONTRACT,
    SALE,
    SALE_DECLARED,
    FakeCesce,
    FakeClock,
    answer,
    cesce_error,
    make_settings,
)
from workers.cesce import catalogue as cat
from workers.cesce.assumptions import DUPLICATE_SALE_DESCRIPTION
from workers.cesce.client import CesceClient
from workers.cesce.errors import (
    CesceAuthError,
    CesceNotFound,
    CesceProtocolError,
    CesceRateLimited,
    CesceRejection,
    CesceTransientError,
    CesceValidationError,
    DuplicateSale,
)
from workers.cesce.models import DebtorId
from workers.cesce.models.claims import NonPaymentDeclaration
from workers.cesce.models.classifications import ClassificationRequest
from workers.cesce.models.sales import SaleChanges, SaleDeclaration, SaleRef
from workers.cesce.retry import RetryPolicy, backoff_seconds, delay_seconds, is_retryable


class Highest:
    """An rng that always draws the top of the range."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest:
    def uniform(self, a: float, b: float) -> float:
        return a


# --- pure decisions -----------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 1.0, 8.0, Highest()) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


def test_backoff_is_full_jitter_from_zero() -> None:
    assert backoff_seconds(5, 1.0, 8.0, Lowest()) == 0.0
    rng = random.Random(7)
    draws = [backoff_seconds(3, 0.5, 30.0, rng) for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 150  # spread, not a fixed wait


def test_backoff_survives_absurd_attempt_numbers() -> None:
    assert backoff_seconds(10_000, 1.0, 8.0, Highest()) == 8.0


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_seconds(0, 1.0, 8.0, Highest())


def test_the_delay_is_never_shorter_than_retry_after() -> None:
    limited = CesceRateLimited("429", retry_after=20.0)
    assert delay_seconds(limited, 1, 1.0, 8.0, Highest()) == 20.0
    assert delay_seconds(CesceRateLimited("429", retry_after=0.5), 3, 1.0, 8.0, Highest()) == 4.0
    assert delay_seconds(CesceTransientError("500"), 2, 1.0, 8.0, Highest()) == 2.0


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (CesceTransientError("503"), True, True),
        (CesceTransientError("503"), False, True),
        (CesceTransientError("connect refused", outcome_unknown=False), False, True),
        (CesceTransientError("read timeout", outcome_unknown=True), True, True),
        (CesceTransientError("read timeout", outcome_unknown=True), False, False),
        (CesceRateLimited("429", retry_after=1.0), False, True),
        (CesceRejection("1522"), True, False),
        (DuplicateSale("duplicate"), True, False),
        (CesceNotFound("404"), True, False),
        (CesceAuthError("401"), True, False),
        (CesceValidationError("invoiceNo", "blank"), True, False),
        (CesceProtocolError("not json"), True, False),
        (ValueError("a bug"), True, False),
    ],
)
def test_only_transient_errors_are_retried_and_unknown_outcomes_only_when_idempotent(
    error: Exception, idempotent: bool, expected: bool
) -> None:
    assert is_retryable(error, idempotent=idempotent) is expected


# --- the policy, with a fake clock --------------------------------------------------------------


def failing(*errors: Exception, result: str = "done") -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises `errors` one by one, then returns `result`; and its call counter."""
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return call, calls


def policy(clock: FakeClock, **overrides: float) -> RetryPolicy:
    limits: dict[str, float] = {"attempts": 4, "max_seconds": 60.0, "base_seconds": 1.0, "cap_seconds": 8.0}
    limits |= overrides
    return RetryPolicy(
        attempts=int(limits["attempts"]),
        max_seconds=limits["max_seconds"],
        base_seconds=limits["base_seconds"],
        cap_seconds=limits["cap_seconds"],
        sleep=clock.sleep,
        rng=Highest(),
        clock=clock,
    )


async def test_retries_until_the_call_succeeds() -> None:
    clock = FakeClock()
    call, calls = failing(CesceTransientError("a"), CesceTransientError("b"))

    assert await policy(clock).run(call, idempotent=False) == "done"
    assert calls == [3]
    assert clock.sleeps == [1.0, 2.0]


async def test_a_call_that_succeeds_at_once_never_enters_the_retry_machinery(monkeypatch: pytest.MonkeyPatch) -> None:
    """tenacity costs on every call; most calls succeed the first time and need none of it."""

    def unused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("tenacity entered for a call that succeeded")

    monkeypatch.setattr("workers.cesce.retry.AsyncRetrying", unused)
    clock = FakeClock()
    call, calls = failing()
    assert await policy(clock).run(call, idempotent=False) == "done"
    assert calls == [1]
    rejected, _ = failing(CesceRejection("no", operation="sales.declare"))
    with pytest.raises(CesceRejection):  # nor for an error no retry mends
        await policy(clock).run(rejected, idempotent=True)
    assert clock.sleeps == []


async def test_exhausted_retries_raise_the_last_error_with_the_attempt_count() -> None:
    clock = FakeClock()
    errors = [CesceTransientError(f"try {n}") for n in range(1, 6)]
    call, calls = failing(*errors)

    with pytest.raises(CesceTransientError) as failed:
        await policy(clock).run(call, idempotent=True)

    assert failed.value is errors[3]
    assert failed.value.attempts == 4
    assert calls == [4]
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_the_total_time_budget_stops_retries_before_the_attempt_cap() -> None:
    clock = FakeClock()
    call, calls = failing(*[CesceTransientError("down")] * 10)

    with pytest.raises(CesceTransientError) as failed:
        await policy(clock, attempts=10, max_seconds=10.0, base_seconds=4.0, cap_seconds=4.0).run(call, idempotent=True)

    assert clock.sleeps == [4.0, 4.0]  # a third wait would end past 10 s
    assert failed.value.attempts == calls[0] == 3


async def test_retry_after_is_waited_in_full() -> None:
    clock = FakeClock()
    call, _ = failing(CesceRateLimited("429", retry_after=30.0))

    assert await policy(clock).run(call, idempotent=False) == "done"
    assert clock.sleeps == [30.0]


async def test_a_retry_after_beyond_the_budget_is_raised_at_once() -> None:
    clock = FakeClock()
    call, calls = failing(CesceRateLimited("429", retry_after=600.0))

    with pytest.raises(CesceRateLimited) as failed:
        await policy(clock).run(call, idempotent=True)

    assert clock.sleeps == []
    assert calls == [1]
    assert failed.value.retry_after == 600.0
    assert failed.value.attempts == 1


async def test_an_unknown_outcome_is_not_retried_for_a_non_idempotent_call() -> None:
    clock = FakeClock()
    call, calls = failing(CesceTransientError("read timeout", outcome_unknown=True))

    with pytest.raises(CesceTransientError) as failed:
        await policy(clock).run(call, idempotent=False)

    assert calls == [1]
    assert failed.value.attempts == 1
    assert clock.sleeps == []


async def test_a_rejection_is_raised_at_once() -> None:
    clock = FakeClock()
    call, calls = failing(CesceTransientError("503"), CesceRejection("1522"))

    with pytest.raises(CesceRejection):
        await policy(clock).run(call, idempotent=True)

    assert calls == [2]
    assert clock.sleeps == [1.0]


# --- the client ---------------------------------------------------------------------------------

SALE_PATH = f"/sales/v1/contracts/{CONTRACT}/sale"
SALES_PATH = f"/sales/v1/contracts/{CONTRACT}/sales"
CLASSIFY_PATH = f"/classifications/v1/contracts/{CONTRACT}/classifications"
CLAIM_PATH = f"/claims/v1/contracts/{CONTRACT}/non-payment-declaration"

A_SALE = SaleDeclaration(
    customerReference="CLI-0001",
    invoiceNo="F-2026-0001",
    invoiceDate=date(2026, 1, 10),
    maturityDate=date(2026, 3, 10),
    currencyAmount=Decimal("1234.50"),
)


async def with_client(
    fake: FakeCesce, clock: FakeClock, operation: Callable[[CesceClient], Awaitable[object]]
) -> object:
    client = CesceClient(make_settings(), transport=fake.transport, sleep=clock.sleep, clock=clock, rng=Highest())
    async with client:
        return await operation(client)


async def test_a_read_is_retried_after_a_500() -> None:
    fake, clock = FakeCesce(), FakeClock()
    unavailable = cesce_error(500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
    fake.route("GET", SALE_PATH, unavailable, unavailable, answer(generalData=SALE))

    await with_client(fake, clock, lambda c: c.sales.get(CONTRACT, sale_cesce_reference_no="200000000001"))

    assert len(fake.api_requests) == 3
    assert clock.sleeps == [1.0, 2.0]


async def test_a_429_waits_for_retry_after() -> None:
    fake, clock = FakeCesce(), FakeClock()
    limited = cesce_error(429, cat.ERROR_CODE_RATE_LIMITED, cat.MSG_RATE_LIMITED, headers={"Retry-After": "7"})
    fake.route("GET", SALE_PATH, limited, answer(generalData=SALE))

    await with_client(fake, clock, lambda c: c.sales.get(CONTRACT, sale_cesce_reference_no="200000000001"))

    assert clock.sleeps == [7.0]


async def test_maintenance_is_retried_like_an_outage() -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("GET", SALE_PATH, cesce_error(400, "18", "Servicio en mantenimiento"), answer(generalData=SALE))

    await with_client(fake, clock, lambda c: c.sales.get(CONTRACT, sale_cesce_reference_no="200000000001"))

    assert len(fake.api_requests) == 2


async def test_a_lost_sale_declaration_is_resent_and_the_duplicate_reported() -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("POST", SALES_PATH, httpx.ReadTimeout("hang"), cesce_error(400, "1522", DUPLICATE_SALE_DESCRIPTION))

    with pytest.raises(DuplicateSale):
        await with_client(fake, clock, lambda c: c.sales.declare(CONTRACT, A_SALE))

    assert len(fake.api_requests) == 2
    assert fake.bodies()[0] == fake.bodies()[1]


async def test_a_dropped_sale_declaration_is_resent() -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("POST", SALES_PATH, httpx.RemoteProtocolError("dropped"), answer(201, generalData=SALE_DECLARED))

    declared = await with_client(fake, clock, lambda c: c.sales.declare(CONTRACT, A_SALE))

    assert getattr(declared, "saleCesceReferenceNo", None) == "200000000001"


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        (
            "POST",
            CLASSIFY_PATH,
            lambda c: c.classifications.create(
                CONTRACT, ClassificationRequest(endorsementNo="7", creditLimitRequested=Decimal(1), nonPaymentInd="N")
            ),
        ),
        (
            "POST",
            f"{CLASSIFY_PATH}/cancel",
            lambda c: c.classifications.cancel(CONTRACT, DebtorId(endorsementNo="7")),
        ),
        (
            "POST",
            SALE_PATH,
            lambda c: c.sales.modify(CONTRACT, SaleRef.by_reference("200000000001"), SaleChanges(invoiceNo="F-2")),
        ),
        (
            "POST",
            CLAIM_PATH,
            lambda c: c.claims.declare_non_payment(
                CONTRACT,
                NonPaymentDeclaration(
                    endorsementNo="7",
                    invoiceNo="F-1",
                    invoiceDate=date(2026, 1, 1),
                    maturityDate=date(2026, 2, 1),
                    unpaidAmount=Decimal("10.00"),
                    currencyCode="EUR",
                ),
            ),
        ),
    ],
)
@pytest.mark.parametrize("lost", [httpx.ReadTimeout("hang"), httpx.ReadError("reset"), cesce_error(504, "", "")])
async def test_a_non_idempotent_post_with_an_unknown_outcome_goes_back_to_the_caller(
    method: str, path: str, operation: Callable[[CesceClient], Awaitable[object]], lost: httpx.Response | Exception
) -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route(method, path, lost, answer(201, generalData=CLASSIFICATION))

    with pytest.raises(CesceTransientError) as failed:
        await with_client(fake, clock, operation)

    assert failed.value.outcome_unknown is True
    assert failed.value.attempts == 1
    assert len(fake.api_requests) == 1
    assert clock.sleeps == []


async def test_a_non_idempotent_post_that_never_left_is_retried() -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("POST", CLASSIFY_PATH, httpx.ConnectError("refused"), answer(201, generalData=CLASSIFICATION))
    request = ClassificationRequest(endorsementNo="7", creditLimitRequested=Decimal(1), nonPaymentInd="N")

    await with_client(fake, clock, lambda c: c.classifications.create(CONTRACT, request))

    assert len(fake.api_requests) == 2


@pytest.mark.parametrize(
    ("responder", "error"),
    [
        (cesce_error(400, "1522", cat.MSG_EXPIRED_POLICY), CesceRejection),
        (cesce_error(400, "1522", DUPLICATE_SALE_DESCRIPTION), DuplicateSale),
        (cesce_error(404, "4", "NO EXISTE LA VENTA"), CesceNotFound),
        (cesce_error(403, "6", cat.MSG_UNAUTHORIZED_CONTRACT), CesceRejection),
        (cesce_error(422, "422", "'invoiceNo' is invalid."), CesceRejection),
        (httpx.Response(200, text="<html/>"), CesceProtocolError),
    ],
)
async def test_permanent_failures_are_sent_once(responder: httpx.Response, error: type[Exception]) -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("POST", SALES_PATH, responder)

    with pytest.raises(error):
        await with_client(fake, clock, lambda c: c.sales.declare(CONTRACT, A_SALE))

    assert len(fake.api_requests) == 1
    assert clock.sleeps == []


async def test_an_outage_ends_with_the_attempt_count_from_settings() -> None:
    fake, clock = FakeCesce(), FakeClock()
    fake.route("GET", SALE_PATH, cesce_error(500, "3", cat.MSG_SERVICE_UNAVAILABLE))

    with pytest.raises(CesceTransientError) as failed:
        await with_client(fake, clock, lambda c: c.sales.get(CONTRACT, sale_cesce_reference_no="200000000001"))

    assert failed.value.attempts == 4
    assert failed.value.http_status == 500
    assert len(fake.api_requests) == 4
