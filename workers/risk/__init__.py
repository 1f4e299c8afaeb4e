"""The risk poller: Cesce's movements and portfolio, compared with the last known limits, as risk-change events."""

from workers.risk.spec import RiskTopics, risk_poller_spec

__all__ = ["RiskTopics", "risk_poller_spec"]
