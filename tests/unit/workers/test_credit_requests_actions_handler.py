"""The credit-requests handler on a row asking to cancel, deactivate, reactivate or answer a premium, over a fake
Classifications API: what is called, what is published, what the row state keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.workers.row_states import row_state, state_records
from tests.unit.workers.test_credit_requests_plan import row
from workers.cesce import CesceRejection, Classification, ClassificationRequest, DebtorId
from workers.cesce.catalogue import ERROR_CODE_NO_LIMIT, MSG_NO_LIMIT
from workers.credit_requests.handler import STATE_SCHEMA, CreditRequestsHandler
from workers.credit_requests.results import RESULT_SCHEMA
from workers.runtime import ROW_KEY_HEADER, DeadLetter, ErrorCategory, InputRecord, Output, Publish, RowState
from workers.runtime.envelope import Envelope, Op

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
ROW_KEY = b'{"id":"SOL-1"}'
KEPT = row()
PREMIUM_WAITING: dict[str, Any] = {"premiumPendingInd": "Y", "premiumAmount": Decimal("68.76")}
"""A request EN TRÁMITE waiting for the insured to accept its premium (assumptions "accept-deny-premium")."""


def record(status: str = "2", **extra: Any) -> Classification:
    """The debtor's record at Cesce (a limit of 50.000,00 requested on the 20th)."""
    values: dict[str, Any] = {
        "endorsementNo": "100045",
        "customerReference": "CLI-9",
        "countryCode": "ES",
        "taxCode": "B12345674",
        "statusCode": status,
        "creditLimitRequested": Decimal("50000.00"),
        "creditLimitGranted": Decimal("50000.00") if status == "2" else Decimal("0"),
        "currencyCode": "EUR",
        "requestDate": date(2026, 11, 20),
        "statusDate": date(2026, 11, 20),
    }
    return Classification(**(values | extra))


@dataclass
class FakeClassifications:
    """Cesce's Classifications API as far as the operations go: `current` is the debtor's record; each operation
    answers `answer` (or raises `refusal`), and every call is written down."""

    current: Classification | None
    answer: Classification | None = None
    refusal: Exception | None = None
    calls: list[tuple[str, str, DebtorId, bool | None]] = field(default_factory=list)

    async def get(self, contract_no: str, debtor: DebtorId) -> Classification:
        self.calls.append(("get", contract_no, debtor, None))
        if self.current is None:
            raise CesceRejection(
                MSG_NO_LIMIT, http_status=400, error_code=ERROR_CODE_NO_LIMIT, error_description=MSG_NO_LIMIT
            )
        return self.current

    async def _operate(self, name: str, contract_no: str, debtor: DebtorId, flag: bool | None) -> Classification:
        self.calls.append((name, contract_no, debtor, flag))
        if self.refusal is not None:
            raise self.refusal
        assert self.answer is not None
        return self.answer

    async def cancel(self, contract_no: str, debtor: DebtorId) -> Classification:
        return await self._operate("cancel", contract_no, debtor, None)

    async def set_active(self, contract_no: str, debtor: DebtorId, *, active: bool) -> Classification:
        return await self._operate("set_active", contract_no, debtor, active)

    async def answer_premium(self, contract_no: str, debtor: DebtorId, *, accept: bool) -> Classification:
        return await self._operate("answer_premium", contract_no, debtor, accept)

    async def create(self, contract_no: str, request: ClassificationRequest) -> Classification:
        raise AssertionError("an operation on a limit asks for no limit")

    def portfolio(self, contract_no: str, *, start: str | None = None) -> Any:
        raise AssertionError("not read for an operation")

    def pending_requests(self, contract_no: str) -> Any:
        raise AssertionError("not read for an operation")

    def movements(self, contract_no: str) -> Any:
        raise AssertionError("not read for an operation")


@dataclass(frozen=True)
class Holder:
    classifications: FakeClassifications


def handler(api: FakeClassifications, state: RowState) -> CreditRequestsHandler:
    return CreditRequestsHandler(
        Holder(api), "cesce.classification-results", "followups", timedelta(minutes=15), state=state, clock=lambda: NOW
    )


def change(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None) -> InputRecord:
    envelope = Envelope(op=op, before=before, after=after, ts_ms=None, source={})
    return InputRecord("erp.credit-requests", 1, 5, None, b"CLI-9", b"{}", ((ROW_KEY_HEADER, ROW_KEY),), envelope)


def results(outcome: object) -> list[dict[str, Any]]:
    assert isinstance(outcome, Publish), outcome
    found = [o for o in outcome.outputs if isinstance(o, Output) and o.schema == RESULT_SCHEMA]
    return [o.value for o in found if isinstance(o.value, dict)]


def kept(outcome: object) -> dict[bytes, Any]:
    assert isinstance(outcome, Publish), outcome
    return state_records(list(outcome.outputs), STATE_SCHEMA)


async def test_an_update_asking_to_cancel_cancels_the_limit_once() -> None:
    """001 lines 417-419: "POST /contracts/{contractNo}/classifications/cancel" / "Petición para cancelar un límite
    que tiene crédito en vigor." The row state then holds the CANCEL sent: the same change again calls nothing."""
    api = FakeClassifications(current=record("2"), answer=record("4", creditLimitGranted=Decimal("0")))
    state = row_state(STATE_SCHEMA, {ROW_KEY: KEPT})
    cancel = change("u", None, row(limitAction="CANCEL"))
    outcome = await handler(api, state)(cancel)
    [published] = results(outcome)
    assert (published["outcome"], published["action"], published["alreadyRegistered"]) == ("CANCELLED", "CANCEL", False)
    assert published["statusCode"] == "4"
    assert [name for name, *_ in api.calls] == ["get", "cancel"]
    assert api.calls[1][1:3] == (
        "34109150331",
        DebtorId(customerReference="CLI-9", countryCode="ES", taxCode="B12345674"),
    )
    assert kept(outcome)[ROW_KEY]["limitAction"] == "CANCEL"

    remembered = row_state(STATE_SCHEMA, {ROW_KEY: kept(outcome)[ROW_KEY]})
    again = await handler(api, remembered)(cancel)  # the change delivered again after its commit
    assert [v["outcome"] for v in results(again)] == ["NO_CHANGE"]
    assert len(api.calls) == 2, "an action already sent was sent again"


async def test_an_operation_cesce_already_shows_is_published_from_its_record_not_sent() -> None:
    """A crash between Cesce's answer and the commit: the row state does not know, Cesce's record does."""
    api = FakeClassifications(current=record("4", creditLimitGranted=Decimal("0")))
    outcome = await handler(api, row_state(STATE_SCHEMA, {ROW_KEY: KEPT}))(change("u", None, row(limitAction="CANCEL")))
    [published] = results(outcome)
    assert (published["outcome"], published["alreadyRegistered"]) == ("CANCELLED", True)
    assert [name for name, *_ in api.calls] == ["get"]
    assert kept(outcome)[ROW_KEY]["limitAction"] == "CANCEL"


async def test_a_new_row_asking_to_deactivate_deactivates_and_requests_no_limit() -> None:
    """003 line 16: "Enable/Disable Classification, POST /contracts/{contractNo}/classifications/activate-deactivate
    This application allows make a state change (Activate or Deactivate) on Classification." """
    api = FakeClassifications(current=record("2", activeInd="Y"), answer=record("2", activeInd="N"))
    outcome = await handler(api, row_state(STATE_SCHEMA))(change("c", None, row(limitAction="DEACTIVATE")))
    [published] = results(outcome)
    assert (published["outcome"], published["action"]) == ("DEACTIVATED", "DEACTIVATE")
    assert api.calls[-1][0] == "set_active"
    assert api.calls[-1][3] is False


async def test_reactivating_sends_active_true() -> None:
    api = FakeClassifications(current=record("2", activeInd="N"), answer=record("2", activeInd="Y"))
    state = row_state(STATE_SCHEMA, {ROW_KEY: KEPT | {"limitAction": "DEACTIVATE"}})
    outcome = await handler(api, state)(change("u", None, row(limitAction="ACTIVATE")))
    assert [(v["outcome"], v["action"]) for v in results(outcome)] == [("REACTIVATED", "ACTIVATE")]
    assert api.calls[-1][0::3] == ("set_active", True)


async def test_deactivating_on_a_policy_that_is_not_ppc_is_cesces_business_refusal() -> None:
    """001 line 413: "Solo se utiliza para pólizas de modalidad PPC." Cesce refuses it on other policies: a business
    dead letter with its errorCode, and the row state is left as it was (the action was not done)."""
    refusal = CesceRejection(
        "refused", http_status=400, error_code="1522", error_description="No contemplado en condiciones póliza"
    )
    api = FakeClassifications(current=record("2"), refusal=refusal)
    outcome = await handler(api, row_state(STATE_SCHEMA, {ROW_KEY: KEPT}))(
        change("u", None, row(limitAction="DEACTIVATE"))
    )
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.BUSINESS, "1522")
    assert "No contemplado" in outcome.description


async def test_a_premium_decision_answers_it_and_the_result_says_the_premium_is_settled() -> None:
    """003 line 20: "Accept Deny Premium, POST /contracts/{contractNo}/classifications/accept-deny-premium This
    application allows for accept and deny Premium." """
    waiting = record("1", **PREMIUM_WAITING)
    api = FakeClassifications(current=waiting, answer=record("2"))
    state = row_state(STATE_SCHEMA, {ROW_KEY: KEPT})
    outcome = await handler(api, state)(change("u", None, row(premiumDecision="ACCEPT")))
    [published] = results(outcome)
    assert (published["outcome"], published["action"]) == ("PREMIUM_ACCEPTED", "ACCEPT_PREMIUM")
    assert (published["premiumDecisionNeeded"], published["premiumAmount"]) == (False, None)
    assert api.calls[-1][0::3] == ("answer_premium", True)
    assert kept(outcome)[ROW_KEY]["premiumDecision"] == "ACCEPT"


async def test_a_premium_denied_sends_accept_false() -> None:
    api = FakeClassifications(current=record("1", **PREMIUM_WAITING), answer=record("3"))
    outcome = await handler(api, row_state(STATE_SCHEMA, {ROW_KEY: KEPT}))(
        change("u", None, row(premiumDecision="DENY"))
    )
    assert [v["outcome"] for v in results(outcome)] == ["PREMIUM_DENIED"]
    assert api.calls[-1][0::3] == ("answer_premium", False)


async def test_a_debtor_cesce_does_not_know_gets_cesces_own_answer() -> None:
    """No record: the operation is sent, and Cesce's refusal is its own to give (a business dead letter)."""
    refusal = CesceRejection(
        "no limit", http_status=400, error_code=ERROR_CODE_NO_LIMIT, error_description=MSG_NO_LIMIT
    )
    api = FakeClassifications(current=None, refusal=refusal)
    outcome = await handler(api, row_state(STATE_SCHEMA))(change("c", None, row(limitAction="CANCEL")))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.BUSINESS, ERROR_CODE_NO_LIMIT)
    assert [name for name, *_ in api.calls] == ["get", "cancel"]


async def test_deleting_a_row_cancels_nothing() -> None:
    """Cancelling is the explicit limitAction CANCEL; a delete calls nothing (assumptions "credit-request-actions")."""
    api = FakeClassifications(current=record("2"))
    outcome = await handler(api, row_state(STATE_SCHEMA, {ROW_KEY: KEPT}))(change("d", KEPT, None))
    assert [v["outcome"] for v in results(outcome)] == ["DELETED_IN_ERP"]
    assert api.calls == []


async def test_reactivating_a_limit_that_shows_no_active_state_is_sent_for_cesce_to_answer() -> None:
    """activeInd shows on PPC-modality policies only: a limit in force without it is not taken as active, so the
    ACTIVATE goes to Cesce, which refuses it there (001 line 413: "Solo se utiliza para pólizas de modalidad
    PPC.")."""
    refusal = CesceRejection("refused", http_status=400, error_code="1522", error_description="No contemplado")
    api = FakeClassifications(current=record("2"), refusal=refusal)
    outcome = await handler(api, row_state(STATE_SCHEMA, {ROW_KEY: KEPT}))(
        change("u", None, row(limitAction="ACTIVATE"))
    )
    assert isinstance(outcome, DeadLetter)
    assert [name for name, *_ in api.calls] == ["get", "set_active"]


async def test_a_premium_already_accepted_at_cesce_is_not_answered_again() -> None:
    """The request is in force and waits for nothing: the ACCEPT is published from Cesce's record."""
    api = FakeClassifications(current=record("2"))
    state = row_state(STATE_SCHEMA, {ROW_KEY: KEPT})
    outcome = await handler(api, state)(change("u", None, row(premiumDecision="ACCEPT")))
    assert [(v["outcome"], v["alreadyRegistered"]) for v in results(outcome)] == [("PREMIUM_ACCEPTED", True)]
    assert [name for name, *_ in api.calls] == ["get"]


async def test_a_request_answered_with_a_premium_to_accept_is_published_as_needing_a_decision() -> None:
    """003 line 20 ("accept and deny Premium"): the answer carries the premium and premiumDecisionNeeded, and the
    request is followed up like any EN TRÁMITE (the FINAL comes once the premium is answered)."""

    class Asking(FakeClassifications):
        async def create(self, contract_no: str, request: ClassificationRequest) -> Classification:
            self.calls.append(("create", contract_no, DebtorId(customerReference=request.customerReference), None))
            assert self.answer is not None
            return self.answer

    api = Asking(current=None, answer=record("1", **PREMIUM_WAITING))
    outcome = await handler(api, row_state(STATE_SCHEMA))(change("c", None, row()))
    [published] = results(outcome)
    assert (published["outcome"], published["action"]) == ("PENDING", None)
    assert (published["premiumDecisionNeeded"], published["premiumAmount"]) == (True, Decimal("68.76"))
    assert isinstance(outcome, Publish)
    assert [o.topic for o in outcome.outputs].count("followups") == 1
