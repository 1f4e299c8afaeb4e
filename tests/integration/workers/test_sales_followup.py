"""The sales follow-up end to end: the broker over TCP, the sandbox over HTTP, a declared sale changed by Cesce
through the sandbox's admin API (a collection, then an extension), each change on cesce.sale-changes once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import ORO, RawCesce
from tests.integration.workers.support import decoded, read_async, running
from tests.integration.workers.support import worker_env as base_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.sales_followup import sales_followup_spec
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


@pytest.mark.timeout(120)
async def test_a_collection_and_an_extension_each_appear_once(
    kafka: KafkaBackend, sandbox: RunningSandbox, schema_registry: str
) -> None:
    """002 line 622-624: "collectedAmount" ... "Amount collected from the invoice. In the contract currency";
    000 line 29: the extension "genera una nueva venta prorrogada con un número saleCesceReferenceNo distinto, prima
    diferenciada y un nuevo campo maturityAmount, que recogerá el importe impagado de la factura inicial";
    001 line 1019-1020: the sales "que han sufrido algún movimiento en las últimas 48 horas"."""
    changes, states, schedule = (unique_topic(f"cesce.{name}") for name in ("sale-changes", "sale-states", "schedule"))
    env = base_env(kafka, sandbox, schema_registry, unique_topic("sales-followup")) | {
        "SALES_FOLLOWUP_CONTRACTS": ORO,
        "SALE_CHANGES_TOPIC": changes,
        "SALE_STATES_TOPIC": states,
        "SALES_FOLLOWUP_SCHEDULE_TOPIC": schedule,
        "SALES_FOLLOWUP_INTERVAL_SECONDS": "0.3",
    }
    cesce = RawCesce.connect(sandbox)
    try:
        declared = cesce.sale(invoiceNo="F-SF-1", currencyAmount="5000,00").json()["generalData"]
        cesce.sale(invoiceNo="F-SF-2", currencyAmount="700,00")  # another sale, which Cesce leaves alone
    finally:
        cesce.close()
    reference = declared["saleCesceReferenceNo"]
    admin = sandbox.admin()

    async def published(expect: int, within: float = 60) -> list[dict[str, Any]]:
        return decoded(schema_registry, await read_async(kafka, [changes], expect=expect, within=within), changes)

    async with running([sales_followup_spec(env)], env):
        await read_async(kafka, [states], expect=2)  # the first read learned both sales: no change published
        assert await published(expect=0, within=1) == []
        admin.collect_sale(reference, "2000,00")
        [collected] = await published(expect=1)
        extended = admin.extend_sale(reference, "20300710")
        found = await published(expect=2)
        await asyncio.sleep(1.5)  # more ticks over the same 48-hour window: nothing new
        again = await published(expect=2, within=5)
    assert [c["changeId"] for c in again] == [c["changeId"] for c in found]
    assert collected["kinds"] == ["COLLECTED"]
    assert (collected["saleCesceReferenceNo"], collected["invoiceNo"]) == (reference, "F-SF-1")
    assert (collected["previousCollectedAmount"], collected["collectedAmount"]) == (Decimal("0.00"), Decimal("2000.00"))
    extension = found[1]
    assert extension["kinds"] == ["EXTENDED"]
    assert extension["saleCesceReferenceNo"] == extended["saleCesceReferenceNo"] != reference
    assert extension["extendedSaleCesceReferenceNo"] == reference
    assert extension["maturityAmount"] == Decimal("3000.00")  # the unpaid amount of the original invoice
    assert (str(extension["previousMaturityDate"]), str(extension["maturityDate"])) == ("2030-04-10", "2030-07-10")
    assert extension["commercialRiskPremium"] != extension["previousCommercialRiskPremium"]
