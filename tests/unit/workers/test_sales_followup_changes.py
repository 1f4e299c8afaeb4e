"""The sales follow-up's comparison (pure): Cesce's sales list against the last known state of each sale."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from workers.cesce.models.sales import SaleListItem
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.coercions import coerce
from workers.sales_followup.changes import (
    CHANGE_SCHEMA,
    STATE_SCHEMA,
    Comparison,
    change_key,
    compare,
    state_key,
    state_of,
)

ORO = "34109150331"
NOW = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)


def item(reference: str = "200000000001", **fields: str) -> SaleListItem:
    """One row of the sales list as Cesce sends it (002 "ResultListSalesResponse"), wire strings."""
    wire = {
        "statusCode": "5",
        "reasonStatusCode": "0",
        "customerReference": "CLI-0001",
        "invoiceNo": "F-1",
        "invoiceDate": "20240310",
        "maturityDate": "20240510",
        "entryDate": "20240315",
        "currencyAmount": "10000,00",
        "currencyCode": "EUR",
        "countervalueAmount": "10000,00",
        "currencyContractCode": "EUR",
        "collectedAmount": "0,00",
        "commercialRiskCoverPct": "95,00",
        "commercialRiskRate": "0,13752",
        "commercialRiskPremium": "13,75",
        "politicalRiskCoverPct": "0,00",
        "politicalRiskRate": "0,00000",
        "politicalRiskPremium": "0,00",
        "saleCesceReferenceNo": reference,
        "statusDate": "20240315",
    } | fields
    return SaleListItem.model_validate(wire)


def known(*items: SaleListItem, seen: datetime = NOW - timedelta(hours=1)) -> dict[str, dict[str, Any]]:
    return {state_key(ORO, i.saleCesceReferenceNo): state_of(ORO, i, seen) for i in items}


def run(before: dict[str, dict[str, Any]], *items: SaleListItem, now: datetime = NOW) -> Comparison:
    return compare(ORO, before, items, now=now)


def test_a_sale_read_again_unchanged_changes_nothing() -> None:
    """001 line 1026: "los movimientos a partir de dos días": overlapping reads meet a sale again."""
    found = run(known(item()), item())
    assert (found.changes, found.writes) == ([], {})


def test_a_sale_first_seen_is_remembered_without_an_event() -> None:
    """Our own declaration shows in the movements too (001 line 1023: "cualquier cambio registrado en la venta")."""
    found = run({}, item())
    assert found.changes == []
    assert list(found.writes) == [f"{ORO}/200000000001"]


def test_a_collection_is_one_collected_change_with_before_and_after() -> None:
    """002 line 622-624: "collectedAmount": "Amount collected from the invoice. In the contract currency"."""
    found = run(known(item()), item(collectedAmount="4000,00", statusDate="20240508"))
    [change] = found.changes
    assert change["kinds"] == ["COLLECTED"]
    assert (change["previousCollectedAmount"], change["collectedAmount"]) == (Decimal("0.00"), Decimal("4000.00"))
    assert change["statusDate"] == date(2024, 5, 8)
    assert change_key(change) == f"{ORO}/200000000001"


def test_a_situation_change_is_status() -> None:
    """001 line 957: "ventas que estén certificadas, titulizadas o en trámite": a situation Cesce gives a sale."""
    [change] = run(known(item()), item(statusCode="3", statusDate="20240508")).changes
    assert change["kinds"] == ["STATUS"]
    assert (change["previousStatusCode"], change["statusCode"]) == ("5", "3")


def test_new_rates_and_premiums_on_the_same_data_are_a_retariffing() -> None:
    """001 line 969-970: "si la venta está pendiente de retarificar": Cesce tariffs it again (new rate, premium)."""
    after = item(commercialRiskRate="0,20000", commercialRiskPremium="20,00", statusDate="20240508")
    [change] = run(known(item()), after).changes
    assert change["kinds"] == ["RETARIFFED"]
    assert (change["previousCommercialRiskPremium"], change["commercialRiskPremium"]) == (
        Decimal("13.75"),
        Decimal("20.00"),
    )
    assert (change["previousCommercialRiskRate"], change["commercialRiskRate"]) == (
        Decimal("0.13752"),
        Decimal("0.20000"),
    )


def test_new_premiums_that_follow_a_modified_amount_are_a_modification() -> None:
    """001 line 917-918: a modification may change "nº factura (ver punto 7), deudor, fecha factura, ... e importe"."""
    after = item(currencyAmount="9000,00", countervalueAmount="9000,00", commercialRiskPremium="12,38")
    [change] = run(known(item()), after).changes
    assert change["kinds"] == ["MODIFIED"]


def test_an_extension_is_one_extended_change_naming_the_sale_it_extends() -> None:
    """000 line 29: "genera una nueva venta prorrogada con un número saleCesceReferenceNo distinto, prima
    diferenciada y un nuevo campo maturityAmount, que recogerá el importe impagado de la factura inicial"."""
    original = item(collectedAmount="4000,00")
    now_extended = item(statusCode="7", collectedAmount="4000,00", statusDate="20240508")
    new_sale = item(
        "200000000002",
        maturityDate="20240710",
        maturityAmount="6000,00",
        commercialRiskPremium="8,25",
        entryDate="20240508",
        statusDate="20240508",
    )
    found = run(known(original), now_extended, new_sale)
    [change] = found.changes  # the original's move to PRORROGADA is part of the extension
    assert change["kinds"] == ["EXTENDED"]
    assert (change["saleCesceReferenceNo"], change["extendedSaleCesceReferenceNo"]) == ("200000000002", "200000000001")
    assert (change["previousMaturityDate"], change["maturityDate"]) == (date(2024, 5, 10), date(2024, 7, 10))
    assert change["maturityAmount"] == Decimal("6000.00")
    assert (change["previousCommercialRiskPremium"], change["commercialRiskPremium"]) == (
        Decimal("13.75"),
        Decimal("8.25"),
    )
    assert change_key(change) == f"{ORO}/200000000001"  # with the extended sale's own changes
    assert set(found.writes) == {f"{ORO}/200000000001", f"{ORO}/200000000002"}
    assert found.writes[f"{ORO}/200000000001"]["statusCode"] == "7"  # type: ignore[index]
    again = run(known(now_extended) | known(new_sale), now_extended, new_sale)
    assert (again.changes, again.writes) == ([], {})


def test_an_original_made_prorrogada_without_its_extension_in_sight_is_a_status_change() -> None:
    """001 line 968-969: "en situación de ... Prorrogada": a situation like the others when seen on its own."""
    [change] = run(known(item()), item(statusCode="7", statusDate="20240508")).changes
    assert change["kinds"] == ["STATUS"]


def test_several_kinds_at_once_are_one_change() -> None:
    """001 line 1023-1024: a movement is "cualquier cambio registrado en la venta, ya sea de alguno de sus datos como
    de su estado (situación)": one read, one change per sale, with every kind that applies."""
    after = item(statusCode="3", collectedAmount="100,00", statusDate="20240508")
    [change] = run(known(item()), after).changes
    assert change["kinds"] == ["STATUS", "COLLECTED"]


def test_a_sale_older_than_the_known_one_is_ignored() -> None:
    """001 line 1026: "los movimientos a partir de dos días": overlapping windows may show an older state later."""
    newer = item(collectedAmount="100,00", statusDate="20240508")
    found = run(known(newer), item(statusDate="20240507"))
    assert (found.changes, found.writes) == ([], {})


def test_a_change_id_names_the_change() -> None:
    after = item(collectedAmount="100,00", statusDate="20240508")
    first = run(known(item()), after).changes[0]["changeId"]
    assert first == run(known(item()), after, now=NOW + timedelta(hours=1)).changes[0]["changeId"]
    other = run(known(item()), item(collectedAmount="200,00", statusDate="20240508")).changes[0]["changeId"]
    assert first != other
    assert first.startswith(f"{ORO}/200000000001@2024-05-08:")


def test_a_state_is_forgotten_long_after_maturity() -> None:
    old = item(maturityDate="20230110", invoiceDate="20221110", statusDate="20230110")
    found = run(known(old), now=datetime(2024, 2, 20, tzinfo=UTC))
    assert found.writes == {f"{ORO}/200000000001": None}
    assert run(known(old), now=datetime(2024, 2, 10, tzinfo=UTC)).writes == {}


@pytest.mark.parametrize("schema", [STATE_SCHEMA, CHANGE_SCHEMA])
def test_changes_and_states_are_what_their_avro_schemas_take(schema: str) -> None:
    """Money stays Decimal end to end: the schemas' decimals, never floats."""
    found = run(known(item()), item(collectedAmount="4000,00", statusDate="20240508"))
    value = found.changes[0] if schema == CHANGE_SCHEMA else found.writes[f"{ORO}/200000000001"]
    parsed = SchemaCatalog.load().by_name(schema)
    record = coerce(value, parsed, extra="reject")
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(parsed), record)
    buffer.seek(0)
    back = fastavro.schemaless_reader(buffer, fastavro.parse_schema(parsed))
    assert back["collectedAmount"] == Decimal("4000.00")
