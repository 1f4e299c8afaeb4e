"""`cesce-worker asyncapi [--output FILE]`: an AsyncAPI 3.0.0 document of every topic the product reads and writes.

Generated from what the code runs, never written by hand: the `WorkerSpec`s of every worker and companion
(`workers.ops.run_command.WORKERS`, built from the environment as `cesce-worker run` builds them, so
``INVOICES_TOPIC=...`` renames a channel here too), the Avro records of ``schemas/`` (`SchemaCatalog`), the
headers the runtime writes (`workers.runtime.dlq`, `workers.runtime.contract`) and the replay ledger's
entries (`workers.ops.dlq_read.LedgerEntry`). ``docs/asyncapi.json`` is this document for the default
settings; a unit test regenerates it and compares, and another parses it with the AsyncAPI project's own
parser (``tests/asyncapi``).

- **channels**: one per topic. ERP inputs carry the Debezium change envelope of their row schema (the
  Avro envelope of ``schemas/``; JSON of the same shape is read too, see docs/debezium.md), keyed by the
  row's primary key; the re-keyed ``*.by-debtor`` topics the same bytes keyed by debtor; results and state
  topics their Avro record (``schemaFormat: application/vnd.apache.avro;version=1.9.0``, Confluent wire
  format, the schema id in the payload); dead-letter topics the original bytes with the ``dlq.*`` headers;
  the replay ledger its JSON entries.
- **operations**: which worker (or companion, or ``cesce-worker dlq replay``) receives from or sends to
  which channel, with the consumer group of each receiver.
- **servers**: one Kafka cluster, ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a ``{bootstrap}`` variable.

Settings that do not change a topic (the Cesce credentials, the contracts polled) are not needed: placeholders
stand in for them while the specs are built, and nothing of the environment but topic names and the bootstrap
address reaches the document. ``WORKER_GROUP_ID`` is one deployment's, so the groups shown are the defaults
(``cesce-<worker>[.<companion>]``). Exit status: 0; 2 a setting that cannot be used (named, without its value)
or a file that cannot be written.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ValidationError

from workers.ops.dlq_lock import lock_key
from workers.ops.dlq_read import LedgerEntry, dead_letter_ref
from workers.ops.run_command import configuration_errors
from workers.ops.settings import DlqSettings, ops_settings
from workers.ops.topics import topology
from workers.runtime import WorkerSpec, envelopes, states
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.contract import ORIGIN_HEADER, ROW_KEY_HEADER, DeadLetter, ErrorCategory, InputRecord
from workers.runtime.dlq import (
    OMITTED,
    REPLAY_COUNT,
    REPLAY_SOURCE,
    SOURCE_OUTPUT,
    TRACE_HEADERS,
    Failure,
    dead_letter_headers,
    source_headers,
)
from workers.runtime.errors import CatalogError
from workers.runtime.registry import SubjectStrategy, registry_settings
from workers.runtime.settings import RuntimeSettings

__all__ = [
    "ASYNCAPI_VERSION",
    "AVRO_SCHEMA_FORMAT",
    "DEFAULT_OUTPUT",
    "KAFKA_BINDING_VERSION",
    "KEYS",
    "Key",
    "asyncapi_command",
    "asyncapi_document",
    "dead_letter_header_names",
    "register",
]

ASYNCAPI_VERSION: Final = "3.0.0"
AVRO_SCHEMA_FORMAT: Final = "application/vnd.apache.avro;version=1.9.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
DEFAULT_OUTPUT: Final = Path(__file__).parents[2] / "docs" / "asyncapi.json"
"""Where the repository keeps the document for the default settings (a unit test keeps it current)."""

_REPLAY_TOOL: Final = "dlq-replay"
"""The operations of ``cesce-worker dlq replay`` are named after it."""

_AVRO_CONTENT: Final = "application/vnd.apache.avro+binary"
_STRATEGY_CLASSES: Final = {
    SubjectStrategy.TOPIC: "TopicNameStrategy",
    SubjectStrategy.RECORD: "RecordNameStrategy",
    SubjectStrategy.TOPIC_RECORD: "TopicRecordNameStrategy",
}


@dataclass(frozen=True)
class Key:
    """What a topic's records are keyed by."""

    description: str
    text: bool = True
    """UTF-8 text (a JSON Schema ``string``); False for bytes copied from elsewhere (no type given)."""

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": self.description} if self.text else {"description": self.description}


_DEBTOR: Final = Key("the debtor (customerReference, else endorsementNo)")


def _row_identity(without: str) -> Key:
    return Key(
        "the ERP row's identity: Debezium's key (bytes), as the re-keying companion copies it into the "
        f"`{ROW_KEY_HEADER}` header; {without} when the source is keyed by debtor",
        text=False,
    )


KEYS: Final[Mapping[str, Key]] = {
    "cesce.results.SaleResult": _DEBTOR,
    "cesce.results.ClassificationResult": _DEBTOR,
    "cesce.results.NonPaymentResult": _DEBTOR,
    "cesce.results.ClaimUpdate": _DEBTOR,
    "cesce.results.RiskChange": Key("contractNo/countryCode/taxCode"),
    "cesce.results.SaleChange": Key("contractNo/saleCesceReferenceNo (of the sale extended, for an extension)"),
    "cesce.state.SentSale": _row_identity("contractNo/invoiceNo/maturityDate"),
    "cesce.state.SentCreditRequest": _row_identity("the requestId"),
    "cesce.state.SentNonPayment": _row_identity("the nonPaymentId"),
    "cesce.state.PendingClassification": Key("the requestId"),
    "cesce.state.ClaimFileWatch": Key("contractNo/claimFileNo"),
    "cesce.state.RiskLimit": Key("contractNo/endorsementNo"),
    "cesce.state.RiskSchedule": Key("contractNo"),
    "cesce.state.SaleSchedule": Key("contractNo"),
    "cesce.state.SaleState": Key("contractNo/saleCesceReferenceNo"),
}
"""The key of each record the workers write, by its full Avro name: `asyncapi_document` refuses a record without
one, so a new record cannot be published undocumented."""

_SOURCE_KEY: Final = Key("the ERP row's primary key, as the connector writes it (Avro or JSON)", text=False)
_REKEYED_KEY: Final = Key(
    "the debtor (customerReference, else endorsementNo); none for a delete that names no debtor (written to every "
    "partition); the source key when a change names no debtor",
    text=False,
)

DLQ_HEADERS: Final[Mapping[str, str]] = {
    "dlq.category": "why it is here: one of the categories (enum)",
    "dlq.error.code": "the error code (a Cesce errorCode, a field name, an exception type); at most 128 bytes",
    "dlq.error.description": "what went wrong, with any excerpt of the input; at most 1024 bytes, cut with "
    "`... [truncated: <n> bytes]`",
    "dlq.original.topic": "the topic the record was read from (where a replay sends it)",
    "dlq.original.partition": "its partition",
    "dlq.original.offset": "its offset",
    "dlq.original.timestamp": "its timestamp, milliseconds since the epoch (empty when it had none)",
    "dlq.worker": "the worker (or companion) that dead-lettered it",
    "dlq.attempts": "how many times it was tried",
    "dlq.first.failure": "when the first attempt failed, ISO 8601 UTC",
    "dlq.last.failure": "when the last attempt failed, ISO 8601 UTC",
    "dlq.original.traceparent": "the original record's W3C trace context, if it had one",
    "dlq.original.tracestate": "the original record's W3C trace state, if it had one",
    "source.topic": "as on every record the workers publish: the input record's topic",
    "source.partition": "the input record's partition",
    "source.offset": "the input record's offset",
    OMITTED: "on a dead letter the cluster would not take whole: what was left out, "
    "`key=<bytes>,value=<bytes>,headers=<n>`",
    REPLAY_COUNT: "how many times the record was replayed already (kept from the original)",
    REPLAY_SOURCE: "the dead letter a replayed record came from, `<dlq topic>[<partition>]@<offset>`",
    "traceparent": "W3C trace context of the `process` span of the record that was dead-lettered",
    "tracestate": "W3C trace state of that span",
}
"""What each header of a dead letter says. `dead_letter_header_names` lists the headers from the code that writes
them; a header written there without a line here stops the document, so the two cannot drift apart."""

PUBLISHED_HEADERS: Final[Mapping[str, str]] = {
    "source.topic": "the topic of the input record this one answers",
    "source.partition": "its partition",
    "source.offset": "its offset",
    SOURCE_OUTPUT: "`<index>/<count>`: which of that input record's outputs this is (reconciliation)",
    "traceparent": "W3C trace context of the `process` span of the record it came from (results, not state records)",
    "tracestate": "W3C trace state of that span",
}
"""The headers the runtime adds to every record it publishes (`workers.runtime.outbox`)."""

REKEY_HEADERS: Final[Mapping[str, str]] = {
    ROW_KEY_HEADER: "the source record's key (the ERP row's primary key), the row's identity for the worker",
    ORIGIN_HEADER: "`<topic>:<partition>:<offset>` of the change record in the ERP topic",
}
"""What the re-keying companion adds (`workers.runtime.rekey`); the source record's own headers go along."""

Kind = Literal["erp", "rekeyed", "record", "dead-letters", "ledger"]


@dataclass
class _Topic:
    """What the document says of one topic, gathered from every spec that uses it."""

    name: str
    kind: Kind | None = None
    record: str | None = None
    """The full Avro name of its value (the envelope's, for an ERP or re-keyed topic)."""
    row: str | None = None
    """For an ERP or re-keyed topic: the row schema its decoder checks the envelope against."""
    senders: list[str] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)


def _decoded(spec: WorkerSpec) -> tuple[Literal["envelope", "state"], str]:
    """What the spec's decoder reads: Debezium envelopes of a row schema, or state records of a schema."""
    code = getattr(spec.decoder, "__code__", None)
    for kind, factory in (("envelope", envelopes), ("state", states)):
        if code is not None and code is getattr(factory(""), "__code__", None):
            schema = inspect.getclosurevars(spec.decoder).nonlocals.get("schema_name")
            if isinstance(schema, str):
                return kind, schema  # type: ignore[return-value]
    raise ValueError(f"{spec.label}: a decoder this document cannot describe (not `envelopes` nor `states`)")


def _topics(specs: Sequence[WorkerSpec], ledger: str, catalog: SchemaCatalog) -> dict[str, _Topic]:
    topics: dict[str, _Topic] = {}

    def topic(name: str) -> _Topic:
        return topics.setdefault(name, _Topic(name))

    for spec in specs:
        kind, schema = _decoded(spec)
        for name in spec.input_topics:
            found = topic(name)
            found.receivers.append(spec.label)
            if kind == "envelope":
                found.row, found.record = schema, _envelope_of(schema, catalog)
            else:
                found.kind, found.record = "record", schema
            dead = topic(spec.dlq_topic(name))
            dead.kind = "dead-letters"
            dead.senders.append(spec.label)
        for name in spec.output_topics:
            found = topic(name)
            found.senders.append(spec.label)
            record = spec.schemas.get(name)
            if record is not None:
                found.kind, found.record = "record", record
    for found in topics.values():
        if found.kind is None:  # an envelope topic: the ERP's, or a companion's re-keyed copy
            found.kind = "rekeyed" if found.senders else "erp"
        if found.kind == "dead-letters":
            found.receivers.append(_REPLAY_TOOL)
    replays = topic(ledger)
    replays.kind = "ledger"
    replays.senders.append(_REPLAY_TOOL)
    replays.receivers.append(_REPLAY_TOOL)
    return dict(sorted(topics.items()))


def _envelope_of(row: str, catalog: SchemaCatalog) -> str:
    envelope = f"{row}Envelope"
    if envelope not in catalog:
        raise CatalogError(f"no change envelope {envelope} in the catalog for the row schema {row}")
    return envelope


def dead_letter_header_names() -> list[str]:
    """The headers `workers.runtime.dlq.dead_letter_headers` writes on a dead letter, asked of it (a probe record
    with a trace context), in its order."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    probe = InputRecord(
        "topic",
        0,
        0,
        0,
        b"key",
        b"value",
        tuple((name, b"") for name in TRACE_HEADERS),
        decoded=None,
    )
    failure = Failure(DeadLetter(ErrorCategory.INTERNAL, "code", "description"), 1, moment, moment)
    return [name for name, _ in dead_letter_headers(probe, failure, "worker")]


def _header_schema(headers: Mapping[str, str], enums: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, text in headers.items():
        properties[name] = {"type": "string", "description": text}
        if enums and name in enums:
            properties[name]["enum"] = enums[name]
    return {"type": "object", "properties": properties}


def _dead_letter_headers() -> dict[str, Any]:
    names = [*dead_letter_header_names(), *TRACE_HEADERS, OMITTED, REPLAY_COUNT, REPLAY_SOURCE]
    undescribed = [name for name in names if name not in DLQ_HEADERS]
    if undescribed:
        raise ValueError(f"dead letters carry headers the document does not describe: {', '.join(undescribed)}")
    ordered = {name: DLQ_HEADERS[name] for name in dict.fromkeys(names)}
    return _header_schema(ordered, {"dlq.category": [str(category) for category in ErrorCategory]})


def _published_headers() -> dict[str, str]:
    probe = InputRecord("topic", 0, 0, None, None, None, (), decoded=None)
    names = [*(name for name, _ in source_headers(probe)), SOURCE_OUTPUT, *TRACE_HEADERS]
    missing = [name for name in names if name not in PUBLISHED_HEADERS]
    if missing:
        raise ValueError(f"published records carry headers the document does not describe: {', '.join(missing)}")
    return {name: PUBLISHED_HEADERS[name] for name in names}


def _kafka(binding: Mapping[str, Any]) -> dict[str, Any]:
    return {"kafka": {**binding, "bindingVersion": KAFKA_BINDING_VERSION}}


def _avro(record: str, catalog: SchemaCatalog) -> dict[str, Any]:
    return {"schemaFormat": AVRO_SCHEMA_FORMAT, "schema": json.loads(catalog.schema_str(record))}


def _short(record: str) -> str:
    return record.rsplit(".", 1)[-1]


def _channel(found: _Topic, catalog: SchemaCatalog, strategy: str, dead: Mapping[str, list[str]]) -> dict[str, Any]:
    avro_binding = {"schemaIdLocation": "payload", "schemaIdPayloadEncoding": "confluent"}
    avro_binding["schemaLookupStrategy"] = strategy
    compacted = found.kind == "ledger" or (found.kind == "record" and (found.record or "").startswith("cesce.state."))
    channel: dict[str, Any] = {"address": found.name}
    message: dict[str, Any]
    if found.kind in ("erp", "rekeyed"):
        record, row = _required(found.record, found), _required(found.row, found)
        rekeyed = found.kind == "rekeyed"
        channel["title"] = "ERP changes re-keyed by debtor" if rekeyed else "ERP changes (Debezium)"
        channel["description"] = f"Change records of `{row}` rows, " + (
            "bytes unchanged, re-keyed by debtor in the source's commit order by the re-keying companion."
            if rekeyed
            else "as Debezium writes them: the full envelope (shown), a row unwrapped by "
            "`ExtractNewRecordState`, Avro (Confluent wire format) or JSON with or without its Connect "
            "schema; tombstones and truncates are skipped. Fields the row schema does not know are ignored "
            "(docs/debezium.md)."
        )
        message = {
            "name": record,
            "title": f"A change of one {_short(row)} row",
            "contentType": _AVRO_CONTENT,
            "payload": _avro(record, catalog),
            "bindings": _kafka({"key": (_REKEYED_KEY if rekeyed else _SOURCE_KEY).schema()}),
        }
        if rekeyed:
            message["headers"] = _header_schema({**REKEY_HEADERS, **_published_headers()})
    elif found.kind == "record":
        record = _required(found.record, found)
        if record not in KEYS:
            raise ValueError(f"{found.name}: no key is documented for {record} (workers.ops.asyncapi.KEYS)")
        kind = "state, compacted: the last record of each key is kept" if compacted else "results for the ERP"
        channel["title"] = f"{_short(record)} records"
        channel["description"] = f"`{record}` records ({kind})." + (
            " A tombstone (no value) forgets its key." if compacted else ""
        )
        message = {
            "name": record,
            "title": _short(record),
            "summary": str(catalog.by_name(record).get("doc", "")) or record,
            "contentType": _AVRO_CONTENT,
            "payload": _avro(record, catalog),
            "headers": _header_schema(_published_headers()),
            "bindings": _kafka({"key": KEYS[record].schema(), **avro_binding}),
        }
    elif found.kind == "dead-letters":
        sources = dead.get(found.name, [])
        channel["title"] = "Dead letters"
        channel["description"] = (
            f"Records of {', '.join(f'`{s}`' for s in sources)} that could not be handled: the original key and "
            "value bytes unchanged, the original headers kept, and `dlq.*` headers saying why. Listed, read and "
            "replayed with `cesce-worker dlq`."
        )
        message = {
            "name": "DeadLetter",
            "title": "A record that could not be handled",
            "contentType": "application/octet-stream",
            "payload": {"description": "the original record's value, bytes unchanged (see the original topic)"},
            "headers": _dead_letter_headers(),
            "bindings": _kafka({"key": Key("the original record's key, bytes unchanged", text=False).schema()}),
        }
    else:
        example = LedgerEntry("topic.dlq", 0, 0, "topic", "2026-01-01T00:00:00Z", 1, 1)
        channel["title"] = "Dead-letter replay ledger"
        channel["description"] = (
            "What `cesce-worker dlq replay` replayed (DLQ_REPLAYS_TOPIC), written in the transaction of the "
            "replay: the latest replay of each dead letter (compacted). On the embedded broker, which fences no "
            f"producer, it also holds the replay lock's records, keyed `{lock_key('<dlq topic>')}` "
            "(workers.ops.dlq_lock)."
        )
        message = {
            "name": "LedgerEntry",
            "title": "The latest replay of one dead letter",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "properties": {name: _json_type(value) for name, value in example.to_json().items()},
                "required": list(example.to_json()),
            },
            "bindings": _kafka(
                {"key": Key(f"the dead letter replayed, e.g. `{dead_letter_ref('erp.invoices.dlq', 0, 42)}`").schema()}
            ),
        }
    channel["messages"] = {_message_id(message["name"]): message}
    topic_binding: dict[str, Any] = {"topic": found.name}
    if compacted:
        topic_binding["topicConfiguration"] = {"cleanup.policy": ["compact"]}
    channel["bindings"] = _kafka(topic_binding)
    return channel


def _json_type(value: object) -> dict[str, str]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    return {"type": "integer"} if isinstance(value, int) else {"type": "string"}


def _message_id(name: str) -> str:
    return _short(name)


def _operation_id(who: str, action: str, topic: str) -> str:
    return f"{who}.{action}.{topic}"


def _operations(topics: Mapping[str, _Topic], specs: Sequence[WorkerSpec]) -> dict[str, Any]:
    groups = {spec.label: spec.group_id(RuntimeSettings.model_construct(group_id=None)) for spec in specs}
    operations: dict[str, Any] = {}
    for found in topics.values():
        channel = {"$ref": f"#/channels/{found.name}"}
        messages = [{"$ref": f"#/channels/{found.name}/messages/{message}"} for message in _messages_of(found)]
        for action, who_list in (("receive", found.receivers), ("send", found.senders)):
            for who in dict.fromkeys(who_list):
                operation: dict[str, Any] = {"action": action, "channel": channel, "messages": messages}
                if who == _REPLAY_TOOL:
                    operation["summary"] = f"`cesce-worker dlq replay` {action}s"
                    if action == "send" and found.kind != "ledger":
                        operation["description"] = "A replayed dead letter, its original headers restored."
                    elif action == "receive":
                        operation["description"] = "Read without a consumer group, read_committed."
                else:
                    operation["summary"] = f"{who} {action}s"
                    if action == "receive":
                        operation["bindings"] = _kafka({"groupId": {"type": "string", "enum": [groups[who]]}})
                operations[_operation_id(who, action, found.name)] = operation
    # `dlq replay` sends each dead letter back to the topic it came from
    for found in topics.values():
        if found.kind in ("erp", "rekeyed", "record") and found.receivers:
            operation_id = _operation_id(_REPLAY_TOOL, "send", found.name)
            operations[operation_id] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{found.name}"},
                "messages": [
                    {"$ref": f"#/channels/{found.name}/messages/{message}"} for message in _messages_of(found)
                ],
                "summary": "`cesce-worker dlq replay` sends",
                "description": "A replayed dead letter, key, value and original headers unchanged, with "
                f"`{REPLAY_COUNT}` and `{REPLAY_SOURCE}`.",
            }
    return dict(sorted(operations.items()))


def _messages_of(found: _Topic) -> list[str]:
    if found.kind == "dead-letters":
        return ["DeadLetter"]
    if found.kind == "ledger":
        return ["LedgerEntry"]
    return [_message_id(_required(found.record, found))]


def _required(value: str | None, found: _Topic) -> str:
    if value is None:  # a topic some spec reads or writes always has its record, so only a defect gets here
        raise ValueError(f"{found.name}: no schema is known for it")
    return value


def _version() -> str:
    try:
        return version("cesce-workers")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without an install
        return "0.0.0"


def asyncapi_document(env: Mapping[str, str], catalog: SchemaCatalog | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic, for the settings in `env` (only topic names, the bootstrap
    address, the subject name strategy and the replay ledger's topic are read). ValidationError for a setting
    that cannot be used; ValueError when the code holds something the document cannot describe."""
    catalog = catalog if catalog is not None else SchemaCatalog.load()
    specs = topology(env)
    ledger = ops_settings(DlqSettings, env).replays_topic
    strategy = _STRATEGY_CLASSES[registry_settings(env).subject_name_strategy]
    topics = _topics(specs, ledger, catalog)
    dead: dict[str, list[str]] = {}
    for spec in specs:
        for name in spec.input_topics:
            dead.setdefault(spec.dlq_topic(name), [])
            if name not in dead[spec.dlq_topic(name)]:
                dead[spec.dlq_topic(name)].append(name)
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    server: dict[str, Any] = {
        "host": bootstrap or "{bootstrap}",
        "protocol": "kafka",
        "description": "The Kafka cluster (KAFKA_BOOTSTRAP_SERVERS; KAFKA_* settings for TLS and SASL), with a "
        "Confluent-compatible Schema Registry (SCHEMA_REGISTRY_URL).",
        "bindings": _kafka({"schemaRegistryVendor": "confluent"}),
    }
    if not bootstrap:
        server["variables"] = {
            "bootstrap": {
                "description": "KAFKA_BOOTSTRAP_SERVERS: host:port[,host:port...]",
                "examples": ["localhost:9092"],
            }
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "cesce-workers",
            "version": _version(),
            "description": "Every Kafka topic the cesce-workers read and write: ERP changes in, results and state out, "
            "dead letters, and the replay ledger. Generated by `cesce-worker asyncapi` from the workers' own "
            "specs and the Avro schemas of `schemas/`; see docs/operations.md.",
        },
        "defaultContentType": _AVRO_CONTENT,
        "servers": {"kafka": server},
        "channels": {name: _channel(found, catalog, strategy, dead) for name, found in topics.items()},
        "operations": _operations(topics, specs),
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as the repository keeps it: JSON, two-space indent, non-ASCII kept, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _fail(message: str) -> int:
    print(f"cesce-worker asyncapi: {message}", file=sys.stderr)
    return 2


def asyncapi_command(args: argparse.Namespace) -> int:
    try:
        text = render(asyncapi_document(dict(os.environ)))
    except ValidationError as exc:
        return _fail(f"configuration error: {configuration_errors(exc)}")
    except (CatalogError, ValueError) as exc:
        return _fail(str(exc))
    output: Path | None = args.output
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    print(f"cesce-worker asyncapi: wrote {output}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "asyncapi",
        help="write an AsyncAPI 3 document of every topic the workers read and write",
        description=(
            "Write an AsyncAPI 3.0.0 document (JSON) of every Kafka topic the workers read and write: channels with "
            "their keys, Avro schemas and headers, dead-letter topics, the replay ledger, and which worker sends "
            "or receives what. Topic names follow the same variables as cesce-worker run (INVOICES_TOPIC, ...); "
            "KAFKA_BOOTSTRAP_SERVERS names the server when set. The repository keeps the default one in "
            "docs/asyncapi.json."
        ),
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="write it here instead of to stdout")
    parser.set_defaults(handler=asyncapi_command)
