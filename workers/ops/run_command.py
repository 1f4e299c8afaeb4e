"""`cesce-worker run <worker>`: run one worker until SIGTERM or Ctrl-C.

Each worker is a function from the environment to the `WorkerSpec`s its process runs (the worker
and its companions, such as a follow-up loop). The environment is read here, once.

With more than one process (``WORKER_PROCESSES``, default one per available CPU: `workers.runtime.processes`)
this process becomes the parent of that many children, each running this same command with one process
(`workers.runtime.supervisor`); with one it runs the worker itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from workers.cesce import CesceSettings
from workers.credit_requests import CreditRequestsTopics, credit_requests_specs
from workers.invoices import InvoicesTopics, invoices_specs
from workers.invoices.spec import SCOPE as INVOICES_SCOPE
from workers.non_payments import NonPaymentsTopics, non_payments_specs
from workers.non_payments.spec import SCOPE as NON_PAYMENTS_SCOPE
from workers.observability.logs import configure_logging
from workers.ops.help_text import variable_lines, variables
from workers.ops.kafka_options import add_kafka_options
from workers.ops.settings import LoggingSettings, ops_settings
from workers.risk import RiskTopics, risk_poller_spec
from workers.risk.spec import SCOPE as RISK_SCOPE
from workers.runtime import WorkerSpec
from workers.runtime.process_tuning import cap_malloc_arenas
from workers.runtime.processes import PROCESS_INDEX, process_count
from workers.runtime.registry import RegistrySettings
from workers.runtime.run import run_worker
from workers.runtime.settings import DeadLetterSettings, RuntimeSettings
from workers.runtime.spec import dlq_problems, with_dlq_suffix
from workers.runtime.supervisor import supervise
from workers.sales_followup import SalesFollowupTopics, sales_followup_spec
from workers.sales_followup.spec import SCOPE as SALES_FOLLOWUP_SCOPE
from workers.settings import Settings, from_env

__all__ = ["COMMON_SETTINGS", "WORKERS", "WORKER_SCOPES", "WORKER_SETTINGS", "register", "run_epilog", "secret_values"]

_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL|USER_INFO|HEADERS", re.IGNORECASE)

Builder = Callable[[Mapping[str, str]], list[WorkerSpec]]


def _dead_lettered(build: Callable[[Mapping[str, str]], WorkerSpec | Sequence[WorkerSpec]]) -> Builder:
    """`build`, its specs' dead letters in ``<topic><WORKER_DLQ_SUFFIX>`` (a bad suffix raises ValidationError)."""

    def specs(env: Mapping[str, str]) -> list[WorkerSpec]:
        made = build(env)
        suffix = from_env(DeadLetterSettings, env).dlq_suffix
        return with_dlq_suffix([made] if isinstance(made, WorkerSpec) else made, suffix)

    return specs


WORKERS: dict[str, Builder] = {
    "invoices": _dead_lettered(invoices_specs),
    "credit-requests": _dead_lettered(credit_requests_specs),
    "non-payments": _dead_lettered(non_payments_specs),
    "risk-poller": _dead_lettered(risk_poller_spec),
    "sales-followup": _dead_lettered(sales_followup_spec),
}
"""Each worker's specs from the environment, as `cesce-worker run` runs them (the dead-letter suffix applied)."""

COMMON_SETTINGS: tuple[type[Settings], ...] = (RuntimeSettings, RegistrySettings, LoggingSettings, CesceSettings)
"""What every worker reads: the runtime's settings, the Schema Registry's, how it logs, the Cesce client's."""

WORKER_SETTINGS: dict[str, type[Settings]] = {
    "invoices": InvoicesTopics,
    "credit-requests": CreditRequestsTopics,
    "non-payments": NonPaymentsTopics,
    "risk-poller": RiskTopics,
    "sales-followup": SalesFollowupTopics,
}
"""Each worker's own settings (its topics, intervals, contracts): the model its spec function reads."""

WORKER_SCOPES: dict[str, str] = {
    "invoices": INVOICES_SCOPE,
    "credit-requests": str(CesceSettings.model_fields["scope"].default),
    "non-payments": NON_PAYMENTS_SCOPE,
    "risk-poller": RISK_SCOPE,
    "sales-followup": SALES_FOLLOWUP_SCOPE,
}
"""The scopes each worker asks Cesce for when ``CESCE_SCOPE`` is not set (what its operations need)."""

_SCOPE_VARIABLE = "CESCE_SCOPE"
_PASSED_ON = (
    "Any other KAFKA_* variable is passed to librdkafka (KAFKA_SASL_MECHANISM -> sasl.mechanism), any other "
    "SCHEMA_REGISTRY_* to the Schema Registry client (SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO -> basic.auth.user.info); "
    "OTEL_* are the OpenTelemetry SDK's own."
)


def configuration_errors(error: ValidationError) -> str:
    """What is wrong in the settings, by variable, without the values (a missing field's input is the whole
    environment, secrets included, which pydantic would print)."""
    prefix = "CESCE_" if error.title == "CesceSettings" else ""  # validated by field name, read as CESCE_<NAME>

    def variable(loc: tuple[int | str, ...]) -> str:
        name = ".".join(str(part) for part in loc) or "settings"
        return f"{prefix}{name.upper()}" if prefix else name

    return "; ".join(f"{variable(e['loc'])}: {e['msg']}" for e in error.errors())


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of every variable whose name says it holds a secret: the logs never show them."""
    return [value for name, value in env.items() if _SECRET_NAME.search(name) and value]


def _run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    cap_malloc_arenas(env)  # before any thread: the parent's, a child's, a single process's
    try:
        logging_settings = ops_settings(LoggingSettings, env)
    except ValidationError:
        print(f"cesce-worker run {args.worker}: configuration error: LOG_FORMAT: json or text", file=sys.stderr)
        return 2
    json_lines = logging_settings.log_format == "json"
    engine = env.get(PROCESS_INDEX)  # a supervisor's child: its lines name it
    fields = {"engine": int(engine)} if engine and engine.isdigit() else None
    configure_logging(args.log_level, json_lines=json_lines, secrets=secret_values(env), fields=fields)
    problems: list[str] = []
    settings = None
    try:  # the runtime's settings too, before anything starts: every problem in one line
        settings = from_env(RuntimeSettings, env)
    except ValidationError as exc:
        problems.append(configuration_errors(exc))
    try:
        specs = WORKERS[args.worker](env)
    except ValidationError as exc:
        problems.append(configuration_errors(exc))
    else:
        problems.extend(dlq_problems(specs))
    problems = list(dict.fromkeys(problems))  # WORKER_DLQ_SUFFIX is read by both
    if problems or settings is None:
        print(f"cesce-worker run {args.worker}: configuration error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    count = process_count(settings)
    if settings.processes is not None and count < settings.processes:
        logging.getLogger(__name__).warning(
            "WORKER_PROCESSES %d is more than WORKER_MAX_IN_FLIGHT %d: %d processes",
            settings.processes,
            settings.max_in_flight,
            count,
        )
    if count > 1:  # the parent of `count` children, each this same command (workers.runtime.supervisor)
        command = [sys.executable, "-m", "workers.cli", "run", args.worker, "--log-level", args.log_level]
        return supervise(args.worker, command, env, settings, count)
    return run_worker(specs, env, settings)  # validated once, here, and passed down


_LOGS = "Logs: JSON lines on stderr with trace ids (LOG_FORMAT=text for plain lines)."


def run_epilog(worker: str | None = None, *, width: int | None = None) -> str:
    """``run --help``'s closing text: the variables every worker reads, then each worker's own (only `worker`'s
    when one is named), each with its default and the first sentence of its field's docstring."""
    scope = WORKER_SCOPES[worker] if worker else "per worker, below"
    common = [
        replace(variable, default=scope) if variable.name == _SCOPE_VARIABLE else variable
        for model in COMMON_SETTINGS
        for variable in variables(model)
    ]
    wrap = width or max(shutil.get_terminal_size().columns - 2, 60)
    sections = [_LOGS, "\n".join(["Variables of every worker:", *variable_lines(common, width=wrap)])]
    sections.append(textwrap.fill(_PASSED_ON, wrap))
    for name in [worker] if worker else sorted(WORKERS):
        heading = f"Variables of {name} ({_SCOPE_VARIABLE} default: {WORKER_SCOPES[name]}):"
        sections.append("\n".join([heading, *variable_lines(variables(WORKER_SETTINGS[name]), width=wrap)]))
    if not worker:
        sections.append("cesce-worker run WORKER --help lists that worker's variables only.")
    return "\n\n".join(sections)


class _HelpWithVariables(argparse.Action):
    """``-h``: the help with the variables; after a worker's name (``run invoices --help``), that worker's only."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        parser.epilog = run_epilog(getattr(namespace, "worker", None))
        parser.print_help()
        parser.exit()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run a worker (consume, call Cesce, publish) until Ctrl-C",
        description="Run one worker until SIGTERM or Ctrl-C; the environment's variables (below) configure it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument(
        "-h", "--help", action=_HelpWithVariables, help="show this help and the variables (after WORKER: its own only)"
    )
    parser.add_argument(
        "worker", choices=sorted(WORKERS), metavar="WORKER", help=f"one of {', '.join(sorted(WORKERS))}"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.epilog = _LOGS + " The variables: cesce-worker run --help."
    add_kafka_options(parser, reach=False)  # the worker waits for Kafka, not ready meanwhile (kafka_reach)
    parser.set_defaults(handler=_run)
