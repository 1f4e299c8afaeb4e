"""`cesce-worker dlq list|show|replay`: find, read and replay dead letters.

``list`` prints a table of a dead-letter topic's records (``--json``: one object per line);
``show`` one of them in full, its original value decoded; ``replay`` republishes the selected
ones, key, value and original headers unchanged, to the topic they came from (or ``--to``),
with ``replay.count`` and ``replay.source`` headers, and records each replay in the replay ledger
(``DLQ_REPLAYS_TOPIC``, default ``cesce.dlq-replays``) in the same transaction. A dead letter
already in the ledger is skipped unless ``--again``; one replayed ``DLQ_MAX_REPLAYS`` times
(default 3) is refused. ``--dry-run`` writes nothing.

Filters (list and replay): ``--code``, ``--category``, ``--since 2h``, ``--key``, ``--offset N
[--partition P]``. The topic is read without a consumer group, read_committed, up to its end
offsets at the start, within ``--timeout`` seconds (default 30).

Exit status: 0; 1 a record not found (show), refused or not replayed (replay), or a read that did
not finish in time; 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from confluent_kafka import KafkaException

from workers.argtypes import add_schemas_dir, non_negative_int, positive, positive_int
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, CatalogError
from workers.runtime.contract import ErrorCategory
from workers.runtime.kafka_config import librdkafka_config, redacted
from workers.runtime.registry import RegistryMismatch
from workers.runtime.serde import RegistryUnavailable, dumps_exact
from workers.runtime.tools.consume import avro_decoder, value_view
from workers.runtime.tools.dlq_format import (
    HEADER_MEANINGS,
    TABLE_COLUMNS,
    format_table,
    record_json,
    show_json,
    show_lines,
    table_row,
)
from workers.runtime.tools.dlq_read import (
    DeadLetterRecord,
    Filters,
    LedgerEntry,
    parse_duration,
    read_ledger,
    read_records,
)
from workers.runtime.tools.dlq_replay import (
    DEFAULT_MAX_REPLAYS,
    DEFAULT_REPLAYS_TOPIC,
    Action,
    Limit,
    Summary,
    decide,
    publish,
    transactional_id,
)
from workers.runtime.tools.produce import producer_settings

__all__ = ["HEADER_MEANINGS", "register"]

_NAME: Final = "cesce-worker dlq"


def _duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser, *, filters: bool) -> None:
    parser.add_argument("--topic", required=True, help="the dead-letter topic (<input topic>.dlq)")
    parser.add_argument("--json", action="store_true", help="JSON for scripts instead of text")
    parser.add_argument(
        "--timeout", type=positive, default=30.0, metavar="S", help="give up reading after S seconds (default 30)"
    )
    parser.add_argument("--offset", type=non_negative_int, metavar="N", help="only the record at offset N")
    parser.add_argument("--partition", type=non_negative_int, metavar="P", help="only partition P")
    if filters:
        parser.add_argument("--code", metavar="C", help="only dead letters with dlq.error.code C")
        parser.add_argument("--category", choices=[c.value for c in ErrorCategory], help="only this dlq.category")
        parser.add_argument("--since", type=_duration, metavar="DURATION", help="only the last 90s, 30m, 2h, 7d...")
        parser.add_argument("--key", metavar="K", help="only records with key K (exact)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlq`` with its subcommands ``list``, ``show`` and ``replay``."""
    dlq = commands.add_parser(
        "dlq",
        help="list, show and replay dead letters",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a table of the dead letters")
    _common(listing, filters=True)
    listing.set_defaults(handler=list_command)

    show = actions.add_parser("show", help="one dead letter in full, its value decoded")
    _common(show, filters=False)
    show.add_argument("--schema", metavar="NAME", help="read an Avro value as this record (default: writer's)")
    add_schemas_dir(show)
    show.set_defaults(handler=show_command)

    replay = actions.add_parser("replay", help="republish dead letters to their original topic")
    _common(replay, filters=True)
    replay.add_argument("--to", metavar="TOPIC", help="republish to TOPIC instead of each record's original topic")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; write nothing")
    replay.add_argument("--again", action="store_true", help="replay dead letters the ledger says were replayed")
    replay.add_argument(
        "--max-replays",
        type=positive_int,
        metavar="N",
        help=f"refuse records replayed N times (DLQ_MAX_REPLAYS, {DEFAULT_MAX_REPLAYS})",
    )
    replay.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a progress bar on stderr (default: when stderr is a terminal)",
    )
    replay.set_defaults(handler=replay_command)


class _Usage(Exception):
    """A configuration error: exit status 2, this one line."""


def _settings() -> dict[str, str]:
    settings = librdkafka_config(os.environ)
    if "bootstrap.servers" not in settings:
        raise _Usage("set KAFKA_BOOTSTRAP_SERVERS")
    return settings


def _scrubbed(message: str, settings: Mapping[str, str]) -> str:
    """`message` with the values of secret settings replaced (librdkafka may quote a bad value)."""
    for key, shown in redacted(settings).items():
        if shown == "***" and settings[key]:
            message = message.replace(settings[key], "***")
    return message


def _ledger_topic() -> str:
    return os.environ.get("DLQ_REPLAYS_TOPIC", "").strip() or DEFAULT_REPLAYS_TOPIC


def _limit(given: int | None) -> Limit:
    if given is not None:
        return Limit(given, "--max-replays")
    text = os.environ.get("DLQ_MAX_REPLAYS", "").strip()
    if not text:
        return Limit(DEFAULT_MAX_REPLAYS, "DLQ_MAX_REPLAYS")
    if not text.isdigit() or int(text) < 1:
        raise _Usage(f"DLQ_MAX_REPLAYS must be a whole number of at least 1, got {text!r}")
    return Limit(int(text), "DLQ_MAX_REPLAYS")


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        code=getattr(args, "code", None),
        category=getattr(args, "category", None),
        since=getattr(args, "since", None),
        key=getattr(args, "key", None),
        partition=args.partition,
        offset=args.offset,
    )


def _guarded(command: Callable[[argparse.Namespace, Mapping[str, str]], int]) -> Callable[[argparse.Namespace], int]:
    """Run `command(args, settings)`; configuration and client errors become one line and exit 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            settings = _settings()
            status: int = command(args, settings)
        except _Usage as exc:
            print(f"{_NAME} {args.dlq_command}: {exc}", file=sys.stderr)
            return 2
        except KafkaException as exc:  # librdkafka refused the settings (an unknown KAFKA_* property...)
            error = exc.args[0] if exc.args else exc
            text = error.str() if hasattr(error, "str") else str(error)
            print(f"{_NAME} {args.dlq_command}: {_scrubbed(text, librdkafka_config(os.environ))}", file=sys.stderr)
            return 2
        return status

    return run


def _read(
    args: argparse.Namespace, settings: Mapping[str, str], *, single: bool = False
) -> tuple[list[DeadLetterRecord], dict[str, LedgerEntry]] | None:
    """The selected dead letters and the ledger's entries for the topic; None if a read did not finish."""
    offset = args.offset if single else None
    read = read_records(settings, args.topic, timeout=args.timeout, partition=args.partition, offset=offset)
    if not read.complete:
        print(f"{_NAME}: {args.topic} was not read to its end within {args.timeout:g} s", file=sys.stderr)
        return None
    ledger = read_ledger(settings, _ledger_topic(), args.topic, timeout=args.timeout)
    if ledger is None:
        return None
    return _filters(args).select(read.records, datetime.now(UTC)), ledger


def _list(args: argparse.Namespace, settings: Mapping[str, str]) -> int:
    found = _read(args, settings)
    if found is None:
        return 1
    records, ledger = found
    if args.json:
        for record in records:
            print(dumps_exact(record_json(record, ledger.get(record.ref))))
        return 0
    if not records:
        print(f"no dead letters match in {args.topic}")
        return 0
    for line in format_table(TABLE_COLUMNS, [table_row(r, ledger.get(r.ref)) for r in records]):
        print(line)
    return 0


def _show(args: argparse.Namespace, settings: Mapping[str, str]) -> int:
    if args.offset is None:
        raise _Usage("give --offset N (and --partition P if several partitions have that offset)")
    try:
        decode_avro = avro_decoder(args.schema, [DEFAULT_SCHEMAS_DIR, *args.schemas_dir])
    except (CatalogError, RegistryMismatch, ValueError) as exc:
        raise _Usage(str(exc)) from None
    except RegistryUnavailable as exc:
        print(f"{_NAME} show: the schema registry did not answer: {exc}", file=sys.stderr)
        return 1
    found = _read(args, settings, single=True)
    if found is None:
        return 1
    records, ledger = found
    where = f"{args.topic}[{args.partition}]" if args.partition is not None else args.topic
    if not records:
        print(f"{_NAME} show: no record at offset {args.offset} in {where}", file=sys.stderr)
        return 1
    if len(records) > 1:
        partitions = ", ".join(str(r.partition) for r in records)
        raise _Usage(f"offset {args.offset} is in partitions {partitions}: give --partition P")
    record = records[0]
    value, value_format, warning = value_view(record.value, record.original_topic or record.topic, decode_avro)
    if warning is not None:
        print(f"{_NAME} show: {record.ref}: {warning}", file=sys.stderr)
    entry = ledger.get(record.ref)
    if args.json:
        print(dumps_exact(show_json(record, entry, value, value_format)))
        return 0
    for line in show_lines(record, entry, value, value_format):
        print(line)
    return 0


def _replay(args: argparse.Namespace, settings: Mapping[str, str]) -> int:
    limit = _limit(args.max_replays)
    found = _read(args, settings)
    if found is None:
        print(f"{_NAME} replay: nothing was replayed", file=sys.stderr)
        return 1
    records, ledger = found
    decisions = [decide(r, ledger.get(r.ref), to=args.to, again=args.again, limit=limit) for r in records]
    chosen = [d for d in decisions if d.action is Action.REPLAY]
    summary = Summary(args.topic, args.dry_run, decisions)
    if args.dry_run:
        summary.replayed.update(d.target or "" for d in chosen)
        if chosen and not args.json:
            rows = [[*table_row(d.record, ledger.get(d.record.ref)), d.target or ""] for d in chosen]
            for line in format_table([*TABLE_COLUMNS, "target"], rows):
                print(line)
    elif chosen:
        config = {**producer_settings(settings), "transactional.id": transactional_id(args.topic)}
        progress = args.progress if args.progress is not None else sys.stderr.isatty()
        replayed, failure = publish(config, chosen, ledger, _ledger_topic(), progress=progress)
        summary.replayed.update(replayed)
        summary.failure = None if failure is None else _scrubbed(failure, settings)
    if args.json:
        print(dumps_exact(summary.to_json()))
    else:
        for line in summary.lines():
            print(line)
    return summary.exit_status


list_command = _guarded(_list)
show_command = _guarded(_show)
replay_command = _guarded(_replay)
