"""The sandbox's activate-deactivate, accept-deny-premium and request numbers on a ledger, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import MSG_LIMIT_NOT_IN_FORCE, MSG_NO_PREMIUM_PENDING, PPC_MODALITY
from workers.sandbox import classifications as cls
from workers.sandbox import portfolio as pf
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Ledger
from workers.sandbox.wire import ApiError

ORO, PPC = "34109150331", "35100000025"
NOW = datetime(2023, 4, 30, 10, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def ledger() -> Ledger:
    return load_ledger(read_scenario(None))


def submit(ledger: Ledger, contract: str = PPC, when: datetime = NOW, **data: str) -> dict[str, Any]:
    fields = {"creditLimitRequested": "10000,00", "nonPaymentInd": "N"} | data
    return cls.submit(ledger, ledger.contracts[contract], fields, when)


def set_active(ledger: Ledger, active: bool, contract: str = PPC, when: datetime = LATER, **ids: str) -> dict[str, Any]:
    return cls.set_active(ledger, ledger.contracts[contract], ids, active, when)


def answer(ledger: Ledger, accept: bool, when: datetime = LATER, **ids: str) -> dict[str, Any]:
    return cls.answer_premium(ledger, ledger.contracts[PPC], ids, accept, when)


def refusal(error: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, str]:
    return error.value.status, error.value.code, error.value.description


def test_the_default_scenario_has_a_ppc_contract(ledger: Ledger) -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." The default scenario has one (assumption
    "contract-modality": the documents give no code, the sandbox's PPC modality is PPC_MODALITY)."""
    ppc = [contract for contract in ledger.contracts.values() if contract.ppc]
    assert [contract.contract_no for contract in ppc] == [PPC]
    assert PPC.startswith(PPC_MODALITY)
    assert ppc[0].in_force(NOW.date())
    assert not ledger.contracts[ORO].ppc


def test_a_ppc_limit_is_deactivated_and_activated_again(ledger: Ledger) -> None:
    """003 line 16: "This application allows make a state change (Activate or Deactivate) on Classification." The
    limit stays EN VIGOR (statusCode 2) with activeInd N, in every read; each change is a movement."""
    granted = submit(ledger, countryCode="ES", taxCode="B30000011", customerReference="CLI-P-1")
    assert (granted["statusCode"], granted["activeInd"]) == ("2", "Y")

    off = set_active(ledger, False, customerReference="CLI-P-1")
    assert (off["statusCode"], off["activeInd"], off["creditLimitGranted"]) == ("2", "N", "10000,00")
    assert off["statusDate"] == "20230430"
    number = int(off["endorsementNo"])
    assert cls.current_record(ledger, ledger.contracts[PPC], {"endorsementNo": str(number)})["activeInd"] == "N"
    portfolio, _ = pf.page(pf.portfolio(ledger, PPC), 0, 500)
    movements, _ = pf.page(pf.movements(ledger, PPC, LATER), 0, 500)
    assert [r["activeInd"] for r in portfolio] == [r["activeInd"] for r in movements] == ["N"]

    assert set_active(ledger, False, when=LATER + timedelta(hours=1), endorsementNo=str(number)) == off  # no change
    on = set_active(ledger, True, when=LATER + timedelta(hours=2), countryCode="ES", taxCode="B30000011")
    assert (on["statusCode"], on["activeInd"]) == ("2", "Y")
    assert not ledger.debtors[-1].deactivated


def test_activate_deactivate_is_refused_on_a_policy_that_is_not_ppc(ledger: Ledger) -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." Another policy refuses it as outside its
    conditions: 400, errorCode 1522, the catalogue's "No contemplado en condiciones póliza" (assumption
    "activate-deactivate"); the limit is untouched."""
    for active in (False, True):
        with pytest.raises(ApiError) as refused:
            set_active(ledger, active, contract=ORO, customerReference="CLI-0001")
        assert refusal(refused) == (400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS)
    record = cls.current_record(ledger, ledger.contracts[ORO], {"customerReference": "CLI-0001"})
    assert "activeInd" not in record
    assert record["statusDate"] == "20230102"


def test_only_a_limit_in_force_can_change_state(ledger: Ledger) -> None:
    """001 line 413 (activate-deactivate acts on a classification's limit): an unknown debtor is 000's "NO EXISTE
    LÍMITE A PARTIR DE LOS DATOS INTRODUCIDOS"; a debtor with no limit in force is 400 errorCode 2 too."""
    with pytest.raises(ApiError) as unknown:
        set_active(ledger, False, customerReference="NOBODY")
    assert refusal(unknown) == (400, cat.ERROR_CODE_NO_LIMIT, cat.MSG_NO_LIMIT)
    submit(ledger, countryCode="ES", taxCode="B1", customerReference="CLI-P-1")
    cls.cancel(ledger, ledger.contracts[PPC], {"customerReference": "CLI-P-1"}, LATER)
    with pytest.raises(ApiError) as cancelled:
        set_active(ledger, True, customerReference="CLI-P-1")
    assert refusal(cancelled) == (400, cat.ERROR_CODE_NO_LIMIT, MSG_LIMIT_NOT_IN_FORCE)
    with pytest.raises(ApiError) as anonymous:
        set_active(ledger, True)
    assert anonymous.value.code == "2"


def test_decide_asks_for_a_premium_between_the_two_thresholds() -> None:
    """003 line 20: "Accept Deny Premium ... This application allows for accept and deny Premium." The sandbox asks
    for one above the contract's premiumAcceptanceThreshold, up to the automatic grant (assumption)."""
    auto, premium = Decimal("100000.00"), Decimal("20000.00")
    assert cls.decide(False, Decimal("20000.00"), auto, premium) is cls.Decision.GRANT
    assert cls.decide(False, Decimal("20000.01"), auto, premium) is cls.Decision.PREMIUM
    assert cls.decide(False, Decimal("100000.01"), auto, premium) is cls.Decision.PENDING
    assert cls.decide(True, Decimal("50000.00"), auto, premium) is cls.Decision.DENY
    assert cls.decide(False, Decimal("50000.00"), auto) is cls.Decision.GRANT


def test_an_accepted_premium_puts_the_limit_in_force(ledger: Ledger) -> None:
    """003 line 20: "accept and deny Premium": waiting, the record is EN TRÁMITE with premiumPendingInd Y and
    premiumAmount (50.000,00 x 0,13752 / 100 = 68,76); it never resolves on its own; accepted, it is in force."""
    waiting = submit(ledger, countryCode="ES", taxCode="B2", creditLimitRequested="50000,00")
    assert (waiting["statusCode"], waiting["creditLimitGranted"]) == ("1", "0,00")
    assert (waiting["premiumPendingInd"], waiting["premiumAmount"]) == ("Y", "68,76")
    cls.resolve_due(ledger, NOW + timedelta(days=30))
    assert cls.current_record(ledger, ledger.contracts[PPC], {"countryCode": "ES", "taxCode": "B2"}) == waiting
    assert pf.movements(ledger, PPC, NOW) == []  # EN TRÁMITE is no movement

    accepted = answer(ledger, True, endorsementNo=waiting["endorsementNo"])
    assert (accepted["statusCode"], accepted["creditLimitGranted"]) == ("2", "50000,00")
    assert accepted["endorsementNo"] == waiting["endorsementNo"]
    assert "premiumPendingInd" not in accepted
    assert [r["statusCode"] for r in pf.page(pf.movements(ledger, PPC, LATER), 0, 500)[0]] == ["2"]
    with pytest.raises(ApiError) as again:
        answer(ledger, False, endorsementNo=waiting["endorsementNo"])
    assert refusal(again) == (400, cat.ERROR_CODE_NO_LIMIT, MSG_NO_PREMIUM_PENDING)


def test_a_denied_premium_leaves_the_limit_not_granted(ledger: Ledger) -> None:
    """003 line 20: "accept and deny Premium": denied, the limit is not granted (statusCode 3, a movement); a known
    debtor's request (its 300xxx) leaves the limit in force untouched."""
    submit(ledger, countryCode="ES", taxCode="B3", customerReference="CLI-P-3")  # 10.000,00 in force
    waiting = submit(ledger, customerReference="CLI-P-3", creditLimitRequested="60000,00")
    assert (waiting["endorsementNo"], waiting["premiumPendingInd"]) == ("300001", "Y")

    denied = answer(ledger, False, customerReference="CLI-P-3")
    assert (denied["statusCode"], denied["reasonStatusCode"], denied["creditLimitGranted"]) == ("3", "1", "0,00")
    limit = cls.current_record(ledger, ledger.contracts[PPC], {"customerReference": "CLI-P-3"})
    assert (limit["statusCode"], limit["creditLimitGranted"]) == ("2", "10000,00")
    statuses = sorted(r["statusCode"] for r in pf.page(pf.movements(ledger, PPC, LATER), 0, 500)[0])
    assert statuses == ["2", "3"]


def test_an_immediate_denial_is_numbered(ledger: Ledger) -> None:
    """000 line 11: "Al realizar una solicitud individual de clasificación, se genera un número para esa solicitud.
    Las solicitudes finalmente clasificadas generan un suplemento con ese mismo número, mientras que las denegadas
    no llegan a generar dicho suplemento ni se muestran en la tabla de cartera de Cesnet." """
    oro = ledger.contracts[ORO]
    known = submit(ledger, ORO, customerReference="CLI-0001", nonPaymentInd="Y", nonPaymentAmount="5,00")
    assert (known["endorsementNo"], known["statusCode"]) == ("300001", "3")
    assert cls.current_record(ledger, oro, {"customerReference": "CLI-0001"})["statusCode"] == "2"  # untouched

    new = submit(ledger, ORO, countryCode="ES", taxCode="B4", nonPaymentInd="Y", nonPaymentAmount="5,00")
    assert (new["endorsementNo"], new["statusCode"]) == ("11", "3")
    assert 11 not in [number for number, _, _ in pf.portfolio(ledger, ORO)]  # no supplement
    again = submit(ledger, ORO, countryCode="ES", taxCode="B4")
    assert (again["endorsementNo"], again["statusCode"]) == ("12", "2")  # a new request, a new number
    assert cls.current_record(ledger, oro, {"endorsementNo": "11"})["endorsementNo"] == "12"  # it names the debtor
