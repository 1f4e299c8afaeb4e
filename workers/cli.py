"""The `cesce-worker` command line: parse arguments, read the environment once, dispatch.

Commands arrive with the issues that build them; each one's work lives in its own module, and a
module that brings a command registers it here (`register(commands)` adds a subparser whose
``handler`` default takes the parsed arguments and returns the exit status).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import SecretStr

from workers.argtypes import non_negative, positive, probability
from workers.ops import broker, consume, dlq, produce, reconcile_command, run_command, schemas
from workers.sandbox.config import Credentials, Faults, SandboxConfig

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
]

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
    return parser


def _fixed_credentials() -> Credentials:
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
    from workers.demo import run_demo  # noqa: PLC0415 - the demo pulls in every part of the product

    return run_demo(verbose=args.verbose)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
