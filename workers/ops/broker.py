"""`cesce-worker broker`: the embedded Kafka (librdkafka's mock cluster) and Schema Registry as a process of its own.

Other processes (workers, `produce`/`consume`, a second terminal) reach Kafka through the bootstrap
servers it prints on the first line of stdout and the Schema Registry (`workers.ops.registry_server`)
through the URL on the second line; ``--bootstrap-file`` and ``--registry-file`` also write them to
files. A file is written before the lines are printed (so a script that has read them finds the
file), atomically (so a script polling for it never reads half an address), and removed on exit
if it still holds our address (so nobody is pointed at a broker that is gone). Both keep
everything in memory: stopping the command discards every topic, group and schema. It says its
limits when it starts (stderr): a partition keeps about 5 MiB or 100,000 batches and silently drops
its oldest records beyond that (``rdkafka_mock.c``). Before it prints its address it creates every topic
the workers read and write, for the topic settings in its own environment (`workers.ops.topics`): a
worker started after it subscribes to topics that exist, as in production.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from confluent_kafka import libversion
from pydantic import ValidationError

from workers.ops.registry_server import EmbeddedRegistry
from workers.ops.run_command import configuration_errors
from workers.ops.topics import create_on_mock, product_topics
from workers.runtime.embedded import run_broker

__all__ = ["register"]

_LIMITS = (
    "Limits: topics are created with 4 partitions; each partition keeps about 5 MiB or 100,000 batches and "
    "silently drops its oldest records beyond that; transactions have no semantics (aborted records stay "
    "visible, no fencing). The registry serves Avro only and forgets every schema on exit. A test broker, not a store."
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
        help="run an in-memory Kafka (librdkafka's mock cluster) and Schema Registry until Ctrl-C",
        description="Run an in-memory Kafka cluster (librdkafka's mock) and Schema Registry on loopback; print "
        "the bootstrap servers on the first line of stdout and the registry's URL on the second; stop on SIGINT "
        "or SIGTERM. Everything is lost on exit.",
    )
    broker.add_argument("--brokers", type=_broker_count, default=1, help="number of brokers (default 1)")
    broker.add_argument(
        "--bootstrap-file",
        type=Path,
        metavar="PATH",
        help="also write the bootstrap servers to this file (replaced atomically, removed on exit)",
    )
    broker.add_argument(
        "--registry-file",
        type=Path,
        metavar="PATH",
        help="also write the Schema Registry's URL to this file (replaced atomically, removed on exit)",
    )
    broker.set_defaults(handler=_broker)


def _broker(args: argparse.Namespace) -> int:
    files: dict[str, Path | None] = {"--bootstrap-file": args.bootstrap_file, "--registry-file": args.registry_file}
    for option, path in files.items():
        if path is not None and not path.parent.is_dir():
            raise SystemExit(f"cesce-worker broker: no directory {path.parent} for {option}")
    try:
        topics = product_topics(os.environ)
    except ValidationError as error:
        raise SystemExit(f"cesce-worker broker: a topic setting is wrong: {configuration_errors(error)}") from None
    written: dict[Path, str] = {}

    def write(path: Path | None, address: str) -> None:
        if path is not None:
            _write_atomically(path, address + "\n")
            written[path] = address + "\n"

    with EmbeddedRegistry() as registry:

        def ready(bootstrap_servers: str) -> None:
            try:
                create_on_mock(bootstrap_servers, topics)  # as the chart's KafkaTopics exist before a worker starts
            except RuntimeError as error:
                raise SystemExit(f"cesce-worker broker: {error}") from None
            write(args.bootstrap_file, bootstrap_servers)
            write(args.registry_file, registry.url)
            # scripts read the addresses from here: Kafka on the first line, the registry on the second
            print(bootstrap_servers, registry.url, sep="\n", flush=True)
            print(
                f"Kafka (librdkafka {libversion()[0]} mock cluster, {args.brokers} broker(s), in memory) listening "
                f"on {bootstrap_servers}; Schema Registry (Avro, in memory) on {registry.url}; Ctrl-C stops both",
                file=sys.stderr,
                flush=True,
            )
            print(
                f"Created the {len(topics)} topics the workers read and write ({', '.join(topics)})",
                file=sys.stderr,
                flush=True,
            )
            print(_LIMITS, file=sys.stderr, flush=True)

        try:
            run_broker(args.brokers, on_ready=ready)
        finally:
            for path, text in written.items():
                _remove_if_unchanged(path, text)
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
