"""`cesce-worker reconcile sales --contract C --month YYYYMM`: the month-end books check.

Reads Cesce's sales list for the contract and month (``invoiceYearMonth``, every page through
``initialValue``), our ``SALE_RESULTS_TOPIC`` (default ``cesce.sale-results``) and the invoices
worker's dead letters (``<INVOICES_TOPIC><WORKER_DLQ_SUFFIX>``, default ``erp.invoices.dlq``, with the replay ledger
``DLQ_REPLAYS_TOPIC`` saying which were replayed), and prints them side by side
(`workers.ops.reconcile_sales`): declared here but missing at Cesce, at Cesce but never declared by us,
amounts or dates that differ, dead letters of the month still unresolved. ``--json`` prints one JSON
document instead of the tables.

Topics are read without a consumer group, read_committed, from the beginning to their end offsets at
the start, within ``--timeout`` seconds (default 30); Avro values are decoded through the Schema
Registry (``SCHEMA_REGISTRY_*``). Cesce is reached with the workers' ``CESCE_*`` settings.

"The month" is the invoice date's month at both sides (assumption "reconcile-sales").

Exit status: 0 the books agree; 1 they differ; 2 bad input (a malformed month, a contract that is not
11 digits), a configuration error, or Cesce, Kafka or the registry unreachable: one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from confluent_kafka import KafkaException
from pydantic import ValidationError

from workers.argtypes import add_schemas_dir, positive
from workers.cesce import CesceClient, CesceError, CesceSettings
from workers.cesce.models.sales import SaleListItem
from workers.invoices import InvoicesTopics
from workers.invoices.spec import ROW_SCHEMA
from workers.ops.dlq_read import DeadLetterRecord, read_ledger, read_records
from workers.ops.kafka_options import add_kafka_options
from workers.ops.reconcile_sales import (
    CesceSale,
    DeadLetterSale,
    OurSale,
    Reconciliation,
    compare,
    contract_problem,
    fold_results,
    handled_order,
    in_month,
    month_problem,
    table_lines,
)
from workers.ops.settings import DlqSettings, ops_settings
from workers.runtime import dlq
from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR
from workers.runtime.envelope import Envelope, EnvelopeDecoder
from workers.runtime.errors import CatalogError, RegistryMismatch, RegistryUnavailable
from workers.runtime.kafka_config import librdkafka_config, redacted
from workers.runtime.registry import registry_from_env
from workers.runtime.serde import AvroReader, DeserializationError, dumps_exact
from workers.runtime.settings import DeadLetterSettings
from workers.settings import from_env

__all__ = ["read_books", "register", "sales_command"]

_NAME: Final = "cesce-worker reconcile sales"


class _Unavailable(Exception):
    """Bad input, a configuration error, or a side that could not be read: exit status 2, this one line."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reconcile`` with its subcommand ``sales``."""
    reconcile = commands.add_parser(
        "reconcile",
        help="month-end books check: our declared sales against Cesce's",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = reconcile.add_subparsers(dest="reconcile_command", required=True, metavar="WHAT")
    sales = kinds.add_parser(
        "sales",
        help="the sales of one contract and month, side by side",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sales.add_argument("--contract", required=True, metavar="C", help="the policy (contractNo, 11 digits)")
    sales.add_argument("--month", required=True, metavar="YYYYMM", help="the invoices' month, e.g. 203001")
    sales.add_argument("--json", action="store_true", help="one JSON document for scripts instead of tables")
    sales.add_argument(
        "--timeout", type=positive, default=30.0, metavar="S", help="give up reading a topic after S seconds"
    )
    add_schemas_dir(sales)
    add_kafka_options(sales, unreachable_status=2)  # exit 2: a side that cannot be read
    sales.set_defaults(handler=sales_command)


def sales_command(args: argparse.Namespace) -> int:
    try:
        for problem in (contract_problem(args.contract), month_problem(args.month)):
            if problem is not None:
                raise _Unavailable(problem)
        books = read_books(args.contract, args.month, os.environ, timeout=args.timeout, schemas_dir=args.schemas_dir)
    except _Unavailable as exc:
        print(f"{_NAME}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(dumps_exact(books.to_json()))
    else:
        for line in table_lines(books):
            print(line)
    return books.exit_status


def read_books(
    contract: str, month: str, env: Mapping[str, str], *, timeout: float, schemas_dir: Sequence[Any] = ()
) -> Reconciliation:
    """Both sides and the dead letters of `contract` and `month`, compared; `_Unavailable` if a side can't be read."""
    settings = librdkafka_config(env)
    if "bootstrap.servers" not in settings:
        raise _Unavailable("set KAFKA_BOOTSTRAP_SERVERS")
    try:
        topics = from_env(InvoicesTopics, env)
        ledger_topic = ops_settings(DlqSettings, env).replays_topic
        dlq_suffix = from_env(DeadLetterSettings, env).dlq_suffix  # the invoices worker's, WORKER_DLQ_SUFFIX
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _Unavailable(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from None
    try:
        cesce_settings = CesceSettings.from_env(env, scope="read")  # the sales list only
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _Unavailable(f"CESCE_{str(error['loc'][0]).upper()}: {error['msg']}") from None
    with ExitStack() as stack:
        try:
            registry = stack.enter_context(registry_from_env(env, [DEFAULT_SCHEMAS_DIR, *schemas_dir]))
        except (CatalogError, RegistryMismatch, ValueError) as exc:
            raise _Unavailable(str(exc)) from None
        try:
            reader = AvroReader(registry)
            ours = _our_sales(settings, topics.results, reader, contract=contract, month=month, timeout=timeout)
            dlq_topic = topics.input + dlq_suffix
            letters, unreadable = _dead_letters(
                settings,
                dlq_topic,
                ledger_topic,
                EnvelopeDecoder(registry, ROW_SCHEMA),
                contract=contract,
                month=month,
                timeout=timeout,
            )
        except KafkaException as exc:
            cause = exc.args[0] if exc.args else exc
            text = cause.str() if hasattr(cause, "str") else str(cause)
            for key, shown in redacted(settings).items():  # librdkafka may quote a secret setting it refused
                if shown == "***" and settings[key]:
                    text = text.replace(settings[key], "***")
            raise _Unavailable(f"Kafka: {text}") from None
        except RegistryUnavailable as exc:
            raise _Unavailable(f"the schema registry did not answer: {exc}") from None
    cesce = asyncio.run(_cesce_sales(cesce_settings, contract, month))
    return compare(contract, month, ours, cesce, dead_letters=letters, unreadable_dead_letters=unreadable)


def _read(settings: Mapping[str, str], topic: str, timeout: float) -> list[DeadLetterRecord]:
    read = read_records(settings, topic, timeout=timeout)
    if not read.complete:
        raise _Unavailable(f"Kafka: {topic} was not read to its end within {timeout:g} s")
    return read.records


def _our_sales(
    settings: Mapping[str, str], topic: str, reader: AvroReader, *, contract: str, month: str, timeout: float
) -> list[OurSale]:
    """The results folded by duplicate key (every month: a modification may move a sale out of one), then narrowed."""
    found: list[tuple[tuple[float, int, int], OurSale]] = []
    for record in _read(settings, topic, timeout):
        if record.value is None:
            continue
        try:
            result = reader.decode(record.value, topic).value
        except DeserializationError as exc:
            print(f"{_NAME}: {record.ref}: not a sale result, ignored ({exc})", file=sys.stderr)
            continue
        order = handled_order(result.get("handledAt"), record.partition, record.offset)
        found.append((order, OurSale.from_result(result, record.ref)))
    declared = fold_results(sale for _, sale in sorted(found, key=lambda item: item[0]))
    return [s for s in declared if s.contract_no == contract and in_month(s.invoice_date, month)]


def _dead_letters(
    settings: Mapping[str, str],
    dlq_topic: str,
    ledger_topic: str,
    decoder: EnvelopeDecoder,
    *,
    contract: str,
    month: str,
    timeout: float,
) -> tuple[list[DeadLetterSale], list[str]]:
    """The dead letters of `contract` and `month` the ledger has not replayed; the refs of unreadable ones."""
    records = _read(settings, dlq_topic, timeout)
    ledger = read_ledger(settings, ledger_topic, dlq_topic, timeout=timeout)
    if ledger is None:
        raise _Unavailable(f"Kafka: the replay ledger {ledger_topic} was not read to its end within {timeout:g} s")
    letters: list[DeadLetterSale] = []
    unreadable: list[str] = []
    for record in records:
        if record.ref in ledger.entries:
            continue  # replayed: its new attempt has its own result or dead letter
        row = _row_of(record, decoder)
        if row is None:
            unreadable.append(record.ref)
            continue
        invoice_date = row.get("invoiceDate")
        if row.get("contractNo") != contract or not isinstance(invoice_date, date):
            continue
        if not in_month(invoice_date, month):
            continue
        letters.append(_dead_letter_sale(record, row, invoice_date))
    return letters, unreadable


def _row_of(record: DeadLetterRecord, decoder: EnvelopeDecoder) -> Mapping[str, Any] | None:
    """The invoice row a dead letter carries (after the change, or before it for a delete); None if unreadable."""
    try:
        change = decoder.decode(record.value, record.original_topic or record.topic)
    except (DeserializationError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(change, Envelope):
        return None
    return change.after or change.before


def _dead_letter_sale(record: DeadLetterRecord, row: Mapping[str, Any], invoice_date: date) -> DeadLetterSale:
    try:
        amount = None if row.get("amount") is None else Decimal(row["amount"])
    except (InvalidOperation, TypeError):
        amount = None
    debtor = row.get("endorsementNo") or row.get("customerReference")
    return DeadLetterSale(
        ref=record.ref,
        invoice_no=None if row.get("invoiceNo") is None else str(row["invoiceNo"]),
        invoice_date=invoice_date,
        debtor=None if debtor is None else str(debtor),
        amount=amount,
        category=record.header(dlq.CATEGORY),
        code=record.header(dlq.ERROR_CODE),
        description=record.header(dlq.ERROR_DESCRIPTION),
    )


def _cesce_sale(item: SaleListItem) -> CesceSale:
    return CesceSale(
        invoice_no=item.invoiceNo or "",
        invoice_date=item.invoiceDate,
        maturity_date=item.maturityDate,
        amount=item.currencyAmount,
        currency_code=item.currencyCode,
        endorsement_no=item.endorsementNo,
        customer_reference=item.customerReference,
        sale_cesce_reference_no=item.saleCesceReferenceNo,
        status_code=item.statusCode,
    )


async def _cesce_sales(settings: CesceSettings, contract: str, month: str) -> list[CesceSale]:
    """Cesce's sales list for the month, every page; an extension (maturityAmount) is Cesce's own sale, left out."""
    try:
        async with CesceClient(settings) as cesce:
            items = [item async for item in cesce.sales.list(contract, invoice_year_month=month)]
    except CesceError as exc:
        raise _Unavailable(f"Cesce: {exc}") from None
    return [_cesce_sale(i) for i in items if i.maturityAmount is None and in_month(i.invoiceDate, month)]
