"""The README tells the truth: its first command, every setting and every assumption are current."""

from __future__ import annotations

import re
from pathlib import Path

from workers.cesce.assumptions import ASSUMPTIONS
from workers.cesce.config import CesceSettings
from workers.credit_requests.spec import CreditRequestsTopics
from workers.invoices.spec import InvoicesTopics
from workers.non_payments.spec import NonPaymentsTopics
from workers.risk.spec import RiskTopics
from workers.runtime.settings import RuntimeSettings

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def assumptions_block() -> str:
    return "\n".join(f"- **{a.key}**: {a.text}" for a in ASSUMPTIONS)


def test_first_command_installs_and_runs_the_demo() -> None:
    commands = re.findall(r"```bash\n(.+?)\n```", README, flags=re.DOTALL)
    assert commands[0].endswith("cesce-worker demo")
    assert "pip install" in commands[0]
    assert commands[1] == ".venv/bin/python -m pytest"
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def test_every_client_setting_is_documented() -> None:
    for name in CesceSettings.model_fields:
        assert f"`CESCE_{name.upper()}`" in README, name


def test_every_assumption_is_listed() -> None:
    block = assumptions_block()
    assert block in README, "README 'Assumptions' section is stale; it should read:\n" + block


def test_every_runtime_and_worker_variable_is_documented() -> None:
    for model in (RuntimeSettings, InvoicesTopics, CreditRequestsTopics, NonPaymentsTopics, RiskTopics):
        for field in model.model_fields.values():
            assert f"`{field.alias}`" in README, field.alias
