"""What Cesce changes on a sale, caused through the admin API and read back over HTTP in the sales list's recent
movements (the admin actions' own rules are unit-tested in tests/unit/sandbox/test_sandbox_sale_changes.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.integration.conftest import ORO, RawCesce
from workers.cesce.assumptions import MSG_MODIFICATION_NOT_ALLOWED
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.openapi import schema

pytestmark = pytest.mark.integration

SALES = f"/sales/v1/contracts/{ORO}/sales"


def recent(api: RawCesce) -> dict[str, dict[str, Any]]:
    response = api.get(SALES, recentMovementsInd="Y")
    assert response.status_code == 200
    listed = schema("sales_list_response")
    # maturityAmount: 000's field of an extended sale, which the 002 schemas predate (assumptions "sale-extension")
    listed["properties"]["result"]["items"]["properties"]["maturityAmount"] = {"type": "string"}
    jsonschema.validate(response.json(), listed)
    return {item["saleCesceReferenceNo"]: item for item in response.json()["result"]}


def test_collections_and_an_extension_show_in_the_recent_movements(sandbox: RunningSandbox, api: RawCesce) -> None:
    """001 line 1023-1024: "Se debe entender como movimiento cualquier cambio registrado en la venta, ya sea de alguno
    de sus datos como de su estado (situación)."; 000 line 29: "una nueva venta prorrogada con un número
    saleCesceReferenceNo distinto, prima diferenciada y un nuevo campo maturityAmount"."""
    admin = sandbox.admin()
    reference = api.sale(invoiceNo="F-C1", currencyAmount="5000,00").json()["generalData"]["saleCesceReferenceNo"]
    admin.advance_clock(4 * 86400)  # out of the 48 hours
    api.login()
    assert recent(api) == {}
    assert admin.collect_sale(reference, "1250,50")["collectedAmount"] == "1250,50"
    assert recent(api)[reference]["collectedAmount"] == "1250,50"
    new = admin.extend_sale(reference, "20300710")
    moved = recent(api)
    assert moved[reference]["statusCode"] == "7"  # PRORROGADA (assumptions "sale-status")
    assert "maturityAmount" not in moved[reference]
    extension = moved[new["saleCesceReferenceNo"]]
    assert (extension["maturityAmount"], extension["maturityDate"], extension["statusCode"]) == (
        "3749,50",
        "20300710",
        "5",
    )
    refused = api.post(
        f"/sales/v1/contracts/{ORO}/sale",
        sale={"saleCesceReferenceNo": reference},
        newData={"currencyAmount": "4000,00"},
    )
    assert RawCesce.error_of(refused) == (400, "1522", MSG_MODIFICATION_NOT_ALLOWED)


def test_the_admin_actions_refuse_what_cesce_would_not_do(sandbox: RunningSandbox, api: RawCesce) -> None:
    """000 line 29: maturityAmount "no podrá ser en cualquier caso mayor a esa factura original"."""
    admin = sandbox.admin()
    reference = api.sale(invoiceNo="F-C2", currencyAmount="100,00").json()["generalData"]["saleCesceReferenceNo"]
    for call, status in (
        (lambda: admin.extend_sale(reference, "20300710", maturity_amount="100,01"), 409),
        (lambda: admin.collect_sale(reference, "100,01"), 409),
        (lambda: admin.set_sale_status(reference, "8"), 422),
        (lambda: admin.collect_sale("999999999999", "1,00"), 404),
    ):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            call()
        assert refused.value.response.status_code == status
    retariffed = admin.retariff_sale(reference, commercial_risk_rate="0,20000")
    assert (retariffed["commercialRiskRate"], retariffed["commercialRiskPremium"]) == ("0,20000", "0,20")
    assert admin.set_sale_status(reference, "3")["statusCode"] == "3"  # CERTIFICADA


def test_a_venta_endosada_is_tariffed_under_the_endorsements_supplement(
    scenario_file: Callable[[Callable[[dict[str, Any]], None]], Path],
) -> None:
    """000 line 21: "Se produce cuando se realiza una venta contra un suplemento anulado ... pero se permite
    igualmente la tarificación. Sólo se permite en pólizas que tengan contratado el suplemento de Endosos."."""

    def endorsements(scenario: dict[str, Any]) -> None:
        scenario["contracts"][0]["endorsementsSupplement"] = True

    with serve_in_thread(SandboxConfig(scenario=scenario_file(endorsements))) as running:
        api = RawCesce.connect(running)
        try:
            answer = api.sale(invoiceNo="F-E1", customerReference="CLI-BAJA-01").json()["generalData"]
        finally:
            api.close()
    assert (answer["statusCode"], answer["reasonStatusCode"]) == ("5", "0")
