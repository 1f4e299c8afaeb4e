"""What every command that talks to Kafka shares: ``--bootstrap-servers``, and one line when Kafka does not answer.

A command's ``register`` calls `add_kafka_options` on its parser (``consume``, ``produce``, each ``dlq`` action,
``reconcile sales``, ``run``). The entry point (`workers.cli.main`) runs the command inside `kafka_command`:

- ``--bootstrap-servers`` replaces ``KAFKA_BOOTSTRAP_SERVERS`` for this process and whatever it starts (a worker's
  child processes);
- the first time the command is about to build a Kafka client for an address (`ensure_reached`, called where
  the operator commands build theirs), the cluster is asked for its metadata, for at most
  ``WORKER_KAFKA_REACH_SECONDS`` (default 10) and never longer than the command's ``--timeout``. So a command
  still reads and checks its own input first (a bad line of a file, a malformed month), and a cluster that does
  not answer ends it in one line on stderr, with the command's exit status for it::

      cesce-worker consume: cannot reach Kafka at 127.0.0.1:1 (Connect to ipv4#127.0.0.1:1 failed: Connection refused)

  Settings librdkafka refuses (an unknown ``KAFKA_*`` property) are one line too, exit status 2, secret values
  replaced by ``***``.

``run`` waits for Kafka instead, not ready meanwhile (`workers.runtime.kafka_reach.wait_for_kafka`). Outside
`kafka_command` (a test calling a command's handler, the demo) `ensure_reached` asks nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from pydantic import ValidationError

from workers.runtime.kafka_config import librdkafka_config, scrubbed
from workers.runtime.kafka_reach import KafkaUnreachable, reach
from workers.runtime.settings import REACH_VARIABLE, ReachSettings
from workers.settings import from_env

__all__ = [
    "BOOTSTRAP_VARIABLE",
    "add_kafka_options",
    "apply_bootstrap_servers",
    "ensure_reached",
    "kafka_command",
]

BOOTSTRAP_VARIABLE: Final = "KAFKA_BOOTSTRAP_SERVERS"


@dataclass
class _Reaching:
    """The running command's probe: how long it may wait, and the addresses that answered already."""

    bound: float
    ask: Callable[[Mapping[str, Any], float], object]
    reached: set[str] = field(default_factory=set)


_current: _Reaching | None = None


class _Refused(Exception):
    """librdkafka refused the command's settings (the probe is built from them): a configuration error."""


def _servers(text: str) -> str:
    servers = text.strip()
    if not servers:
        raise argparse.ArgumentTypeError("give HOST:PORT[,HOST:PORT...]")
    return servers


def add_kafka_options(parser: argparse.ArgumentParser, *, unreachable_status: int = 1, reach: bool = True) -> None:
    """``--bootstrap-servers`` on `parser`; with `reach`, a cluster that does not answer ends the command in one
    line with exit status `unreachable_status` (`kafka_command`)."""
    parser.add_argument(
        "--bootstrap-servers",
        type=_servers,
        metavar="HOST:PORT[,...]",
        help=f"the Kafka brokers (default: {BOOTSTRAP_VARIABLE})",
    )
    parser.set_defaults(kafka_command=parser.prog, kafka_reach=reach, kafka_unreachable_status=unreachable_status)


def apply_bootstrap_servers(args: argparse.Namespace, environ: MutableMapping[str, str]) -> None:
    """``--bootstrap-servers``, when given, as ``KAFKA_BOOTSTRAP_SERVERS`` in `environ` (the process's)."""
    servers = getattr(args, "bootstrap_servers", None)
    if servers:
        environ[BOOTSTRAP_VARIABLE] = servers


def _bound(args: argparse.Namespace, environ: Mapping[str, str]) -> float:
    """``WORKER_KAFKA_REACH_SECONDS``, never more than the command's ``--timeout``; ValueError: the setting's fault."""
    try:
        bound = from_env(ReachSettings, {k: v for k, v in environ.items() if v.strip()}).kafka_reach_seconds
    except ValidationError as exc:
        raise ValueError(f"{REACH_VARIABLE}: {exc.errors()[0]['msg']}") from None
    timeout = getattr(args, "timeout", None)
    return min(bound, timeout) if isinstance(timeout, int | float) else bound


def kafka_command(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    handler: Callable[[argparse.Namespace], int],
    *,
    ask: Callable[[Mapping[str, Any], float], object] | None = None,
) -> int:
    """`handler(args)`, for a command that talks to Kafka, with `ensure_reached` armed (`ask`: the probe, `reach`
    by default); a cluster that does not answer, or settings librdkafka refuses, end it in one line (the module
    docstring)."""
    global _current  # noqa: PLW0603 - one command per process; cleared when it returns
    if not getattr(args, "kafka_reach", False):
        return handler(args)
    name: str = args.kafka_command
    if "bootstrap.servers" not in librdkafka_config(environ):
        print(f"{name}: set {BOOTSTRAP_VARIABLE} or give --bootstrap-servers", file=sys.stderr)
        return 2
    try:
        bound = _bound(args, environ)
    except ValueError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    _current = _Reaching(bound, ask or reach)
    try:
        return handler(args)
    except KafkaUnreachable as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        status: int = args.kafka_unreachable_status
        return status
    except _Refused as exc:
        print(f"{name}: configuration error: {scrubbed(str(exc), librdkafka_config(environ))}", file=sys.stderr)
        return 2
    finally:
        _current = None


def ensure_reached(config: Mapping[str, Any]) -> None:
    """Before a command builds a Kafka client of `config`: its cluster answered already in this command, or it
    answers now; else `KafkaUnreachable` (settings librdkafka refuses end the command too, exit status 2).
    Nothing outside `kafka_command`."""
    reaching = _current
    address = str(config.get("bootstrap.servers", ""))
    if reaching is None or address in reaching.reached:
        return
    try:
        reaching.ask(config, reaching.bound)
    except KafkaException as exc:  # an unknown KAFKA_* property, a bad value...
        error = exc.args[0] if exc.args else exc
        raise _Refused(error.str() if isinstance(error, KafkaError) else str(error)) from None
    reaching.reached.add(address)
