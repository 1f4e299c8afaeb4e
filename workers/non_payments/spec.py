"""The non-payments worker as the runtime runs it: the worker and its claims poller, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import Field

from workers.cesce import CesceSettings
from workers.cesce_handling import with_cesce
from workers.non_payments.handler import NonPaymentsHandler
from workers.non_payments.poller import ClaimsPoller
from workers.non_payments.watch import WATCH_SCHEMA
from workers.runtime import Decoder, EnvelopeDecoder, WorkerSpec, state_decoder
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


def _envelopes(registry: SchemaRegistryClient) -> Decoder:
    return EnvelopeDecoder(registry, ROW_SCHEMA).decode


def _watches(registry: SchemaRegistryClient) -> Decoder:
    return state_decoder(registry, WATCH_SCHEMA)


def non_payments_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its claims poller, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(NonPaymentsTopics, env)
    cesce_settings = CesceSettings.from_env(env)
    interval = timedelta(seconds=topics.poll_interval_seconds)

    return [
        WorkerSpec(
            name="non-payments",
            input_topics=[topics.input],
            output_topics=[topics.results, topics.claim_files],
            decoder=_envelopes,
            handler=with_cesce(
                cesce_settings, lambda cesce: NonPaymentsHandler(cesce, topics.results, topics.claim_files, interval)
            ),
        ),
        WorkerSpec(
            name="non-payments",
            role="claims-poller",
            input_topics=[topics.claim_files],
            output_topics=[topics.claim_updates, topics.claim_files],
            decoder=_watches,
            handler=with_cesce(
                cesce_settings, lambda cesce: ClaimsPoller(cesce, topics.claim_updates, topics.claim_files, interval)
            ),
        ),
    ]
