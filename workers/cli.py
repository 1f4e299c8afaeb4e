"""The `cesce-worker` command line: parse arguments, read the environment once, dispatch.

Commands arrive with the issues that build them; each one's work lives in its own module, and a
module that brings a command registers it here (`register(commands)` adds a subparser whose
``handler`` default takes the parsed arguments and returns the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from workers.argtypes import non_negative, positive, probability
from workers.ops import (
    asyncapi,
    broker,
    consume,
    dlq,
    kafka_options,
    produce,
    reconcile_command,
    run_command,
    schemas,
)
from workers.ops.help_text import plain_parser

if TYPE_CHECKING:  # the sandbox is an optional extra: imported by its commands only (`_without_sandbox_extra`)
    from workers.sandbox.config import Credentials

__all__ = ["main"]

# Modules that bring their own commands: each is `register(commands)` (see the module docstring).
_REGISTERED: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    run_command.register,
    broker.register,
    produce.register,
    consume.register,
    dlq.register,
    schemas.register,
    reconcile_command.register,
    asyncapi.register,
]

# What `pip install 'cesce-workers[sandbox]'` brings: the sandbox's web stack, which the workers never import.
_SANDBOX_EXTRA = ("fastapi", "uvicorn")
SANDBOX_EXTRA_MISSING = "the sandbox is an optional extra: pip install 'cesce-workers[sandbox]'"

_FIXED_CREDENTIALS_ENV = (
    "CESCE_SANDBOX_CLIENT_ID",
    "CESCE_SANDBOX_CLIENT_SECRET",
    "CESCE_SANDBOX_USERNAME",
    "CESCE_SANDBOX_PASSWORD",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cesce-worker",
        description="Connect an ERP to the Cesce credit-insurance APIs through Kafka.",
    )
    parser.add_argument("-V", "--version", action="version", version=version_line(), help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the whole product on the embedded default and print what it did")
    demo.add_argument("--verbose", action="store_true", help="also print each HTTP exchange's summary")
    demo.set_defaults(handler=_demo)

    sandbox = commands.add_parser("sandbox", help="serve the Cesce API emulator over HTTP")
    sandbox.set_defaults(handler=_sandbox)
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    sandbox.add_argument("--scenario", type=Path, help="JSON scenario replacing the default one")
    sandbox.add_argument("--token-ttl", type=int, default=3600, help="access-token lifetime in seconds (default 3600)")
    sandbox.add_argument(
        "--fixed-credentials",
        action="store_true",
        help="accept only the credentials in " + ", ".join(_FIXED_CREDENTIALS_ENV) + " (default: any non-empty)",
    )
    faults = sandbox.add_argument_group("faults", "for tests and benchmarks; changeable at run time via the admin API")
    faults.add_argument("--latency-ms", type=non_negative, default=0.0, help="added latency per call")
    faults.add_argument("--jitter-ms", type=non_negative, default=0.0, help="random extra latency, up to this")
    faults.add_argument("--error-rate", type=probability, default=0.0, help="share of calls answered 500")
    faults.add_argument("--rate-limit", type=positive, help="requests per second; excess answered 429 + Retry-After")
    faults.add_argument("--hang-rate", type=probability, default=0.0, help="share of calls whose answer is held")
    faults.add_argument("--hang-seconds", type=non_negative, default=30.0, help="how long a held answer waits")
    faults.add_argument("--drop-rate", type=probability, default=0.0, help="share of calls whose connection drops")
    faults.add_argument("--seed", type=int, help="random seed for the faults, for repeatable runs")
    for register in _REGISTERED:
        register(commands)
    plain_parser(parser)  # help texts taken from docstrings, without their reStructuredText markup
    return parser


def _without_sandbox_extra(command: str) -> bool:
    """True, having said so in one line on stderr, when the `sandbox` extra is missing (`demo` runs the sandbox)."""
    for name in _SANDBOX_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            print(f"cesce-worker {command}: {SANDBOX_EXTRA_MISSING}", file=sys.stderr)
            return True
    return False


def _fixed_credentials() -> Credentials:
    from workers.sandbox.config import Credentials  # noqa: PLC0415 - the sandbox is an optional extra

    missing = [name for name in _FIXED_CREDENTIALS_ENV if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"cesce-worker sandbox --fixed-credentials: set {', '.join(missing)}")
    env = os.environ
    return Credentials(
        client_id=env["CESCE_SANDBOX_CLIENT_ID"],
        client_secret=SecretStr(env["CESCE_SANDBOX_CLIENT_SECRET"]),
        username=env["CESCE_SANDBOX_USERNAME"],
        password=SecretStr(env["CESCE_SANDBOX_PASSWORD"]),
    )


def _sandbox(args: argparse.Namespace) -> int:
    if _without_sandbox_extra("sandbox"):
        return 2
    from workers.sandbox.config import Faults, SandboxConfig  # noqa: PLC0415 - the sandbox is an optional extra
    from workers.sandbox.server import run  # noqa: PLC0415 - only this command needs the web stack

    if args.scenario is not None and not args.scenario.is_file():
        raise SystemExit(f"cesce-worker sandbox: no scenario file at {args.scenario}")
    config = SandboxConfig(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        token_ttl_seconds=args.token_ttl,
        credentials=_fixed_credentials() if args.fixed_credentials else None,
        faults=Faults(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            error_rate=args.error_rate,
            rate_limit=args.rate_limit,
            hang_rate=args.hang_rate,
            hang_seconds=args.hang_seconds,
            drop_rate=args.drop_rate,
        ),
        seed=args.seed,
    )

    def ready(base_url: str) -> None:
        print(base_url, flush=True)  # first line of stdout: scripts read the address from here
        print(f"Cesce sandbox listening on {base_url} (OpenAPI: {base_url}/docs); Ctrl-C stops it", file=sys.stderr)

    run(config, on_ready=ready)
    return 0


def _demo(args: argparse.Namespace) -> int:
    if _without_sandbox_extra("demo"):
        return 2
    from workers.demo import run_demo  # noqa: PLC0415 - the demo pulls in every part of the product

    return run_demo(verbose=args.verbose)


def version_line() -> str:
    """``cesce-worker 0.1.0 (confluent-kafka 2.16.2, librdkafka 2.16.0, Python 3.11.7)``: the installed package's
    version (``unknown`` when run from a tree that was never installed) and what talks to Kafka underneath."""
    from confluent_kafka import libversion  # noqa: PLC0415 - only --version asks

    try:
        ours = metadata.version("cesce-workers")
    except metadata.PackageNotFoundError:
        ours = "unknown"
    return (
        f"cesce-worker {ours} (confluent-kafka {metadata.version('confluent-kafka')}, librdkafka {libversion()[0]}, "
        f"Python {platform.python_version()})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    kafka_options.apply_bootstrap_servers(args, os.environ)  # --bootstrap-servers, for this process and its children
    try:
        return kafka_options.kafka_command(args, os.environ, handler)  # Kafka that does not answer: one line
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
