"""The risk poller as the runtime runs it: its settings, and its `WorkerSpec` (`workers.polling.spec`).

On start, the process appends a first schedule for every configured contract that has none (due at once, with a
whole-portfolio read).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from workers.cesce import CesceSettings
from workers.polling import ContractsSettings, contract_poller_spec
from workers.risk.changes import CHANGE_SCHEMA, LIMIT_SCHEMA
from workers.risk.poller import SCHEDULE_SCHEMA, RiskPoller
from workers.runtime import WorkerSpec
from workers.settings import from_env

__all__ = ["SCOPE", "RiskTopics", "risk_poller_spec"]

SCOPE = "read"  # the portfolio and the movements: reads only


class RiskTopics(ContractsSettings):
    contracts: str = Field(alias="RISK_CONTRACTS", min_length=1)
    """The contracts to poll, comma-separated contractNo (11 digits each): `contract_numbers`."""
    changes: str = Field(default="cesce.risk-changes", alias="RISK_CHANGES_TOPIC")
    """The risk changes: limits granted, reduced, cancelled by Cesce."""
    limits: str = Field(default="cesce.risk-limits", alias="RISK_LIMITS_TOPIC")
    """Compacted: the last known state of every classification record, keyed by contractNo/endorsementNo."""
    schedule: str = Field(default="cesce.risk-schedule", alias="RISK_SCHEDULE_TOPIC")
    """Compacted: one schedule record per contract, keyed by contractNo."""
    movements_seconds: float = Field(default=300.0, gt=0, alias="RISK_MOVEMENTS_INTERVAL_SECONDS")
    """How often each contract's 48-hour movements are read."""
    full_seconds: float = Field(default=86400.0, gt=0, alias="RISK_PORTFOLIO_INTERVAL_SECONDS")
    """How often the whole portfolio is read (and always at a contract's first read)."""

    @property
    def schemas(self) -> dict[str, str]:
        """Each topic the poller writes -> the record written there."""
        return {self.changes: CHANGE_SCHEMA, self.limits: LIMIT_SCHEMA, self.schedule: SCHEDULE_SCHEMA}


def risk_poller_spec(env: Mapping[str, str]) -> WorkerSpec:
    """The risk poller, configured by `env` (the settings above, ``CESCE_*``, ``KAFKA_*``)."""
    topics = from_env(RiskTopics, env)
    return contract_poller_spec(
        "risk-poller", topics, CesceSettings.from_env(env, scope=SCOPE), RiskPoller, states_topic=topics.limits
    )
