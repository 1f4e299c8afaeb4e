"""The invoices worker as the runtime runs it: its topics, its decoder, its handler's lifetime."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from workers.cesce import CesceSettings
from workers.cesce_handling import with_cesce
from workers.invoices.handler import InvoicesHandler
from workers.runtime import WorkerSpec, envelopes
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "InvoicesTopics", "invoices_spec"]

ROW_SCHEMA = "cesce.erp.Invoice"


class InvoicesTopics(Settings):
    input: str = Field(default="erp.invoices", alias="INVOICES_TOPIC")
    results: str = Field(default="cesce.sale-results", alias="SALE_RESULTS_TOPIC")


def invoices_spec(env: Mapping[str, str]) -> WorkerSpec:
    """The worker, configured by `env` (``INVOICES_TOPIC``, ``SALE_RESULTS_TOPIC``, ``CESCE_*``)."""
    topics = from_env(InvoicesTopics, env)
    cesce_settings = CesceSettings.from_env(env)

    return WorkerSpec(
        name="invoices",
        input_topics=[topics.input],
        output_topics=[topics.results],
        decoder=envelopes(ROW_SCHEMA),
        handler=with_cesce(cesce_settings, lambda cesce: InvoicesHandler(cesce, topics.results)),
    )
