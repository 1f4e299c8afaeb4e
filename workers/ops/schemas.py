"""`cesce-worker schemas list | register | check`: the Avro subjects the workers write, before a deploy.

Every topic a worker writes (results, state topics) carries one record of ``schemas/``; its subject follows
``SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY`` (``<topic>-value`` by default) for the topics configured by the
same variables the workers read (``SALE_RESULTS_TOPIC``, ...). The ERP rows and their change envelopes are
not listed: Debezium writes them, and registers them under its own converter's settings.

- ``list``: each subject, its record and topics; the registry is not called.
- ``register``: registers each schema under its subject (idempotent: an identical schema keeps its id).
- ``check``: asks the registry whether each schema is compatible with its subject's latest version, under
  the subject's compatibility level; a subject that does not exist yet is compatible.

``--worker`` narrows to some workers (default: all of them; the risk poller only when ``RISK_CONTRACTS`` is
set, the sales follow-up only when ``SALES_FOLLOWUP_CONTRACTS`` is, since each runs only then). One line per
subject, or one JSON document with ``--json``. Exit status: 0; 1 when a schema is incompatible or refused (each
named, with the registry's reasons); 2 a usage or configuration error, a ``mock://`` registry (private to each
process) or a registry that does not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from pydantic import ValidationError

from workers.credit_requests.spec import CreditRequestsTopics
from workers.invoices.spec import InvoicesTopics
from workers.non_payments.spec import NonPaymentsTopics
from workers.ops.run_command import configuration_errors, secret_values
from workers.risk.spec import RiskTopics
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.errors import CatalogError, RegistryUnavailable
from workers.runtime.registry import is_mock_registry, registry_from_env, registry_url, settings_of
from workers.sales_followup.spec import SalesFollowupTopics
from workers.settings import from_env

__all__ = [
    "WRITTEN",
    "Status",
    "Subject",
    "check_subjects",
    "register",
    "register_subjects",
    "registry_compatibility",
    "schemas_command",
    "written_subjects",
]

_NOT_FOUND: Final = frozenset({40401, 40402})  # subject, version: nothing to be compatible with yet

WRITTEN: Final[dict[str, Callable[[Mapping[str, str]], Mapping[str, str]]]] = {
    "invoices": lambda env: from_env(InvoicesTopics, env).schemas,
    "credit-requests": lambda env: from_env(CreditRequestsTopics, env).schemas,
    "non-payments": lambda env: from_env(NonPaymentsTopics, env).schemas,
    "risk-poller": lambda env: from_env(RiskTopics, env).schemas,
    "sales-followup": lambda env: from_env(SalesFollowupTopics, env).schemas,
}
"""Each worker -> (its environment -> topic -> the record it writes there), as `cesce-worker run` configures it."""


class Status(StrEnum):
    """What `register` or `check` found for one subject."""

    REGISTERED = "registered"
    """`register`: the schema is now a version of the subject."""
    UNCHANGED = "unchanged"
    """`register`: the subject already held this schema."""
    COMPATIBLE = "compatible"
    """`check`: registering it would be accepted under the subject's compatibility level."""
    NEW = "new"
    """`check`: the subject does not exist yet, so anything is compatible."""
    INCOMPATIBLE = "incompatible"
    """`check`: the registry would refuse it; the messages say why."""
    REFUSED = "refused"
    """`register`: the registry refused it (incompatible, invalid, not allowed)."""

    @property
    def failed(self) -> bool:
        return self in (Status.INCOMPATIBLE, Status.REFUSED)


@dataclass(frozen=True)
class Subject:
    """One subject the workers write: its record, the topics it is written to, and what the registry said."""

    subject: str
    record: str
    topics: tuple[str, ...]
    file: str
    status: Status | None = None
    schema_id: int | None = None
    messages: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        found = {"status": self.status, "id": self.schema_id, "messages": list(self.messages)}
        listed = {"subject": self.subject, "record": self.record, "topics": list(self.topics), "file": self.file}
        return listed | {key: value for key, value in found.items() if value not in (None, [])}


def written_subjects(written: Mapping[str, str], client: SchemaRegistryClient, catalog: SchemaCatalog) -> list[Subject]:
    """The subjects of `written` (topic -> record) under `client`'s strategy, in topic order; a subject shared
    by several topics (``record`` strategy) once, with all of them."""
    strategy = settings_of(client).subject_name_strategy
    topics: dict[tuple[str, str], list[str]] = {}
    for topic, record in sorted(written.items()):
        topics.setdefault((strategy.subject(topic, record), record), []).append(topic)
    return [
        Subject(subject, record, tuple(names), str(catalog.path(record))) for (subject, record), names in topics.items()
    ]


def register_subjects(
    client: SchemaRegistryClient, subjects: Sequence[Subject], catalog: SchemaCatalog
) -> list[Subject]:
    """Register each subject's schema (looked up first, so an identical schema is `UNCHANGED`)."""
    done = []
    for subject in subjects:
        schema = Schema(catalog.schema_str(subject.record), schema_type="AVRO")
        try:
            done.append(_register_one(client, subject, schema))
        except SchemaRegistryError as exc:
            _raise_if_down(exc)
            done.append(
                replace(subject, status=Status.REFUSED, messages=(f"HTTP {exc.http_status_code}: {exc.error_message}",))
            )
        except Exception as exc:  # connection, timeout, TLS
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return done


def _register_one(client: SchemaRegistryClient, subject: Subject, schema: Schema) -> Subject:
    try:
        found = client.lookup_schema(subject.subject, schema)
    except SchemaRegistryError as exc:
        if exc.http_status_code != 404:
            raise
    else:
        return replace(subject, status=Status.UNCHANGED, schema_id=int(found.schema_id or 0))
    return replace(subject, status=Status.REGISTERED, schema_id=int(client.register_schema(subject.subject, schema)))


Compatibility = Callable[[str, Schema], tuple[bool, list[str]]]
"""(subject, schema) -> (compatible, the registry's messages); SchemaRegistryError as the registry answers."""


def registry_compatibility(client: SchemaRegistryClient) -> Compatibility:
    """``POST /compatibility/subjects/{subject}/versions/latest?verbose=true`` through `client`'s REST client (its
    authentication, TLS and retries); confluent-kafka's own `test_compatibility` drops the registry's messages."""

    def compatible(subject: str, schema: Schema) -> tuple[bool, list[str]]:
        path = f"compatibility/subjects/{quote(subject, safe='')}/versions/latest?verbose=true"
        answer = client._rest_client.post(path, body=schema.to_dict())
        return bool(answer.get("is_compatible")), [str(message) for message in answer.get("messages") or []]

    return compatible


def check_subjects(compatible: Compatibility, subjects: Sequence[Subject], catalog: SchemaCatalog) -> list[Subject]:
    """Each subject's schema against the subject's latest version, under its compatibility level."""
    checked = []
    for subject in subjects:
        schema = Schema(catalog.schema_str(subject.record), schema_type="AVRO")
        try:
            ok, messages = compatible(subject.subject, schema)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 and exc.error_code in _NOT_FOUND:
                checked.append(replace(subject, status=Status.NEW))
                continue
            _raise_if_down(exc)
            ok, messages = False, [f"HTTP {exc.http_status_code}: {exc.error_message}"]
        except Exception as exc:  # connection, timeout, TLS
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from exc
        checked.append(
            replace(subject, status=Status.COMPATIBLE if ok else Status.INCOMPATIBLE, messages=tuple(messages))
        )
    return checked


def _raise_if_down(exc: SchemaRegistryError) -> None:
    if not 400 <= exc.http_status_code < 500:  # 5xx, or -1 for an answer that is not the registry's JSON
        raise RegistryUnavailable(f"HTTP {exc.http_status_code}: {exc.error_message}") from exc


# --- the command -------------------------------------------------------------------------------------


def _workers(chosen: Sequence[str] | None, env: Mapping[str, str]) -> list[str]:
    if chosen:
        return list(dict.fromkeys(chosen))
    needs = {"risk-poller": "RISK_CONTRACTS", "sales-followup": "SALES_FOLLOWUP_CONTRACTS"}  # run only with contracts
    return [name for name in WRITTEN if name not in needs or env.get(needs[name], "").strip()]


def _human(action: str, subjects: Sequence[Subject], client: SchemaRegistryClient) -> list[str]:
    strategy = settings_of(client).subject_name_strategy
    width = max((len(s.subject) for s in subjects), default=0)
    record_width = max((len(s.record) for s in subjects), default=0)
    lines = []
    for s in subjects:
        status = f"{s.status:<12} " if s.status is not None else ""
        schema_id = f"  id={s.schema_id}" if s.schema_id is not None else ""
        lines.append(f"{status}{s.subject:<{width}}  {s.record:<{record_width}}  {','.join(s.topics)}{schema_id}")
        lines.extend(f"    {message}" for message in s.messages)
    summary = f"{action}: {len(subjects)} subjects ({strategy} strategy)"
    if action != "list":
        failed = sum(1 for s in subjects if s.status is not None and s.status.failed)
        summary += f" at {registry_url(client)}, {failed} {'refused' if action == 'register' else 'incompatible'}"
    return [*lines, summary]


def _fail(action: str, message: str, secrets: Sequence[str]) -> int:
    for secret in secrets:
        message = message.replace(secret, "***")
    print(f"cesce-worker schemas {action}: {message}", file=sys.stderr)
    return 2


def schemas_command(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    action: str = args.action
    secrets = secret_values(env)
    try:
        client = registry_from_env(env)
        written: dict[str, str] = {}
        for worker in _workers(args.worker, env):
            written.update(WRITTEN[worker](env))
    except ValidationError as exc:
        return _fail(action, f"configuration error: {configuration_errors(exc)}", secrets)
    except ValueError as exc:  # the registry client refuses a SCHEMA_REGISTRY_* setting (names only, no values)
        return _fail(action, f"configuration error: {exc}", secrets)
    with client:
        return _act(args, client, written, secrets)


def _act(args: argparse.Namespace, client: SchemaRegistryClient, written: Mapping[str, str], secrets: list[str]) -> int:
    action: str = args.action
    if action != "list" and is_mock_registry(client):
        return _fail(
            action,
            f"SCHEMA_REGISTRY_URL is {registry_url(client)}, a registry private to each process: name a real one",
            secrets,
        )
    try:
        catalog = SchemaCatalog.load()
        subjects = written_subjects(written, client, catalog)
        if action == "register":
            subjects = register_subjects(client, subjects, catalog)
        elif action == "check":
            subjects = check_subjects(registry_compatibility(client), subjects, catalog)
    except CatalogError as exc:
        return _fail(action, str(exc), secrets)
    except RegistryUnavailable as exc:
        return _fail(action, f"the Schema Registry at {registry_url(client)} did not answer: {exc}", secrets)
    if args.json:
        document = {
            "registry": registry_url(client),
            "strategy": settings_of(client).subject_name_strategy,
            "subjects": [s.as_json() for s in subjects],
        }
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(_human(action, subjects, client)))
    return 1 if any(s.status is not None and s.status.failed for s in subjects) else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "schemas",
        help="list, register or check the Avro subjects the workers write (before a deploy)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["list", "register", "check"], help="what to do with each subject")
    parser.add_argument(
        "--worker", action="append", choices=list(WRITTEN), help="only this worker's subjects (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.set_defaults(handler=schemas_command)
