"""activate-deactivate, accept-deny-premium, request numbers and contract modalities over real HTTP: the sandbox
through `RawCesce` and through the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from workers.cesce import CesceClient, CesceRejection, CesceSettings, DebtorId, RejectionReason
from workers.cesce import catalogue as cat
from workers.cesce.assumptions import SaleRejectionReason
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration

ORO, PPC = "34109150331", "35100000025"
CLASSIFICATIONS = "/classifications/v1/contracts/{contract}/classifications"


@pytest.fixture
async def cesce(sandbox: RunningSandbox) -> AsyncIterator[CesceClient]:
    settings = CesceSettings(
        base_url=sandbox.base_url,
        client_id="it-client",
        client_secret=SecretStr("it-secret"),
        timeout_seconds=5.0,
        retry_attempts=1,
    )
    async with CesceClient(settings) as client:
        yield client


def operation(api: Any, name: str, contract: str = PPC, **general: str) -> Any:
    return api.post(f"{CLASSIFICATIONS.format(contract=contract)}/{name}", generalData=general)


def sale(api: Any, invoice_no: str) -> dict[str, Any]:
    today = date.today().strftime("%Y%m%d")
    response = api.sale(PPC, customerReference="CLI-P-1", invoiceNo=invoice_no, invoiceDate=today, maturityDate=today)
    assert response.status_code == 201, response.text
    general: dict[str, Any] = response.json()["generalData"]
    return general


def test_a_deactivated_ppc_limit_shows_it_and_covers_no_sale(api: Any) -> None:
    """001 lines 411-413: "POST /contracts/{contractNo}/classifications/activate-deactivate" / "Solo se utiliza para
    pólizas de modalidad PPC." On the default scenario's PPC contract a limit is deactivated (activeInd N, still EN
    VIGOR, shown in the reads and the movements); a sale on it is RECHAZADA reason 1 until it is activated again."""
    granted = api.classify(PPC, countryCode="ES", taxCode="B30000011", customerReference="CLI-P-1")
    assert granted.status_code == 201, granted.text
    assert sale(api, "P-1")["statusCode"] == cat.SALE_TARIFFED

    off = operation(api, "activate-deactivate", customerReference="CLI-P-1", activeInd="N")
    assert off.status_code == 200, off.text
    assert (off.json()["generalData"]["statusCode"], off.json()["generalData"]["activeInd"]) == ("2", "N")
    movements = api.get(f"/classifications/v1/contracts/{PPC}/movements").json()["result"]
    assert [(r["customerReference"], r["activeInd"]) for r in movements] == [("CLI-P-1", "N")]
    rejected = sale(api, "P-2")
    assert (rejected["statusCode"], rejected["reasonStatusCode"]) == (
        cat.SALE_REJECTED,
        SaleRejectionReason.NO_LIMIT_IN_FORCE.value,
    )

    on = operation(api, "activate-deactivate", endorsementNo=off.json()["generalData"]["endorsementNo"], activeInd="Y")
    assert on.json()["generalData"]["activeInd"] == "Y"
    assert sale(api, "P-3")["statusCode"] == cat.SALE_TARIFFED


def test_activate_deactivate_on_another_policy_is_refused(api: Any) -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." Máster Oro Integral (341) is not: 400, errorCode
    1522 "No contemplado en condiciones póliza" (assumption "activate-deactivate")."""
    response = operation(api, "activate-deactivate", ORO, customerReference="CLI-0001", activeInd="N")
    assert api.error_of(response) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS)


def test_the_operation_bodies_are_checked(api: Any) -> None:
    """003 lines 16 and 20 name the operations; their indicator is required and Y or N, answered like any missing or
    malformed field (000's 422 "'nonPaymentInd' is missing." style)."""
    missing = operation(api, "activate-deactivate", customerReference="CLI-P-1")
    assert api.error_of(missing)[:2] == (422, "422")
    assert "activeInd" in api.error_of(missing)[2]
    bad = operation(api, "accept-deny-premium", customerReference="CLI-P-1", acceptPremiumInd="S")
    assert api.error_of(bad)[0] == 422
    assert "acceptPremiumInd" in api.error_of(bad)[2]


async def test_the_client_accepts_and_denies_premiums(api: Any, cesce: CesceClient) -> None:
    """003 line 20: "Accept Deny Premium, POST /contracts/{contractNo}/classifications/accept-deny-premium This
    application allows for accept and deny Premium." Above the PPC contract's premiumAcceptanceThreshold a request
    waits for its premium (EN TRÁMITE, premiumPendingInd Y); accepted it is in force, denied not granted."""
    for tax_code in ("B41000021", "B41000022"):
        waiting = api.classify(PPC, countryCode="ES", taxCode=tax_code, creditLimitRequested="50000,00")
        assert waiting.json()["generalData"]["premiumPendingInd"] == "Y", waiting.text
    record = await cesce.classifications.get(PPC, DebtorId.by_tax_code("ES", "B41000021"))
    assert record.premium_pending
    assert record.pending
    assert record.premiumAmount == Decimal("68.76")  # 50.000,00 x 0,13752 / 100

    accepted = await cesce.classifications.answer_premium(PPC, DebtorId.by_tax_code("ES", "B41000021"), accept=True)
    denied = await cesce.classifications.answer_premium(PPC, DebtorId.by_tax_code("ES", "B41000022"), accept=False)
    assert (accepted.statusCode, accepted.creditLimitGranted, accepted.premium_pending) == ("2", 50000, False)
    assert (denied.statusCode, denied.creditLimitGranted) == ("3", 0)
    with pytest.raises(CesceRejection) as nothing_waiting:
        await cesce.classifications.answer_premium(PPC, DebtorId.by_tax_code("ES", "B41000021"), accept=False)
    assert nothing_waiting.value.error_code == cat.ERROR_CODE_NO_LIMIT


async def test_the_client_deactivates_and_is_refused_outside_ppc(api: Any, cesce: CesceClient) -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." """
    api.classify(PPC, countryCode="ES", taxCode="B30000012", customerReference="CLI-P-2")
    off = await cesce.classifications.set_active(PPC, DebtorId.by_customer_reference("CLI-P-2"), active=False)
    assert off.deactivated
    assert off.statusCode == "2"
    with pytest.raises(CesceRejection) as refused:
        await cesce.classifications.set_active(ORO, DebtorId.by_customer_reference("CLI-0001"), active=False)
    assert refused.value.reason is RejectionReason.NOT_IN_POLICY_CONDITIONS


def test_an_immediate_denial_has_a_request_number(api: Any) -> None:
    """000 line 11: "Al realizar una solicitud individual de clasificación, se genera un número para esa solicitud.
    ... las denegadas no llegan a generar dicho suplemento ni se muestran en la tabla de cartera de Cesnet." """
    new = api.classify(countryCode="ES", taxCode="B99999991", nonPaymentInd="Y", nonPaymentAmount="10,00")
    known = api.classify(customerReference="CLI-0001", nonPaymentInd="Y", nonPaymentAmount="10,00")
    assert [r.json()["generalData"]["statusCode"] for r in (new, known)] == ["3", "3"]
    assert new.json()["generalData"]["endorsementNo"] == "11"
    assert known.json()["generalData"]["endorsementNo"] == "300001"
    portfolio = api.get(f"/classifications/v1/contracts/{ORO}/portfolio").json()["result"]
    assert not {"11", "300001"} & {r["endorsementNo"] for r in portfolio}


@pytest.mark.parametrize("contract", ["35199999999", "12309150331"])
def test_a_well_formed_number_of_any_modality_is_an_unauthorised_policy(api: Any, contract: str) -> None:
    """000 line 60: "incluyendo Modalidad (341 para Máster Oro Integral o 381 para Póliza Clásica) ... Por ejemplo,
    34109150331 o 38100029218": examples; an 11-digit number the user holds no authorisation for is 403 errorCode
    6 (assumption "unknown-contract"), not the format error."""
    response = api.classify(contract, countryCode="ES", taxCode="B1")
    assert api.error_of(response) == (403, cat.ERROR_CODE_UNAUTHORIZED_CONTRACT, cat.MSG_UNAUTHORIZED_CONTRACT)
