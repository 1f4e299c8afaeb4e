"""The credit-request records grew the operations' fields backward compatibly: what was written before decodes."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from workers.ops.avro_compatibility import AvroSchema, incompatibilities
from workers.runtime.catalog import SchemaCatalog

NEW_FIELDS = {"limitAction", "premiumDecision", "action", "premiumDecisionNeeded", "premiumAmount"}
NEW_OUTCOMES = {"DEACTIVATED", "REACTIVATED", "PREMIUM_ACCEPTED", "PREMIUM_DENIED"}
RECORDS = (
    "cesce.erp.CreditRequest",
    "cesce.erp.CreditRequestEnvelope",
    "cesce.state.SentCreditRequest",
    "cesce.results.ClassificationResult",
)


def before_the_operations(schema: Any) -> Any:
    """The schema as it was: the new fields and outcome symbols taken out, wherever they are."""
    if isinstance(schema, list):
        return [before_the_operations(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    old = {key: before_the_operations(value) for key, value in schema.items()}
    if schema.get("type") == "record":
        old["fields"] = [before_the_operations(f) for f in schema["fields"] if f["name"] not in NEW_FIELDS]
    if schema.get("type") == "enum":
        old["symbols"] = [s for s in schema["symbols"] if s not in NEW_OUTCOMES]
    return old


@pytest.mark.parametrize("name", RECORDS)
def test_the_new_schema_reads_what_the_old_one_wrote(name: str) -> None:
    """BACKWARD, the registry's default level (docs/operations.md): `cesce-worker schemas check` accepts it."""
    declared = json.loads(SchemaCatalog.load().schema_str(name))
    old = before_the_operations(declared)
    assert old != declared, "the operations' fields are not in the schema"
    problems = incompatibilities(AvroSchema.parse(json.dumps(declared)), AvroSchema.parse(json.dumps(old)))
    assert problems == []


def test_a_row_written_before_the_operations_decodes_without_any() -> None:
    declared = SchemaCatalog.load().by_name("cesce.erp.CreditRequest")
    old = fastavro.parse_schema(before_the_operations(declared))
    written = {
        "requestId": "SOL-1",
        "contractNo": "34109150331",
        "requestDate": date(2026, 11, 20),
        "creditLimitRequested": Decimal("50000.00"),
        "nonPaymentInd": "N",
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, old, written)
    buffer.seek(0)
    row = fastavro.schemaless_reader(buffer, old, fastavro.parse_schema(declared))
    assert isinstance(row, dict)
    assert (row["limitAction"], row["premiumDecision"]) == (None, None)
    assert row["creditLimitRequested"] == Decimal("50000.00")
