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

Two replays of one DLQ at once never replay a dead letter twice: a replay fences any older one
(``init_transactions``, transactional.id ``cesce-dlq-replay.<dlq topic>``) before it reads the
ledger and decides, and the fenced one stops. The embedded broker fences nobody: there the first
replay holds a lock in the ledger topic and a second one stops at once, replaying nothing.

Exit status: 0; 1 a record not found (show), refused or not replayed (replay), or a read that did
not finish in time; 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, Final

from confluent_kafka import KafkaException
from pydantic import ValidationError

from workers.argtypes import add_schemas_dir, non_negative_int, positive, positive_int
from workers.ops.consume import avro_decoder, value_view
from workers.ops.dlq_format import (
    HEADER_MEANINGS,
    TABLE_COLUMNS,
    format_table,
    record_json,
    show_json,
    show_lines,
    table_row,
)
from workers.ops.dlq_lock import LEASE_MARGIN_SECONDS, LockEvent, ReplayLock, fences, holder_at
from workers.ops.dlq_read import (
    DeadLetterRecord,
    Filters,
    Ledger,
    LedgerEntry,
    iso_ms,
    parse_duration,
    read_ledger,
    read_records,
)
from workers.ops.dlq_replay import (
    DEFAULT_MAX_REPLAYS,
    Action,
    Limit,
    Summary,
    decide,
    open_publisher,
    publish,
    transactional_id,
)
from workers.ops.kafka_options import add_kafka_options
from workers.ops.produce import producer_settings
from workers.ops.settings import DlqSettings, ops_settings
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR
from workers.runtime.contract import ErrorCategory
from workers.runtime.errors import CatalogError, RegistryMismatch, RegistryUnavailable
from workers.runtime.kafka_config import librdkafka_config, scrubbed
from workers.runtime.serde import dumps_exact
from workers.runtime.settings import DeadLetterSettings
from workers.settings import from_env

__all__ = ["HEADER_MEANINGS", "register"]

_NAME: Final = "cesce-worker dlq"
_LOCK_POLL_SECONDS: Final = 0.2


def _duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser, *, filters: bool) -> None:
    parser.add_argument(
        "--topic", required=True, help="the dead-letter topic: <input topic> + WORKER_DLQ_SUFFIX (default .dlq)"
    )
    parser.add_argument("--json", action="store_true", help="JSON for scripts instead of text")
    parser.add_argument(
        "--timeout", type=positive, default=30.0, metavar="S", help="give up reading after S seconds (default 30)"
    )
    parser.add_argument("--offset", type=non_negative_int, metavar="N", help="only the record at offset N")
    parser.add_argument("--partition", type=non_negative_int, metavar="P", help="only partition P")
    add_kafka_options(parser)
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


def _dead_letter_topic(topic: str) -> None:
    """A note on stderr when `topic` is not named like a dead-letter topic (``<input><WORKER_DLQ_SUFFIX>``): an
    input topic given by mistake reads as records without any ``dlq.*`` header."""
    try:
        suffix = from_env(DeadLetterSettings, os.environ).dlq_suffix
    except ValidationError as exc:
        raise _Usage(f"WORKER_DLQ_SUFFIX: {exc.errors()[0]['msg']}") from None
    if not topic.endswith(suffix):
        print(
            f"{_NAME}: note: {topic} does not end with the dead-letter suffix {suffix} (WORKER_DLQ_SUFFIX); "
            "reading it anyway",
            file=sys.stderr,
        )


def _dlq_settings() -> DlqSettings:
    try:
        return ops_settings(DlqSettings, os.environ)
    except ValidationError as exc:
        if any(error["loc"] == ("DLQ_MAX_REPLAYS",) for error in exc.errors()):
            given = os.environ.get("DLQ_MAX_REPLAYS", "").strip()
            raise _Usage(f"DLQ_MAX_REPLAYS must be a whole number of at least 1, got {given!r}") from None
        raise _Usage(f"DLQ_REPLAYS_TOPIC: {exc.errors()[0]['msg']}") from None


def _ledger_topic() -> str:
    return _dlq_settings().replays_topic


def _limit(given: int | None) -> Limit:
    if given is not None:
        return Limit(given, "--max-replays")
    return Limit(_dlq_settings().max_replays, "DLQ_MAX_REPLAYS")


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
            _dead_letter_topic(args.topic)
            status: int = command(args, settings)
        except _Usage as exc:
            print(f"{_NAME} {args.dlq_command}: {exc}", file=sys.stderr)
            return 2
        except KafkaException as exc:  # librdkafka refused the settings (an unknown KAFKA_* property...)
            error = exc.args[0] if exc.args else exc
            text = error.str() if hasattr(error, "str") else str(error)
            print(f"{_NAME} {args.dlq_command}: {scrubbed(text, librdkafka_config(os.environ))}", file=sys.stderr)
            return 2
        return status

    return run


def _dead_letters(
    args: argparse.Namespace, settings: Mapping[str, str], *, single: bool = False
) -> tuple[list[DeadLetterRecord], str | None] | None:
    """The selected dead letters and the cluster's id; None if the topic was not read to its end."""
    offset = args.offset if single else None
    read = read_records(settings, args.topic, timeout=args.timeout, partition=args.partition, offset=offset)
    if not read.complete:
        print(f"{_NAME}: {args.topic} was not read to its end within {args.timeout:g} s", file=sys.stderr)
        return None
    return _filters(args).select(read.records, datetime.now(UTC)), read.cluster_id


def _read(
    args: argparse.Namespace, settings: Mapping[str, str], *, single: bool = False
) -> tuple[list[DeadLetterRecord], dict[str, LedgerEntry]] | None:
    """The selected dead letters and the ledger's entries for the topic; None if a read did not finish."""
    found = _dead_letters(args, settings, single=single)
    if found is None:
        return None
    ledger = read_ledger(settings, _ledger_topic(), args.topic, timeout=args.timeout)
    if ledger is None:
        return None
    return found[0], ledger.entries


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
    with ExitStack() as stack:
        return _show_one(args, settings, stack)


def _show_one(args: argparse.Namespace, settings: Mapping[str, str], stack: ExitStack) -> int:
    try:
        decode_avro = avro_decoder(args.schema, [DEFAULT_SCHEMAS_DIR, *args.schemas_dir], stack)
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
    """Read the dead letters; fence (and on the mock, lock), then read the ledger and decide; publish.

    A dry run, or a run that selects nothing, creates no producer: it must not fence a replay
    that is running.
    """
    limit = _limit(args.max_replays)
    found = _dead_letters(args, settings)
    if found is None:
        print(f"{_NAME} replay: nothing was replayed", file=sys.stderr)
        return 1
    records, cluster_id = found
    if not records:
        summary: Summary | None = Summary(args.topic, args.dry_run, [])
    elif args.dry_run:
        summary = _dry_run(args, settings, records, limit)
    else:
        summary = _replay_fenced(args, settings, records, limit, cluster_id)
    if summary is None:
        print(f"{_NAME} replay: nothing was replayed", file=sys.stderr)
        return 1
    if args.json:
        print(dumps_exact(summary.to_json()))
    else:
        for line in summary.lines():
            print(line)
    return summary.exit_status


def _dry_run(
    args: argparse.Namespace, settings: Mapping[str, str], records: list[DeadLetterRecord], limit: Limit
) -> Summary | None:
    ledger = read_ledger(settings, _ledger_topic(), args.topic, timeout=args.timeout)
    if ledger is None:
        return None
    decisions = [decide(r, ledger.entries.get(r.ref), to=args.to, again=args.again, limit=limit) for r in records]
    chosen = [d for d in decisions if d.action is Action.REPLAY]
    summary = Summary(args.topic, True, decisions)
    summary.replayed.update(d.target or "" for d in chosen)
    if chosen and not args.json:
        rows = [[*table_row(d.record, ledger.entries.get(d.record.ref)), d.target or ""] for d in chosen]
        for line in format_table([*TABLE_COLUMNS, "target"], rows):
            print(line)
    return summary


def _replay_fenced(
    args: argparse.Namespace,
    settings: Mapping[str, str],
    records: list[DeadLetterRecord],
    limit: Limit,
    cluster_id: str | None,
) -> Summary | None:
    """The replay proper, in the order that keeps two replays of one DLQ apart (`dlq_lock` says how).

    1. the transactional producer and ``init_transactions``: an older replay of this DLQ is fenced
       and its open transaction aborted (a real cluster);
    2. on the mock, which fences nobody, the replay lock is claimed (a lost claim ends the run);
    3. only then the ledger is read, ``read_committed``, and each dead letter decided;
    4. a transaction per batch (renewing the lock on the mock), and the lock released.
    """
    from workers.runtime.errors import ProducerFailed, TransactionAborted  # noqa: PLC0415

    failed = (ProducerFailed, TransactionAborted, KafkaException)
    ledger_topic = _ledger_topic()
    config = {**producer_settings(settings), "transactional.id": transactional_id(args.topic)}
    summary = Summary(args.topic, False, [])
    try:
        publisher = open_publisher(config)
    except failed as exc:
        summary.failure = scrubbed(f"could not start the transactional producer: {exc}", settings)
        return summary
    lock = None if fences(cluster_id) else ReplayLock(args.topic, ledger_topic, args.timeout + LEASE_MARGIN_SECONDS)
    claimed = False
    try:
        if lock is not None:
            try:
                publisher.commit([lock.encoded(LockEvent.CLAIM)], [], None)
            except failed as exc:
                summary.failure = scrubbed(f"could not claim the replay lock in {ledger_topic}: {exc}", settings)
                return summary
            claimed = True
        ledger = read_ledger(settings, ledger_topic, args.topic, timeout=args.timeout)
        if ledger is not None and lock is not None:
            ledger, lost, concurrent = _lock_outcome(args, settings, lock, ledger)
            if lost is not None:
                summary.failure, summary.concurrent = lost, concurrent
                return summary
        if ledger is None:
            return None
        decisions = [decide(r, ledger.entries.get(r.ref), to=args.to, again=args.again, limit=limit) for r in records]
        summary = Summary(args.topic, False, decisions)
        chosen = [d for d in decisions if d.action is Action.REPLAY]
        if chosen:
            progress = args.progress if args.progress is not None else sys.stderr.isatty()
            renew = tuple if lock is None else lambda: [lock.encoded(LockEvent.RENEW)]
            done = publish(publisher, chosen, ledger.entries, ledger_topic, progress=progress, extra=renew)
            summary.replayed.update(done.replayed)
            summary.concurrent = done.superseded
            summary.failure = None if done.failure is None else scrubbed(done.failure, settings)
        return summary
    finally:
        if claimed and lock is not None:  # a release by a run that does not hold the lock changes nothing
            try:
                publisher.commit([lock.encoded(LockEvent.RELEASE)], [], None)
            except failed as exc:
                message = f"the replay lock of {args.topic} was not released ({exc}); it lapses with its lease"
                print(f"{_NAME} replay: {scrubbed(message, settings)}", file=sys.stderr)
        publisher.close()


def _lock_outcome(
    args: argparse.Namespace, settings: Mapping[str, str], lock: ReplayLock, ledger: Ledger
) -> tuple[Ledger | None, str | None, bool]:
    """(the ledger read after this run's claim, None if this run holds the lock or else why not,
    whether that is another replay holding it).

    The claim is committed before the ledger is read, so it is there; a broker whose last stable
    offset waits for another replay's open transaction shows it a moment later: read again until
    it is, within ``--timeout``.
    """
    deadline = time.monotonic() + args.timeout
    current: Ledger | None = ledger
    while current is not None:
        found, holder = holder_at(lock.history(current.pairs()), lock.run)
        if found and holder is not None and holder.run == lock.run:
            return current, None, False
        if found and holder is not None:
            return (
                current,
                f"another replay of {args.topic} is running ({holder.owner}, since {iso_ms(holder.since_ms)}; "
                f"its lock lapses at {iso_ms(holder.expires_ms)} unless it renews it): this run replayed nothing; "
                "run it again once that one has finished",
                True,
            )
        if time.monotonic() >= deadline:
            return current, f"this run's claim of the replay lock did not show in {lock.ledger_topic} in time", False
        time.sleep(_LOCK_POLL_SECONDS)
        current = read_ledger(settings, lock.ledger_topic, args.topic, timeout=max(0.1, deadline - time.monotonic()))
    return None, None, False


list_command = _guarded(_list)
show_command = _guarded(_show)
replay_command = _guarded(_replay)
