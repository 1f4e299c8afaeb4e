"""The credit-requests worker as the runtime runs it: the worker and its follow-up, in one process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import Field

from workers.cesce import CesceSettings
from workers.cesce_handling import with_cesce
from workers.credit_requests.followup import FollowUpHandler
from workers.credit_requests.handler import CreditRequestsHandler
from workers.credit_requests.results import PENDING_SCHEMA
from workers.runtime import Decoder, EnvelopeDecoder, WorkerSpec, state_decoder
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


def _envelopes(registry: SchemaRegistryClient) -> Decoder:
    return EnvelopeDecoder(registry, ROW_SCHEMA).decode


def _pending(registry: SchemaRegistryClient) -> Decoder:
    return state_decoder(registry, PENDING_SCHEMA)


def credit_requests_specs(env: Mapping[str, str]) -> list[WorkerSpec]:
    """The worker and its follow-up, configured by `env` (the topics above, ``CESCE_*``)."""
    topics = from_env(CreditRequestsTopics, env)
    cesce_settings = CesceSettings.from_env(env)
    interval = timedelta(seconds=topics.followup_seconds)

    return [
        WorkerSpec(
            name="credit-requests",
            input_topics=[topics.input],
            output_topics=[topics.results, topics.pending],
            decoder=_envelopes,
            handler=with_cesce(
                cesce_settings, lambda cesce: CreditRequestsHandler(cesce, topics.results, topics.pending, interval)
            ),
        ),
        WorkerSpec(
            name="credit-requests",
            role="followups",
            input_topics=[topics.pending],
            output_topics=[topics.results, topics.pending],
            decoder=_pending,
            handler=with_cesce(
                cesce_settings, lambda cesce: FollowUpHandler(cesce, topics.results, topics.pending, interval)
            ),
        ),
    ]
