"""The credit-requests worker as the runtime runs it: the worker and its follow-up, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from pydantic import Field

from workers.cesce import CesceClient, CesceSettings
from workers.cesce_handling import Loop, row_state, worker_and_companion
from workers.credit_requests.followup import FollowUpHandler
from workers.credit_requests.handler import STATE_SCHEMA, CreditRequestsHandler
from workers.credit_requests.plan import debtor_of
from workers.credit_requests.results import PENDING_SCHEMA, RESULT_SCHEMA
from workers.runtime import Handler, WorkerContext, WorkerSpec, by_row, envelopes, ordered_by, states
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "CreditRequestsTopics", "credit_requests_specs"]

ROW_SCHEMA = "cesce.erp.CreditRequest"


class CreditRequestsTopics(Settings):
    input: str = Field(default="erp.credit-requests", alias="CREDIT_REQUESTS_TOPIC")
    """The input: Debezium's change records of the credit-requests table (its dead letters:
    ``<topic><WORKER_DLQ_SUFFIX>``)."""
    results: str = Field(default="cesce.classification-results", alias="CLASSIFICATION_RESULTS_TOPIC")
    """The results, ANSWER and FINAL: what Cesce decided on each request."""
    pending: str = Field(default="cesce.classification-followups", alias="CLASSIFICATION_FOLLOWUPS_TOPIC")
    """Compacted: the requests EN TRÁMITE, keyed by requestId, each due at its nextCheckAt."""
    keyed_by_debtor: bool = Field(default=False, alias="CREDIT_REQUESTS_KEYED_BY_DEBTOR")
    """The source already keys each change by its debtor (Debezium's ``message.key.columns``): handle it directly."""
    by_debtor: str | None = Field(default=None, alias="CREDIT_REQUESTS_BY_DEBTOR_TOPIC")
    """Where the re-keying companion writes the changes keyed by debtor (``<CREDIT_REQUESTS_TOPIC>.by-debtor``)."""
    state: str = Field(default="cesce.credit-requests.rows", alias="CREDIT_REQUESTS_STATE_TOPIC")
    """Compacted, partitioned like the input: each ERP credit request as it was sent to Cesce."""
    followup_seconds: float = Field(default=900.0, gt=0, alias="CLASSIFICATION_FOLLOWUP_SECONDS")
    """How often a request EN TRÁMITE is read again."""

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the worker and its follow-up write -> the record written there."""
        return {self.results: RESULT_SCHEMA, self.pending: PENDING_SCHEMA, self.state: STATE_SCHEMA}


def credit_requests_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its follow-up, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(CreditRequestsTopics, env)
    cesce_settings = CesceSettings.from_env(env)
    interval = timedelta(seconds=topics.followup_seconds)

    def answer(cesce: CesceClient, context: WorkerContext) -> Handler:
        state = row_state(context, topics.state, STATE_SCHEMA)
        return CreditRequestsHandler(cesce, topics.results, topics.pending, interval, state=state)

    def follow(cesce: CesceClient, _context: WorkerContext) -> Handler:
        return FollowUpHandler(cesce, topics.results, topics.pending, interval)

    outputs = [topics.results, topics.pending]
    specs = worker_and_companion(
        "credit-requests",
        cesce_settings,
        Loop(topics.input, [*outputs, topics.state], envelopes(ROW_SCHEMA), answer),
        Loop(topics.pending, outputs, states(PENDING_SCHEMA), follow),
        role="followups",
    )
    worker, companion = (replace(spec, schemas=topics.schemas) for spec in specs)
    keyed = ordered_by(worker, by_row(debtor_of), source_keyed=topics.keyed_by_debtor, topic=topics.by_debtor)
    return [*keyed, companion]
