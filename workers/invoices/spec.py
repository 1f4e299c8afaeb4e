"""The invoices worker as the runtime runs it: its topics, its decoder, its handler's lifetime."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import Field

from workers.cesce import CesceSettings
from workers.cesce_handling import row_state, with_cesce
from workers.invoices.credit_notes import WaitForSales
from workers.invoices.handler import RESULT_SCHEMA, STATE_SCHEMA, InvoicesHandler
from workers.invoices.plan import debtor_of
from workers.runtime import WorkerSpec, by_row, envelopes, ordered_by
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "SCOPE", "InvoicesTopics", "invoices_spec", "invoices_specs"]

SCOPE = "read create update"
"""What the worker asks Cesce for when ``CESCE_SCOPE`` is not set: sales declared (create), read back (read) and
modified (update)."""

ROW_SCHEMA = "cesce.erp.Invoice"


class InvoicesTopics(Settings):
    input: str = Field(default="erp.invoices", alias="INVOICES_TOPIC")
    """The input: Debezium's change records of the invoices table (its dead letters: ``<topic><WORKER_DLQ_SUFFIX>``)."""
    results: str = Field(default="cesce.sale-results", alias="SALE_RESULTS_TOPIC")
    """The results: what became of each invoice at Cesce."""
    keyed_by_debtor: bool = Field(default=False, alias="INVOICES_KEYED_BY_DEBTOR")
    """The source already keys each change by its debtor (Debezium's ``message.key.columns``): handle it directly."""
    by_debtor: str | None = Field(default=None, alias="INVOICES_BY_DEBTOR_TOPIC")
    """Where the re-keying companion writes the changes keyed by debtor (default ``<INVOICES_TOPIC>.by-debtor``)."""
    state: str = Field(default="cesce.invoices.rows", alias="INVOICES_STATE_TOPIC")
    """Compacted, partitioned like the input: what was last sent to Cesce per ERP invoice row."""
    credit_note_wait_seconds: float = Field(default=60.0, ge=0, alias="INVOICES_CREDIT_NOTE_WAIT_SECONDS")
    """How long a credit note refused for lack of pending sales waits for its sale before its dead letter."""

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the worker writes -> the record written there."""
        return {self.results: RESULT_SCHEMA, self.state: STATE_SCHEMA}


def invoices_spec(env: Mapping[str, str]) -> WorkerSpec:
    """The worker, configured by `env` (``INVOICES_TOPIC``, ``SALE_RESULTS_TOPIC``, ``INVOICES_STATE_TOPIC``,
    ``CESCE_*``)."""
    topics = from_env(InvoicesTopics, env)
    cesce_settings = CesceSettings.from_env(env, scope=SCOPE)

    return WorkerSpec(
        name="invoices",
        input_topics=[topics.input],
        output_topics=[topics.results, topics.state],
        decoder=envelopes(ROW_SCHEMA),
        schemas=topics.schemas,
        handler=with_cesce(
            cesce_settings,
            lambda cesce, context: WaitForSales(
                InvoicesHandler(cesce, topics.results, state=row_state(context, topics.state, STATE_SCHEMA)),
                timedelta(seconds=topics.credit_note_wait_seconds),
            ),
        ),
    )


def invoices_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """What ``cesce-worker run invoices`` runs: the worker behind a companion that re-keys its input by debtor,
    or the worker alone when ``INVOICES_KEYED_BY_DEBTOR`` says the source already does (`workers.runtime.rekey`)."""
    topics = from_env(InvoicesTopics, env)
    return ordered_by(
        invoices_spec(env), by_row(debtor_of), source_keyed=topics.keyed_by_debtor, topic=topics.by_debtor
    )
