"""What the contract pollers (the risk poller, the sales follow-up) share: each contract's schedule record, the
handler over the schedule topic, and their settings and first schedules."""

from workers.polling.poller import Comparison, ContractPoller, States
from workers.polling.schedule import MOVEMENTS_WINDOW, ContractSchedule, Intervals, first_schedule
from workers.polling.spec import ContractsSettings, contract_poller_spec, seed_schedules

__all__ = [
    "MOVEMENTS_WINDOW",
    "Comparison",
    "ContractPoller",
    "ContractSchedule",
    "ContractsSettings",
    "Intervals",
    "States",
    "contract_poller_spec",
    "first_schedule",
    "seed_schedules",
]
