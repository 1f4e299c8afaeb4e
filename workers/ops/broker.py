"""`cesce-worker broker`: the embedded Kafka (librdkafka's mock cluster) as a process of its own.

Other processes (workers, `produce`/`consume`, a second terminal) reach it through the bootstrap
servers it prints on the first line of stdout and, with ``--bootstrap-file``, writes to a file.
The file is written before the line is printed (so a script that has read the line finds the
file), atomically (so a script polling for it never reads half an address), and removed on exit
if it still holds our address (so nobody is pointed at a broker that is gone). The cluster keeps
everything in memory: stopping the command discards every topic and group. It says its limits when
it starts (stderr): a partition keeps about 5 MiB or 100,000 batches and silently drops its
oldest records beyond that (``rdkafka_mock.c``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from confluent_kafka import libversion

from workers.runtime.embedded import run_broker

__all__ = ["register"]

_LIMITS = (
    "Limits: topics are created with 4 partitions; each partition keeps about 5 MiB or 100,000 batches and "
    "silently drops its oldest records beyond that; transactions have no semantics (aborted records stay "
    "visible, no fencing). A test broker, not a store."
)


def _broker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `broker` command to `cesce-worker`'s subparsers."""
    broker = commands.add_parser(
        "broker",
        help="run an in-memory Kafka (librdkafka's mock cluster) until Ctrl-C",
        description="Run an in-memory Kafka cluster (librdkafka's mock) on loopback; print its bootstrap "
        "servers on the first line of stdout; stop on SIGINT or SIGTERM. Everything is lost on exit.",
    )
    broker.add_argument("--brokers", type=_broker_count, default=1, help="number of brokers (default 1)")
    broker.add_argument(
        "--bootstrap-file",
        type=Path,
        metavar="PATH",
        help="also write the bootstrap servers to this file (replaced atomically, removed on exit)",
    )
    broker.set_defaults(handler=_broker)


def _broker(args: argparse.Namespace) -> int:
    bootstrap_file: Path | None = args.bootstrap_file
    if bootstrap_file is not None and not bootstrap_file.parent.is_dir():
        raise SystemExit(f"cesce-worker broker: no directory {bootstrap_file.parent} for --bootstrap-file")
    written: list[str] = []

    def ready(bootstrap_servers: str) -> None:
        if bootstrap_file is not None:
            _write_atomically(bootstrap_file, bootstrap_servers + "\n")
            written.append(bootstrap_servers + "\n")
        print(bootstrap_servers, flush=True)  # first line of stdout: scripts read the address from here
        print(
            f"Kafka (librdkafka {libversion()[0]} mock cluster, {args.brokers} broker(s), in memory) listening on "
            f"{bootstrap_servers}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        print(_LIMITS, file=sys.stderr, flush=True)

    try:
        run_broker(args.brokers, on_ready=ready)
    finally:
        if bootstrap_file is not None and written:
            _remove_if_unchanged(bootstrap_file, written[0])
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` (atomic on POSIX)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp makes it private; an address is no secret, others read it
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _remove_if_unchanged(path: Path, text: str) -> None:
    """Remove the file we wrote, unless someone (another broker) has replaced it since."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            path.unlink()
