"""The sales follow-up as the runtime runs it: its settings, and its `WorkerSpec` (`workers.polling.spec`).

On start, the process appends a first schedule for every configured contract that has none (due at once, with a
whole-list read).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from workers.cesce import CesceSettings
from workers.polling import ContractsSettings, contract_poller_spec
from workers.runtime import WorkerSpec
from workers.sales_followup.changes import CHANGE_SCHEMA, STATE_SCHEMA
from workers.sales_followup.poller import SCHEDULE_SCHEMA, SalesFollowup
from workers.settings import from_env

__all__ = ["SCOPE", "SalesFollowupTopics", "sales_followup_spec"]

SCOPE = "read"  # the sales list only


class SalesFollowupTopics(ContractsSettings):
    contracts: str = Field(alias="SALES_FOLLOWUP_CONTRACTS", min_length=1)
    """The contracts whose sales are followed, comma-separated contractNo (11 digits each)."""
    changes: str = Field(default="cesce.sale-changes", alias="SALE_CHANGES_TOPIC")
    """The sale changes: what Cesce changed in the sales declared."""
    sale_states: str = Field(default="cesce.sale-states", alias="SALE_STATES_TOPIC")
    """Compacted: the last known state of every sale, keyed by contractNo/saleCesceReferenceNo."""
    schedule: str = Field(default="cesce.sales-followup-schedule", alias="SALES_FOLLOWUP_SCHEDULE_TOPIC")
    """Compacted: one schedule record per contract, keyed by contractNo."""
    movements_seconds: float = Field(default=300.0, gt=0, alias="SALES_FOLLOWUP_INTERVAL_SECONDS")
    """How often each contract's recent sales movements are read."""
    full_seconds: float = Field(default=86400.0, gt=0, alias="SALES_FOLLOWUP_FULL_INTERVAL_SECONDS")
    """How often the whole sales list is read (and always at a contract's first read)."""

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the follow-up writes -> the record written there."""
        return {self.changes: CHANGE_SCHEMA, self.sale_states: STATE_SCHEMA, self.schedule: SCHEDULE_SCHEMA}


def sales_followup_spec(env: Mapping[str, str]) -> WorkerSpec:
    """The sales follow-up, configured by `env` (the settings above, ``CESCE_*``, ``KAFKA_*``)."""
    topics = from_env(SalesFollowupTopics, env)
    cesce = CesceSettings.from_env(env, scope=SCOPE)
    return contract_poller_spec("sales-followup", topics, cesce, SalesFollowup, states_topic=topics.sale_states)
