"""The retry policy tells a caller when a call it resent had an earlier attempt whose outcome is unknown.

001 line 845-846: "El API devuelve error y la venta no se da de alta en el sistema": a declaration resent
after a lost answer is refused when its first attempt went in, in words the documents never give. The
caller can only read the refusal right if it knows an earlier attempt may have been processed.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.cesce.fakes import FakeCesce, FakeClock, cesce_error
from tests.unit.cesce.test_retry import A_SALE, CONTRACT, SALES_PATH, failing, policy, with_client
from workers.cesce.errors import CesceRejection, CesceTransientError
from workers.cesce.retry import follows_unknown_attempt

REFUSED = "venta errónea: Erróneas – No contemplado en condiciones póliza"  # 000 line 53, any wording will do


def rejection() -> CesceRejection:
    return CesceRejection("sales.declare: HTTP 400", http_status=400, error_code="1522", error_description=REFUSED)


async def test_a_rejection_after_an_attempt_whose_outcome_is_unknown_is_marked() -> None:
    """A read timeout (maybe processed) then a refusal: the refusal follows an unknown attempt."""
    call, calls = failing(CesceTransientError("read timeout", outcome_unknown=True), rejection())

    with pytest.raises(CesceRejection) as refused:
        await policy(FakeClock()).run(call, idempotent=True)

    assert calls == [2]
    assert follows_unknown_attempt(refused.value) is True


async def test_a_rejection_at_the_first_attempt_is_not_marked() -> None:
    call, _calls = failing(rejection())

    with pytest.raises(CesceRejection) as refused:
        await policy(FakeClock()).run(call, idempotent=True)

    assert follows_unknown_attempt(refused.value) is False


async def test_a_rejection_after_a_request_that_never_left_is_not_marked() -> None:
    """A connect error means Cesce never saw the request: the refusal that follows is Cesce's first answer."""
    call, calls = failing(CesceTransientError("connect refused", outcome_unknown=False), rejection())

    with pytest.raises(CesceRejection) as refused:
        await policy(FakeClock()).run(call, idempotent=True)

    assert calls == [2]
    assert follows_unknown_attempt(refused.value) is False


async def test_a_call_that_gives_up_after_an_unknown_attempt_says_its_outcome_is_unknown() -> None:
    """A read timeout then 503s until the budget is spent: the last error is a 503, but the call's outcome is
    unknown (the first attempt may have gone in), and the caller is told so."""
    errors = [CesceTransientError("read timeout", outcome_unknown=True)]
    errors += [CesceTransientError("HTTP 503", outcome_unknown=False) for _ in range(3)]
    call, calls = failing(*errors)

    with pytest.raises(CesceTransientError) as failed:
        await policy(FakeClock()).run(call, idempotent=True)

    assert calls == [4]
    assert (failed.value.outcome_unknown, follows_unknown_attempt(failed.value)) == (True, True)


async def test_a_declaration_resent_over_http_ends_in_a_marked_refusal_whatever_its_words() -> None:
    """End to end through the client: the first POST times out reading its answer, the resend is refused with a
    text that names no duplicate; the refusal reaches the caller marked."""
    fake, clock = FakeCesce(), FakeClock()
    fake.route("POST", SALES_PATH, httpx.ReadTimeout("hang"), cesce_error(400, "1522", REFUSED))

    with pytest.raises(CesceRejection) as refused:
        await with_client(fake, clock, lambda c: c.sales.declare(CONTRACT, A_SALE))

    assert len(fake.api_requests) == 2
    assert follows_unknown_attempt(refused.value) is True
