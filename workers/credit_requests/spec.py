"""The credit-requests worker as the runtime runs it: the worker and its follow-up, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import Field

from workers.cesce import CesceClient, CesceSettings
from workers.cesce_handling import Loop, worker_and_companion
from workers.credit_requests.followup import FollowUpHandler
from workers.credit_requests.handler import CreditRequestsHandler
from workers.credit_requests.results import PENDING_SCHEMA
from workers.runtime import Handler, WorkerSpec, envelopes, states
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "CreditRequestsTopics", "credit_requests_specs"]

ROW_SCHEMA = "cesce.erp.CreditRequest"


class CreditRequestsTopics(Settings):
    input: str = Field(default="erp.credit-requests", alias="CREDIT_REQUESTS_TOPIC")
    results: str = Field(default="cesce.classification-results", alias="CLASSIFICATION_RESULTS_TOPIC")
    pending: str = Field(default="cesce.classification-followups", alias="CLASSIFICATION_FOLLOWUPS_TOPIC")
    """Compacted: the requests EN TRÁMITE, keyed by requestId, each due at its nextCheckAt."""
    followup_seconds: float = Field(default=900.0, gt=0, alias="CLASSIFICATION_FOLLOWUP_SECONDS")
    """How often a request EN TRÁMITE is read again."""


def credit_requests_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its follow-up, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(CreditRequestsTopics, env)
    cesce_settings = CesceSettings.from_env(env)
    interval = timedelta(seconds=topics.followup_seconds)

    def answer(cesce: CesceClient) -> Handler:
        return CreditRequestsHandler(cesce, topics.results, topics.pending, interval)

    def follow(cesce: CesceClient) -> Handler:
        return FollowUpHandler(cesce, topics.results, topics.pending, interval)

    outputs = [topics.results, topics.pending]
    return worker_and_companion(
        "credit-requests",
        cesce_settings,
        Loop(topics.input, outputs, envelopes(ROW_SCHEMA), answer),
        Loop(topics.pending, outputs, states(PENDING_SCHEMA), follow),
        role="followups",
    )
