"""`cesce-worker produce --topic T --file F`: JSON lines into a topic, the way scripts and tests feed the product.

Each line is ``{"key": str|null, "value": ..., "headers": {str: str}}`` (every member optional;
``value`` null is a tombstone). When the topic has an Avro schema (``--schema NAME``, or the
caller's topic -> schema map) the value is encoded with it in the Confluent wire format, JSON
dates and decimal strings converted exactly; otherwise a string value is sent as its UTF-8 text
and anything else as exact JSON text (numbers keep every digit).

The whole file is read and encoded before anything is sent: every bad line is reported, each as
``FILE:LINE: reason``, then how many there were, and one bad line means nothing at all was produced.
Then the records go out in file order through an idempotent producer (keys partitioned like the Java
client, murmur2, so keys land where Debezium/Kafka Connect would put them) and are flushed; each
delivered record is printed to stdout as ``{"line": n, "partition": p, "offset": o}``.

Exit status: 0 all delivered, 1 a bad line or a failed delivery, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from workers.argtypes import add_schemas_dir, positive
from workers.ops.kafka_options import add_kafka_options, ensure_reached
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog
from workers.runtime.errors import CatalogError, EncodeError, RegistryMismatch, RegistryUnavailable
from workers.runtime.kafka_config import librdkafka_config
from workers.runtime.kafka_logs import with_logger
from workers.runtime.registry import registry_from_env
from workers.runtime.serde import AvroCodec, DeserializationError, dumps_exact, loads_exact

__all__ = [
    "BadLines",
    "LineError",
    "Prepared",
    "bad_lines_report",
    "prepare",
    "produce_command",
    "producer_settings",
    "register",
    "value_encoder",
]

_MEMBERS: Final = frozenset({"key", "value", "headers"})
# consumer settings a shared KAFKA_* environment may carry; librdkafka would warn about each on a producer
_CONSUMER_ONLY: Final = frozenset(
    {
        "group.id",
        "group.instance.id",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "isolation.level",
        "auto.offset.reset",
        "enable.auto.commit",
        "max.poll.interval.ms",
        "transactional.id",  # a worker's identity: the tool must not fence it
    }
)
_PRODUCER_DEFAULTS: Final = {
    "enable.idempotence": "true",
    "acks": "all",
    "partitioner": "murmur2_random",
    "linger.ms": "5",
}

Encoder = Callable[[Any], bytes | None]


class LineError(Exception):
    """Line `line` (1-based) of the input cannot be produced."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class BadLines(Exception):
    """Lines of the input that cannot be produced: every one of them, in file order (`errors`)."""

    def __init__(self, errors: Sequence[LineError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class Prepared:
    """One input line, ready to send."""

    line: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def value_encoder(codec: AvroCodec | None, topic: str) -> Encoder:
    """Avro through `codec` when the topic has a schema, else UTF-8 text for strings and exact JSON otherwise."""

    def encode(value: Any) -> bytes | None:
        if value is None:
            return None
        if codec is not None:
            if not isinstance(value, Mapping):
                raise ValueError(f"value must be an object for Avro record {codec.schema_name}")
            return codec.encode(value, topic)
        if isinstance(value, str):
            return value.encode("utf-8")
        return dumps_exact(value).encode("utf-8")

    return encode


def _parse(text: str, number: int, encode: Encoder) -> Prepared:
    try:
        document = loads_exact(text)
    except DeserializationError as exc:
        raise LineError(number, exc.reason) from None
    if not isinstance(document, dict):
        raise LineError(number, 'expected an object {"key": ..., "value": ..., "headers": {...}}')
    unknown = sorted(set(document) - _MEMBERS)
    if unknown:
        raise LineError(number, f"unknown member {unknown[0]!r} (expected key, value, headers)")
    key = document.get("key")
    if key is not None and not isinstance(key, str):
        raise LineError(number, "key must be a string or null")
    headers = document.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise LineError(number, "headers must be an object of strings")
    try:
        value = encode(document.get("value"))
    except EncodeError as exc:
        raise LineError(number, f"value: {exc.reason}") from None
    except ValueError as exc:
        raise LineError(number, f"value: {exc}") from None
    return Prepared(
        line=number,
        key=None if key is None else key.encode("utf-8"),
        value=value,
        headers=tuple((name, text.encode("utf-8")) for name, text in headers.items()),
    )


def prepare(lines: Iterable[str], encode: Encoder) -> list[Prepared]:
    """Every non-blank line parsed and encoded, or `BadLines` naming each line that cannot be (not only the first:
    a file is mended in one go)."""
    records: list[Prepared] = []
    errors: list[LineError] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            records.append(_parse(text, number, encode))
        except LineError as error:
            errors.append(error)
    if errors:
        raise BadLines(errors)
    return records


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    topic_schemas: Mapping[str, str] | None = None,
) -> None:
    """Add ``produce``; `topic_schemas` maps topics to Avro record names when ``--schema`` is not given."""
    parser = commands.add_parser(
        "produce",
        help="produce JSON lines to a topic (Avro where the topic has a schema)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--topic", required=True, help="topic to produce to")
    parser.add_argument("--file", required=True, help='JSON lines file; "-" reads standard input')
    parser.add_argument("--schema", metavar="NAME", help="Avro record (full name) for the values; default: JSON")
    add_schemas_dir(parser)
    add_kafka_options(parser)
    parser.add_argument("--timeout", type=positive, default=30.0, help="seconds to wait for delivery (default 30)")
    parser.set_defaults(handler=produce_command, topic_schemas=dict(topic_schemas or {}))


def _read(file: str) -> list[str]:
    if file == "-":
        return sys.stdin.read().splitlines()
    return Path(file).read_text(encoding="utf-8").splitlines()


def _codec(schema: str | None, directories: Sequence[Path], stack: ExitStack) -> AvroCodec | None:
    """The codec of `schema` (None: values go as written), its registry client closed with `stack`."""
    if schema is None:
        return None
    registry = stack.enter_context(registry_from_env(os.environ, directories))
    return AvroCodec(registry, schema, catalog=SchemaCatalog.load(directories))


def producer_settings(settings: Mapping[str, str]) -> dict[str, Any]:
    """Idempotent, acks=all, Java's key partitioning; the environment's settings override these. librdkafka's log
    lines go through Python logging, deduplicated (`workers.runtime.kafka_logs`)."""
    return with_logger({**_PRODUCER_DEFAULTS, **{k: v for k, v in settings.items() if k not in _CONSUMER_ONLY}})


def produce_command(args: argparse.Namespace) -> int:
    settings = librdkafka_config(os.environ)
    if "bootstrap.servers" not in settings:
        print("cesce-worker produce: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        return _produce(args, settings, stack)


def _produce(args: argparse.Namespace, settings: Mapping[str, str], stack: ExitStack) -> int:
    schema: str | None = args.schema or args.topic_schemas.get(args.topic)
    directories = [DEFAULT_SCHEMAS_DIR, *args.schemas_dir]
    try:
        codec = _codec(schema, directories, stack)
        lines = _read(args.file)
    except (CatalogError, RegistryMismatch, OSError, ValueError) as exc:  # ValueError: bad registry settings, not UTF-8
        print(f"cesce-worker produce: {exc}", file=sys.stderr)
        return 2
    except RegistryUnavailable as exc:
        print(f"cesce-worker produce: the schema registry did not answer: {exc}", file=sys.stderr)
        return 1
    try:
        records = prepare(lines, value_encoder(codec, args.topic))
    except BadLines as exc:
        print(bad_lines_report(args.file, exc.errors, len(lines)), file=sys.stderr)
        return 1
    except RegistryUnavailable as exc:
        print(f"cesce-worker produce: the schema registry did not answer: {exc}; nothing was produced", file=sys.stderr)
        return 1
    return _send(producer_settings(settings), args.topic, records, args.timeout)


def bad_lines_report(file: str, errors: Sequence[LineError], lines: int) -> str:
    """Each bad line as ``FILE:LINE: reason``, then one line saying how many and that nothing was produced."""
    each = [f"{file}:{error.line}: {error.reason}" for error in errors]
    total = f"cesce-worker produce: {len(errors)} bad line(s) of {lines} in {file}; nothing was produced"
    return "\n".join([*each, total])


def _send(config: dict[str, str], topic: str, records: list[Prepared], timeout: float) -> int:
    from confluent_kafka import KafkaError, Message, Producer  # noqa: PLC0415 - keeps `--help` light

    delivered: dict[int, tuple[int | None, int | None]] = {}
    failed: dict[int, str] = {}

    def report(line: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failed[line] = error.str()
            else:
                delivered[line] = (message.partition(), message.offset())

        return on_delivery

    ensure_reached(config)  # under the CLI: Kafka that does not answer is one line (kafka_options)
    producer = Producer(config)
    for record in records:
        while True:
            try:
                producer.produce(
                    topic,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                    on_delivery=report(record.line),
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.5)
        producer.poll(0)
    unconfirmed = producer.flush(timeout)
    for record in records:
        if record.line in delivered:
            partition, offset = delivered[record.line]
            print(dumps_exact({"line": record.line, "partition": partition, "offset": offset}), flush=True)
    for line, reason in sorted(failed.items()):
        print(f"cesce-worker produce: line {line} not delivered: {reason}", file=sys.stderr)
    if unconfirmed:
        print(f"cesce-worker produce: {unconfirmed} record(s) unconfirmed after {timeout:g} s", file=sys.stderr)
    print(f"cesce-worker produce: {len(delivered)} of {len(records)} record(s) to {topic}", file=sys.stderr)
    return 0 if len(delivered) == len(records) else 1
