"""Which Cesce operation each ERP invoice change needs: the pure decision."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.unit.cesce.fakes import make_settings, no_network
from tests.unit.workers.row_states import row_state, state_codec
from workers.cesce import CesceSettings
from workers.cesce.client import CesceClient
from workers.invoices.handler import STATE_SCHEMA, InvoicesHandler
from workers.invoices.plan import Declare, Deleted, Modify, NoChange, Refuse, debtor_of, identity, plan, sent
from workers.runtime.contract import DeadLetter, ErrorCategory, InputRecord
from workers.runtime.envelope import Envelope, Op


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "contractNo": "34109150331",
        "invoiceNo": "F-1",
        "invoiceDate": date(2026, 11, 2),
        "maturityDate": date(2027, 1, 2),
        "amount": Decimal("1000.00"),
        "currencyCode": "EUR",
        "endorsementNo": None,
        "customerReference": "CLI-0001",
        "subsidiaryNo": None,
        "acquisitionDate": None,
        "taxCodeTransferor": None,
    }
    return base | changes


@pytest.mark.parametrize("op", ["c", "r"])
def test_a_new_or_snapshot_row_is_declared(op: str) -> None:
    decision = plan(op, None, row())
    assert isinstance(decision, Declare)
    assert decision.contract_no == "34109150331"
    assert decision.sale.to_wire() == {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": "20261102",
        "maturityDate": "20270102",
        "currencyAmount": "1000,00",
        "currencyCode": "EUR",
    }


def test_a_negative_amount_is_declared_as_a_credit_note() -> None:
    decision = plan("c", None, row(amount=Decimal("-250.10")))
    assert isinstance(decision, Declare)
    assert decision.sale.to_wire()["currencyAmount"] == "-250,10"


def test_delete_makes_no_call() -> None:
    assert plan("d", row(), None) == Deleted()


def test_update_of_nothing_cesce_stores_makes_no_call() -> None:
    assert plan("u", row(), row()) == NoChange()
    assert plan("u", row(amount=Decimal("1000.0")), row(amount=Decimal("1000.00"))) == NoChange()


@pytest.mark.parametrize(
    ("change", "wire"),
    [
        ({"amount": Decimal("1200.00")}, {"currencyAmount": "1200,00"}),
        ({"invoiceNo": "F-1B"}, {"invoiceNo": "F-1B"}),
        ({"maturityDate": date(2027, 2, 1)}, {"maturityDate": "20270201"}),
        ({"invoiceDate": date(2026, 11, 3)}, {"invoiceDate": "20261103"}),
        ({"customerReference": "CLI-0002"}, {"customerReference": "CLI-0002"}),
        ({"currencyCode": "USD"}, {"currencyCode": "USD"}),
    ],
)
def test_a_change_cesce_stores_modifies_the_sale_by_its_old_identity(
    change: dict[str, Any], wire: dict[str, str]
) -> None:
    decision = plan("u", row(), row(**change))
    assert isinstance(decision, Modify)
    assert decision.ref.to_wire() == {"invoiceNo": "F-1", "maturityDate": "20270102"}
    assert decision.changes.to_wire() == wire
    assert decision.after.invoiceNo == row(**change)["invoiceNo"]


def test_switching_the_debtor_to_its_endorsement_number_names_it_only_that_way() -> None:
    decision = plan("u", row(), row(customerReference=None, endorsementNo="12"))
    assert isinstance(decision, Modify)
    assert decision.changes.to_wire() == {"endorsementNo": "12"}


@pytest.mark.parametrize("field", ["contractNo", "subsidiaryNo"])
def test_what_a_modification_cannot_carry_is_refused_with_the_field(field: str) -> None:
    decision = plan("u", row(), row(**{field: "38100029218" if field == "contractNo" else "2"}))
    assert isinstance(decision, Refuse)
    assert decision.field == field


def test_an_update_without_before_image_is_refused() -> None:
    decision = plan("u", None, row())
    assert isinstance(decision, Refuse)
    assert decision.field == "before"


def test_a_row_the_sales_api_cannot_carry_is_refused_naming_the_field() -> None:
    refused = plan("c", None, row(invoiceNo=None))
    assert isinstance(refused, Refuse)
    assert refused.field == "invoiceNo"


def test_debtor_is_the_key_the_erp_uses() -> None:
    assert debtor_of(row()) == "CLI-0001"
    assert debtor_of(row(customerReference=None, endorsementNo="12")) == "12"


def test_the_client_settings_take_only_their_own_cesce_variables() -> None:
    settings = CesceSettings.from_env(
        {
            "CESCE_BASE_URL": "https://api.example/sandbox",
            "CESCE_CLIENT_ID": "app",
            "CESCE_CLIENT_SECRET": "s",
            "CESCE_USERNAME": "u",
            "CESCE_PASSWORD": "p",
            "CESCE_OAUTH_URL": "",  # an unset Helm value
            "CESCE_SANDBOX_CLIENT_SECRET": "for the emulator, not the client",
        }
    )
    assert settings.token_url == "https://api.example/sandbox/oauth2/v1/token"
    assert settings.client_secret.get_secret_value() == "s"


# --- a zero amount never reaches Cesce --------------------------------------------------------------


def change(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None) -> InputRecord:
    envelope = Envelope(op=op, before=before, after=after, ts_ms=None, source={})
    return InputRecord("erp.invoices", 0, 5, None, b"CLI-0001", b"{}", (), envelope)


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-0"), Decimal("-0.00"), Decimal("-0E+2")])
@pytest.mark.parametrize("op", ["c", "r", "u"])
async def test_a_zero_amount_is_a_validation_dead_letter_before_any_call(op: Op, amount: Decimal) -> None:
    before = row() if op == "u" else None
    async with CesceClient(make_settings(), transport=httpx.MockTransport(no_network)) as client:
        handler = InvoicesHandler(client, "cesce.sale-results", state=row_state(STATE_SCHEMA))
        outcome = await handler(change(op, before, row(amount=amount)))

    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "currencyAmount")
    assert "zero" in outcome.description


def test_a_rows_identity_is_cesces_and_the_state_keeps_every_field_cesce_stores() -> None:
    assert identity(row()) == "34109150331/F-1/2027-01-02"
    kept = sent(row(notes="not for Cesce"))
    assert kept == row()
    codec = state_codec("cesce.state.SentSale")
    assert codec.decode(codec.encode(kept, "rows"), "rows") == kept
