"""The non-payments worker as the runtime runs it: the worker and its claims poller, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from pydantic import Field

from workers.cesce import CesceClient, CesceSettings
from workers.cesce_handling import Loop, row_state, worker_and_companion
from workers.non_payments.handler import RESULT_SCHEMA, STATE_SCHEMA, NonPaymentsHandler
from workers.non_payments.plan import debtor_of
from workers.non_payments.poller import ClaimsPoller
from workers.non_payments.watch import UPDATE_SCHEMA, WATCH_SCHEMA
from workers.runtime import Handler, WorkerContext, WorkerSpec, by_row, envelopes, ordered_by, states
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "SCOPE", "NonPaymentsTopics", "non_payments_specs"]

SCOPE = "read create"
"""What the worker asks Cesce for when ``CESCE_SCOPE`` is not set: non-payments declared (create), claim files,
documents and settlements read (read)."""

ROW_SCHEMA = "cesce.erp.NonPayment"


class NonPaymentsTopics(Settings):
    input: str = Field(default="erp.non-payments", alias="NON_PAYMENTS_TOPIC")
    """The input: Debezium's change records of the unpaid-invoices table (its dead letters:
    ``<topic><WORKER_DLQ_SUFFIX>``)."""
    results: str = Field(default="cesce.non-payment-results", alias="NON_PAYMENT_RESULTS_TOPIC")
    """The results: each unpaid invoice declared, with its claim file."""
    claim_files: str = Field(default="cesce.claim-files", alias="CLAIM_FILES_TOPIC")
    """Compacted: the claim files followed, keyed by contractNo/claimFileNo, each due at its nextCheckAt."""
    claim_updates: str = Field(default="cesce.claim-updates", alias="CLAIM_UPDATES_TOPIC")
    """What changed in the claim files followed: documents, status, settlements."""
    keyed_by_debtor: bool = Field(default=False, alias="NON_PAYMENTS_KEYED_BY_DEBTOR")
    """The source already keys each change by its debtor (Debezium's ``message.key.columns``): handle it directly."""
    by_debtor: str | None = Field(default=None, alias="NON_PAYMENTS_BY_DEBTOR_TOPIC")
    """Where the re-keying companion writes the changes keyed by debtor (default ``<NON_PAYMENTS_TOPIC>.by-debtor``)."""
    state: str = Field(default="cesce.non-payments.rows", alias="NON_PAYMENTS_STATE_TOPIC")
    """Compacted, partitioned like the input: each ERP unpaid-invoice row as it was declared to Cesce."""
    poll_interval_seconds: float = Field(default=3600.0, gt=0, alias="CLAIMS_POLL_INTERVAL_SECONDS")
    """How often a followed claim file is read again."""

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the worker and its claims poller write -> the record written there."""
        return {
            self.results: RESULT_SCHEMA,
            self.claim_files: WATCH_SCHEMA,
            self.claim_updates: UPDATE_SCHEMA,
            self.state: STATE_SCHEMA,
        }


def non_payments_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its claims poller, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(NonPaymentsTopics, env)
    cesce_settings = CesceSettings.from_env(env, scope=SCOPE)
    interval = timedelta(seconds=topics.poll_interval_seconds)

    def declare(cesce: CesceClient, context: WorkerContext) -> Handler:
        state = row_state(context, topics.state, STATE_SCHEMA)
        return NonPaymentsHandler(cesce, topics.results, topics.claim_files, interval, state=state)

    def watch(cesce: CesceClient, _context: WorkerContext) -> Handler:
        return ClaimsPoller(cesce, topics.claim_updates, topics.claim_files, interval)

    specs = worker_and_companion(
        "non-payments",
        cesce_settings,
        Loop(topics.input, [topics.results, topics.claim_files, topics.state], envelopes(ROW_SCHEMA), declare),
        Loop(topics.claim_files, [topics.claim_updates, topics.claim_files], states(WATCH_SCHEMA), watch),
        role="claims-poller",
    )
    worker, companion = (replace(spec, schemas=topics.schemas) for spec in specs)
    keyed = ordered_by(worker, by_row(debtor_of), source_keyed=topics.keyed_by_debtor, topic=topics.by_debtor)
    return [*keyed, companion]
