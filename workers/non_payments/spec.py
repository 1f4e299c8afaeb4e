"""The non-payments worker as the runtime runs it: the worker and its claims poller, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import Field

from workers.cesce import CesceClient, CesceSettings
from workers.cesce_handling import Loop, worker_and_companion
from workers.non_payments.handler import NonPaymentsHandler
from workers.non_payments.poller import ClaimsPoller
from workers.non_payments.watch import WATCH_SCHEMA
from workers.runtime import Handler, WorkerSpec, envelopes, states
from workers.settings import Settings, from_env

__all__ = ["ROW_SCHEMA", "NonPaymentsTopics", "non_payments_specs"]

ROW_SCHEMA = "cesce.erp.NonPayment"


class NonPaymentsTopics(Settings):
    input: str = Field(default="erp.non-payments", alias="NON_PAYMENTS_TOPIC")
    results: str = Field(default="cesce.non-payment-results", alias="NON_PAYMENT_RESULTS_TOPIC")
    claim_files: str = Field(default="cesce.claim-files", alias="CLAIM_FILES_TOPIC")
    """Compacted: the claim files followed, keyed by contractNo/claimFileNo, each due at its nextCheckAt."""
    claim_updates: str = Field(default="cesce.claim-updates", alias="CLAIM_UPDATES_TOPIC")
    poll_interval_seconds: float = Field(default=3600.0, gt=0, alias="CLAIMS_POLL_INTERVAL_SECONDS")
    """How often a followed claim file is read again."""


def non_payments_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its claims poller, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(NonPaymentsTopics, env)
    cesce_settings = CesceSettings.from_env(env)
    interval = timedelta(seconds=topics.poll_interval_seconds)

    def declare(cesce: CesceClient) -> Handler:
        return NonPaymentsHandler(cesce, topics.results, topics.claim_files, interval)

    def watch(cesce: CesceClient) -> Handler:
        return ClaimsPoller(cesce, topics.claim_updates, topics.claim_files, interval)

    return worker_and_companion(
        "non-payments",
        cesce_settings,
        Loop(topics.input, [topics.results, topics.claim_files], envelopes(ROW_SCHEMA), declare),
        Loop(topics.claim_files, [topics.claim_updates, topics.claim_files], states(WATCH_SCHEMA), watch),
        role="claims-poller",
    )
