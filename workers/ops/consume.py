"""`cesce-worker consume --topic T`: a topic's records as JSON lines, the way scripts and tests read the product.

Each record is one line on stdout::

    {"key": ..., "value": ..., "value_format": ..., "headers": {...}, "partition": p, "offset": o, "timestamp": ms}

Reads ``read_committed``: records of aborted or still-open transactions never show (on Kafka; the
embedded mock cluster does not hide aborted records, see `workers.runtime.embedded`). A value in
the Confluent wire format is decoded through the Schema Registry (with its writer's schema, or
read as ``--schema NAME``) and printed with decimals as strings (``"1234.50"``) and dates as ISO
(``"2030-01-10"``); otherwise it is printed as the JSON it holds (numbers exact), else as UTF-8
text, else as base64. ``value_format`` says which: ``avro``, ``json``, ``text``, ``bytes``, or null
for a tombstone. Keys and header values are printed as UTF-8 text (undecodable bytes escaped).

Without ``--group`` the tool reads every partition directly (no consumer group joined, nothing
committed, nothing left behind on the cluster), from the oldest record with ``--from-beginning``,
else from the newest; it waits for a topic that does not exist yet. With ``--group G`` it joins G,
resumes from G's committed offsets (``--from-beginning`` then only applies where G has none) and
commits what it printed, so successive runs see each record once.

It stops after ``--max N`` records or ``--timeout S`` seconds (default 10), whichever comes first.
Exit status: 0, or 1 when ``--max N`` was given and fewer than N records came before the timeout
(what did come is still printed), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from workers.argtypes import add_schemas_dir, positive, positive_int
from workers.ops.kafka_options import add_kafka_options, ensure_reached
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import CatalogError, RegistryMismatch, RegistryUnavailable
from workers.runtime.kafka_config import librdkafka_config
from workers.runtime.kafka_logs import with_logger
from workers.runtime.registry import registry_from_env
from workers.runtime.serde import MAGIC_BYTE, AvroCodec, AvroReader, DeserializationError, dumps_exact, loads_exact

__all__ = ["avro_decoder", "consume_command", "consumer_settings", "jsonable", "record_line", "register", "value_view"]

# producer settings a shared KAFKA_* environment may carry; librdkafka would warn about each on a consumer
_PRODUCER_ONLY: Final = frozenset(
    {"transactional.id", "enable.idempotence", "acks", "linger.ms", "partitioner", "compression.type"}
)
_POLL_SECONDS: Final = 0.5
_METADATA_SECONDS: Final = 2.0

ValueDecoder = Callable[[bytes, str], Any]
"""(Confluent-framed bytes, topic) -> the decoded Avro value; raises DeserializationError/RegistryUnavailable."""


def jsonable(value: Any) -> Any:
    """An Avro-decoded value with every Decimal as its exact string (dates etc. are left to `dumps_exact`)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def value_view(data: bytes | None, topic: str, decode_avro: ValueDecoder) -> tuple[Any, str | None, str | None]:
    """(printable value, value_format, warning): Avro, else JSON, else text, else base64 bytes."""
    if data is None:
        return None, None, None
    warning = None
    if data[:1] == bytes([MAGIC_BYTE]):
        try:
            return jsonable(decode_avro(data, topic)), "avro", None
        except (DeserializationError, RegistryUnavailable) as exc:
            warning = f"not decodable as Avro ({getattr(exc, 'code', 'registry')}): {exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data, "bytes", warning
    try:
        return loads_exact(text), "json", warning
    except DeserializationError:
        return text, "text", warning


def _text(data: str | bytes | None) -> str | None:
    if data is None or isinstance(data, str):
        return data
    return data.decode("utf-8", errors="backslashreplace")


def record_line(
    *,
    key: bytes | None,
    value: Any,
    value_format: str | None,
    headers: Sequence[tuple[str, str | bytes | None]],
    partition: int,
    offset: int,
    timestamp: int | None,
) -> str:
    """One output line; a header name that repeats keeps its last value."""
    return dumps_exact(
        {
            "key": _text(key),
            "value": value,
            "value_format": value_format,
            "headers": {name: _text(raw) for name, raw in headers},
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
        }
    )


def _header_pairs(
    raw: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, str | bytes | None]]:
    if raw is None:
        return []
    return list(raw.items()) if isinstance(raw, Mapping) else list(raw)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    topic_schemas: Mapping[str, str] | None = None,
) -> None:
    """Add ``consume``; `topic_schemas` maps topics to the Avro record to read values as."""
    parser = commands.add_parser(
        "consume",
        help="print a topic's records as JSON lines (read_committed, Avro decoded)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--topic", required=True, help="topic to read")
    parser.add_argument("--from-beginning", action="store_true", help="start from the oldest record (no commit yet)")
    parser.add_argument("--max", type=positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--timeout", type=positive, default=10.0, metavar="S", help="stop after S seconds")
    parser.add_argument("--group", metavar="G", help="consumer group: resume from and commit its offsets")
    parser.add_argument("--schema", metavar="NAME", help="read Avro values as this record (default: writer's)")
    add_schemas_dir(parser)
    add_kafka_options(parser)
    parser.set_defaults(handler=consume_command, topic_schemas=dict(topic_schemas or {}))


def avro_decoder(schema: str | None, directories: Sequence[Path], stack: ExitStack) -> ValueDecoder:
    """Avro values through the Schema Registry (``SCHEMA_REGISTRY_*``): as `schema`, else with the writer's; the
    registry client is closed with `stack`."""
    registry = stack.enter_context(registry_from_env(os.environ, directories))
    if schema is not None:
        return AvroCodec(registry, schema, catalog=SchemaCatalog.load(directories), auto_register=False).decode
    reader = AvroReader(registry)
    return lambda data, topic: reader.decode(data, topic).value


def consumer_settings(settings: Mapping[str, str], *, group: str | None, from_beginning: bool) -> dict[str, Any]:
    """The consumer's librdkafka settings: the environment's, with what this tool's semantics need on top (and
    librdkafka's log lines through Python logging, deduplicated: `workers.runtime.kafka_logs`)."""
    return with_logger(
        {
            **{k: v for k, v in settings.items() if k not in _PRODUCER_ONLY},
            "group.id": group or f"cesce-worker-consume-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": "false",
        }
    )


def consume_command(args: argparse.Namespace) -> int:
    settings = librdkafka_config(os.environ)
    if "bootstrap.servers" not in settings:
        print("cesce-worker consume: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        return _consume_command(args, settings, stack)


def _consume_command(args: argparse.Namespace, settings: Mapping[str, str], stack: ExitStack) -> int:
    schema: str | None = args.schema or args.topic_schemas.get(args.topic)
    try:
        decode_avro = avro_decoder(schema, [DEFAULT_SCHEMAS_DIR, *args.schemas_dir], stack)
    except (CatalogError, RegistryMismatch, ValueError) as exc:
        print(f"cesce-worker consume: {exc}", file=sys.stderr)
        return 2
    except RegistryUnavailable as exc:
        print(f"cesce-worker consume: the schema registry did not answer: {exc}", file=sys.stderr)
        return 1
    config = consumer_settings(settings, group=args.group, from_beginning=args.from_beginning)
    count = _consume(config, args, decode_avro)
    if args.max is not None and count < args.max:
        print(f"cesce-worker consume: {count} of {args.max} record(s) within {args.timeout:g} s", file=sys.stderr)
        return 1
    return 0


def _consume(config: dict[str, str], args: argparse.Namespace, decode_avro: ValueDecoder) -> int:
    from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: PLC0415 - keeps `--help` light

    ensure_reached(config)  # under the CLI: Kafka that does not answer is one line (kafka_options)
    consumer = Consumer(config)
    deadline = time.monotonic() + args.timeout
    next_offsets: dict[int, int] = {}
    count = 0
    try:
        if args.group:
            consumer.subscribe([args.topic])
        elif not _assign_all(consumer, args.topic, from_beginning=args.from_beginning, deadline=deadline):
            return 0
        while (args.max is None or count < args.max) and (left := deadline - time.monotonic()) > 0:
            message = consumer.poll(min(_POLL_SECONDS, left))
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise SystemExit(f"cesce-worker consume: {error.str()}")
                if error.code() != KafkaError._PARTITION_EOF:
                    print(f"cesce-worker consume: {error.str()}", file=sys.stderr)
                continue
            value, value_format, warning = value_view(message.value(), args.topic, decode_avro)
            partition, offset = message.partition() or 0, message.offset() or 0
            if warning is not None:
                print(f"cesce-worker consume: partition {partition} offset {offset}: {warning}", file=sys.stderr)
            kind, timestamp = message.timestamp()
            print(
                record_line(
                    key=message.key(),
                    value=value,
                    value_format=value_format,
                    headers=_header_pairs(message.headers()),
                    partition=partition,
                    offset=offset,
                    timestamp=None if kind == 0 else timestamp,  # 0: TIMESTAMP_NOT_AVAILABLE
                ),
                flush=True,
            )
            next_offsets[partition] = offset + 1
            count += 1
        if args.group and next_offsets:
            consumer.commit(
                offsets=[TopicPartition(args.topic, p, o) for p, o in sorted(next_offsets.items())],
                asynchronous=False,
            )
    finally:
        consumer.close()
    return count


def _assign_all(consumer: Any, topic: str, *, from_beginning: bool, deadline: float) -> bool:
    """Read every partition without joining a group (nothing to clean up, no rebalance wait).

    Waits for the topic to exist until `deadline`: a script may start reading before anything
    was produced. False if it never appeared.
    """
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, TopicPartition  # noqa: PLC0415

    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    while (left := deadline - time.monotonic()) > 0:
        try:
            metadata = consumer.list_topics(topic, timeout=min(_METADATA_SECONDS, left))
        except KafkaException as exc:
            print(f"cesce-worker consume: {exc}", file=sys.stderr)
        else:
            found = metadata.topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                consumer.assign([TopicPartition(topic, p, start) for p in sorted(found.partitions)])
                return True
        time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    print(f"cesce-worker consume: topic {topic} did not appear within the timeout", file=sys.stderr)
    return False
