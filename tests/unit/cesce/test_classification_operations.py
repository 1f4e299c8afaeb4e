"""client.classifications.set_active and answer_premium: 003's other classification POSTs (no sockets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from tests.unit.cesce.fakes import CLASSIFICATION, CONTRACT, FakeCesce, answer, cesce_error
from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.errors import CesceRejection, CesceValidationError, RejectionReason
from workers.cesce.models import DebtorId
from workers.cesce.models.classifications import Classification

BASE = f"/classifications/v1/contracts/{CONTRACT}"
ACTIVATE = f"{BASE}/classifications/activate-deactivate"
PREMIUM = f"{BASE}/classifications/accept-deny-premium"


@pytest.mark.parametrize(("active", "flag"), [(False, "N"), (True, "Y")])
async def test_set_active_posts_the_debtor_and_active_ind(
    fake: FakeCesce, client: CesceClient, active: bool, flag: str
) -> None:
    """003 line 16: "Enable/Disable Classification, POST /contracts/{contractNo}/classifications/activate-deactivate
    This application allows make a state change (Activate or Deactivate) on Classification." The body follows the
    classification wire (assumption "activate-deactivate"): generalData names the debtor, activeInd Y or N."""
    fake.route("POST", ACTIVATE, answer(generalData=CLASSIFICATION | {"activeInd": flag}))

    record = await client.classifications.set_active(CONTRACT, DebtorId.by_endorsement("7"), active=active)

    assert fake.api_requests[0].url.path == ACTIVATE
    assert fake.bodies() == [
        {"client": {"languageCode": "ES"}, "generalData": {"endorsementNo": "7", "activeInd": flag}}
    ]
    assert record.deactivated is not active
    assert record.statusCode == "2"


async def test_set_active_on_a_policy_that_is_not_ppc_is_cesces_refusal(fake: FakeCesce, client: CesceClient) -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." Another policy answers 1522 "No contemplado en
    condiciones póliza" (assumption "activate-deactivate"), a rejection the caller can tell apart."""
    fake.route("POST", ACTIVATE, cesce_error(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS))

    with pytest.raises(CesceRejection) as refused:
        await client.classifications.set_active(CONTRACT, DebtorId.by_customer_reference("CLI-1"), active=False)

    assert refused.value.reason is RejectionReason.NOT_IN_POLICY_CONDITIONS
    assert refused.value.operation == "classifications.activate_deactivate"
    assert len(fake.api_requests) == 1  # a POST whose answer came back is never repeated


@pytest.mark.parametrize(("accept", "flag"), [(True, "Y"), (False, "N")])
async def test_answer_premium_posts_the_debtor_and_accept_premium_ind(
    fake: FakeCesce, client: CesceClient, accept: bool, flag: str
) -> None:
    """003 line 20: "Accept Deny Premium, POST /contracts/{contractNo}/classifications/accept-deny-premium This
    application allows for accept and deny Premium." Body: generalData names the debtor, acceptPremiumInd Y or N."""
    decided = {"statusCode": "2", "creditLimitGranted": "50000,00"} if accept else {"statusCode": "3"}
    fake.route("POST", PREMIUM, answer(generalData=CLASSIFICATION | decided))

    record = await client.classifications.answer_premium(
        CONTRACT, DebtorId.by_tax_code("ES", "B12345678"), accept=accept
    )

    assert fake.bodies() == [
        {
            "client": {"languageCode": "ES"},
            "generalData": {"countryCode": "ES", "taxCode": "B12345678", "acceptPremiumInd": flag},
        }
    ]
    assert record.statusCode == decided["statusCode"]
    assert not record.premium_pending


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.classifications.set_active(CONTRACT, DebtorId(), active=True),
        lambda c: c.classifications.answer_premium(CONTRACT, DebtorId(customerReference=" "), accept=True),
        lambda c: c.classifications.set_active("3410915033", DebtorId.by_endorsement("7"), active=False),
    ],
)
async def test_a_debtor_or_contract_cesce_cannot_take_is_refused_before_sending(
    fake: FakeCesce, client: CesceClient, call: Callable[[CesceClient], Awaitable[object]]
) -> None:
    """001 lines 420-421 (the same identification as cancel): "Se podrá identificar al deudor por cualquiera de los
    tres medios: endorsementNo, customerReference o countryCode + taxCode." Nothing is sent without one."""
    with pytest.raises(CesceValidationError):
        await call(client)
    assert fake.api_requests == []


def test_a_record_waiting_for_its_premium_says_so() -> None:
    """003 line 20 ("accept and deny Premium"): a classification can wait for the insured's answer to a premium; the
    record carries premiumPendingInd Y and premiumAmount (assumption "accept-deny-premium")."""
    waiting = Classification.model_validate(
        CLASSIFICATION
        | {"statusCode": "1", "creditLimitGranted": "0,00", "premiumAmount": "68,76", "premiumPendingInd": "Y"}
    )
    plain = Classification.model_validate(CLASSIFICATION)

    assert waiting.premium_pending
    assert waiting.pending
    assert waiting.premiumAmount == Decimal("68.76")
    assert not plain.premium_pending
    assert plain.premiumAmount is None
    assert not plain.deactivated
    assert Classification.model_validate(CLASSIFICATION | {"activeInd": "N"}).deactivated
