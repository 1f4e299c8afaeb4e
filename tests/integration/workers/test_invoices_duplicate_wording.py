"""A duplicate is recognised by reading the sale back, whatever words Cesce refuses it with.

001 line 842-846: "Ventas duplicadas: En el sistema se considera una factura duplicada cuando coinciden dos
ventas con misma factura (invoiceNo), fecha de emisión (invoiceDate), vencimiento (maturityDate), suplemento
(endorsementNo o customerReference) e importe (currencyAmount).  El API devuelve error y la venta no se da de
alta en el sistema". The error's words are not documented, so the sandbox's are changed here to words that
name no duplicate, and the first declaration's answer is cut after the sandbox recorded the sale.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.runtime.support import produce, read
from tests.integration.workers.test_invoices_worker import outcomes, worker_env
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.cesce.assumptions import DUPLICATE_SALE_MARKER
from workers.demo.sample import sample_changes
from workers.invoices import invoices_spec
from workers.runtime.run import serve
from workers.sandbox import SandboxConfig, serve_in_thread
from workers.sandbox import sales as sandbox_sales
from workers.sandbox.faults import FaultInjector, Outcome

pytestmark = pytest.mark.integration

OTHER_WORDS = "venta errónea - Factura ya registrada"


@pytest.mark.timeout(120)
async def test_a_dropped_declaration_refused_in_other_words_is_already_declared(
    kafka: KafkaBackend, schema_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DUPLICATE_SALE_MARKER not in OTHER_WORDS.upper()
    monkeypatch.setattr(sandbox_sales, "DUPLICATE_SALE_DESCRIPTION", OTHER_WORDS)
    drop_next: list[bool] = []
    deliver = FaultInjector.outcome

    def outcome(self: FaultInjector) -> Outcome:
        if drop_next:  # the armed request is processed, then its connection is cut before the answer
            drop_next.clear()
            self.counters.dropped += 1
            return Outcome.DROP
        return deliver(self)

    monkeypatch.setattr(FaultInjector, "outcome", outcome)

    with serve_in_thread(SandboxConfig(seed=11)) as sandbox:
        source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
        # one debtor, one partition; keyed by debtor already, so the worker reads the records as written
        first, second = (sample_changes(unique_topic(run)[-6:])[0] for run in ("w", "d"))
        env = worker_env(kafka, sandbox, schema_registry, source, results, INVOICES_KEYED_BY_DEBTOR="true")
        produce(kafka, source, [(first.key, first.value)])
        stop = asyncio.Event()
        worker = asyncio.create_task(serve(invoices_spec(env), env, stop))
        try:
            warm = await asyncio.to_thread(read, kafka, [results, f"{source}.dlq"], expect=1, timeout=60)
            # the second record is written after the worker's stay of the partition began: only the dropped
            # attempt says its declaration may have gone in
            drop_next.append(True)
            produce(kafka, source, [(second.key, second.value)])
            messages = await asyncio.to_thread(read, kafka, [results, f"{source}.dlq"], expect=2, timeout=60)
        finally:
            stop.set()
            await worker
        ledger = sandbox.admin().ledger()

    got: dict[tuple[int, int], tuple[str, dict[str, Any]]] = outcomes(schema_registry, messages, results)
    assert [o for o, _ in outcomes(schema_registry, warm, results).values()] == ["DECLARED"]
    assert sorted(o for o, _ in got.values()) == ["ALREADY_DECLARED", "DECLARED"]
    already = next(v for o, v in got.values() if o == "ALREADY_DECLARED")
    assert already["saleCesceReferenceNo"]
    assert [int(entry["count"]) for entry in ledger["byDuplicateKey"]] == [1, 1]  # one sale per invoice
    assert ledger["duplicateAttempts"] == 1  # the resend was refused, in the other words
