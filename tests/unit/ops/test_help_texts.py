"""Help texts: `run --help` lists the variables of the worker, generated from its settings models, and no command's
help shows reStructuredText markup.

Issue 20: "`cesce-worker run --help` lists the variables of the worker; help texts without reStructuredText markup".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import Field

from workers.cesce import CesceSettings
from workers.cli import _parser, main
from workers.ops.help_text import Variable, plain, subparsers, variable_lines, variables
from workers.ops.run_command import COMMON_SETTINGS, WORKER_SCOPES, WORKER_SETTINGS, WORKERS, run_epilog
from workers.settings import Settings

MARKUP = re.compile(r"``|`|:[A-Za-z][\w.+-]*:`")

ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "CESCE_BASE_URL": "https://api.cesce.es/sandbox",
    "CESCE_CLIENT_ID": "client",
    "CESCE_CLIENT_SECRET": "secret",
    "RISK_CONTRACTS": "34109150331",
    "SALES_FOLLOWUP_CONTRACTS": "34109150331",
}


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    return capsys.readouterr().out


def listed(text: str) -> set[str]:
    """The variable names a help text lists, one per ``  NAME (default ...)`` line."""
    return set(re.findall(r"^  ([A-Z][A-Z0-9_]+) \((?:required|default: .*)\)$", text, flags=re.MULTILINE))


def test_no_command_help_shows_restructuredtext_markup(capsys: pytest.CaptureFixture[str]) -> None:
    rendered = {parser.prog: parser.format_help() for parser in subparsers(_parser())}
    rendered["cesce-worker run --help"] = help_of(["run", "--help"], capsys)
    assert len(rendered) >= 10  # every command and subcommand, not only the top level
    shown = {prog: MARKUP.findall(text) for prog, text in rendered.items()}
    assert {prog: found for prog, found in shown.items() if found} == {}


def test_plain_keeps_the_text_of_inline_markup() -> None:
    text = 'Each line is ``{"key": str}``; see `workers.runtime.embedded` and :class:`Envelope`, ``--offset N\n[P]``.'
    assert plain(text) == 'Each line is {"key": str}; see workers.runtime.embedded and Envelope, --offset N\n[P].'


def test_run_help_lists_every_variable_of_every_worker(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(["run", "--help"], capsys)
    models = [*COMMON_SETTINGS, *WORKER_SETTINGS.values()]
    expected = {variable.name for model in models for variable in variables(model)}
    assert expected <= listed(text)
    assert {"KAFKA_BOOTSTRAP_SERVERS", "INVOICES_TOPIC", "RISK_CONTRACTS", "CESCE_CLIENT_SECRET"} <= listed(text)
    for worker in WORKERS:
        assert f"Variables of {worker} (CESCE_SCOPE default: {WORKER_SCOPES[worker]}):" in text


def test_every_variable_has_a_default_and_a_description_from_its_field() -> None:
    """A field without a docstring would show a name alone: each settings model documents every field."""
    undocumented = [
        variable.name
        for model in [*COMMON_SETTINGS, *WORKER_SETTINGS.values()]
        for variable in variables(model)
        if not variable.description
    ]
    assert undocumented == []


def test_a_workers_help_lists_its_own_variables_only(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(["run", "invoices", "--help"], capsys)
    assert "Variables of invoices (CESCE_SCOPE default: read create update):" in text
    assert "INVOICES_TOPIC (default: erp.invoices)" in text
    assert "CESCE_SCOPE (default: read create update)" in text
    assert "RISK_CONTRACTS" not in text
    assert "Variables of risk-poller" not in text


def test_the_listing_is_generated_from_the_model() -> None:
    class Sample(Settings):
        topic: str = Field(default="erp.sample", alias="SAMPLE_TOPIC")
        """Where ``samples`` come from. A second sentence is left out."""
        wait_seconds: float = Field(default=2.0, alias="SAMPLE_WAIT_SECONDS")
        """How long to wait (`seconds`)."""
        needed: str = Field(alias="SAMPLE_NEEDED")
        """Required."""
        maybe: int | None = Field(default=None, alias="SAMPLE_MAYBE")
        """Unset: never."""
        flag: bool = Field(default=False, alias="SAMPLE_FLAG")
        """A flag."""

    assert variables(Sample) == [
        Variable("SAMPLE_TOPIC", "erp.sample", "Where samples come from."),
        Variable("SAMPLE_WAIT_SECONDS", "2", "How long to wait (seconds)."),
        Variable("SAMPLE_NEEDED", "required", "Required."),
        Variable("SAMPLE_MAYBE", "unset", "Unset: never."),
        Variable("SAMPLE_FLAG", "false", "A flag."),
    ]
    assert variable_lines(variables(Sample)[:3], width=60) == [
        "  SAMPLE_TOPIC (default: erp.sample)",
        "      Where samples come from.",
        "  SAMPLE_WAIT_SECONDS (default: 2)",
        "      How long to wait (seconds).",
        "  SAMPLE_NEEDED (required)",
        "      Required.",
    ]


def test_a_prefixed_model_is_listed_by_prefix_and_field_name() -> None:
    names = {variable.name: variable.default for variable in variables(CesceSettings)}
    assert names["CESCE_BASE_URL"] == "required"
    assert names["CESCE_TIMEOUT_SECONDS"] == "30"
    assert names["CESCE_VERIFY_TLS"] == "true"


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_the_help_lists_what_the_worker_reads(worker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a copy: building the worker's specs, every settings model it validates is one the help lists, and the
    scope it asks Cesce for is the default the help shows."""
    read: list[type[Settings]] = []
    scopes: list[str | None] = []
    validate: Callable[..., Any] = Settings.model_validate.__func__  # type: ignore[attr-defined]
    from_env: Callable[..., Any] = CesceSettings.from_env.__func__  # type: ignore[attr-defined]

    def spy_validate(cls: type[Settings], *args: Any, **kwargs: Any) -> Any:
        read.append(cls)
        return validate(cls, *args, **kwargs)

    def spy_from_env(cls: type[CesceSettings], env: Any, *, scope: str | None = None) -> Any:
        scopes.append(scope)
        return from_env(cls, env, scope=scope)

    monkeypatch.setattr(Settings, "model_validate", classmethod(spy_validate))
    monkeypatch.setattr(CesceSettings, "from_env", classmethod(spy_from_env))
    WORKERS[worker](ENV)

    shown = listed(run_epilog(worker, width=200))
    assert WORKER_SETTINGS[worker] in read
    assert {variable.name for model in read for variable in variables(model)} <= shown
    assert scopes
    asked = {scope or str(CesceSettings.model_fields["scope"].default) for scope in scopes}
    assert asked == {WORKER_SCOPES[worker]}
