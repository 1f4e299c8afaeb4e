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
import sys
from collections.abc import Callable, Mapping, Sequence

from pydantic import ValidationError

from workers.credit_requests import credit_requests_specs
from workers.invoices import invoices_specs
from workers.non_payments import non_payments_specs
from workers.observability.logs import configure_logging
from workers.ops.settings import LoggingSettings, ops_settings
from workers.risk import risk_poller_spec
from workers.runtime import WorkerSpec
from workers.runtime.processes import process_count
from workers.runtime.run import run_worker
from workers.runtime.settings import RuntimeSettings
from workers.runtime.supervisor import supervise
from workers.sales_followup import sales_followup_spec
from workers.settings import from_env

__all__ = ["WORKERS", "register", "secret_values"]

_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL|USER_INFO|HEADERS", re.IGNORECASE)

WORKERS: dict[str, Callable[[Mapping[str, str]], WorkerSpec | Sequence[WorkerSpec]]] = {
    "invoices": invoices_specs,
    "credit-requests": credit_requests_specs,
    "non-payments": non_payments_specs,
    "risk-poller": risk_poller_spec,
    "sales-followup": sales_followup_spec,
}


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
    try:
        logging_settings = ops_settings(LoggingSettings, env)
    except ValidationError:
        print(f"cesce-worker run {args.worker}: configuration error: LOG_FORMAT: json or text", file=sys.stderr)
        return 2
    json_lines = logging_settings.log_format == "json"
    configure_logging(args.log_level, json_lines=json_lines, secrets=secret_values(env))
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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run a worker (consume, call Cesce, publish) until Ctrl-C")
    parser.add_argument("worker", choices=sorted(WORKERS), help="which worker")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.epilog = "Logs: JSON lines on stderr with trace ids (LOG_FORMAT=text for plain lines)."
    parser.set_defaults(handler=_run)
