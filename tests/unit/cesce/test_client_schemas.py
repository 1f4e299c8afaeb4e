"""The Sales models against Cesce's own JSON Schemas (seed 002), read from the document itself.

Every request body the client builds is validated with `jsonschema` (``additionalProperties:
false`` catches a stray field), and each model's fields and required fields are compared with the
schema's, so a field added on one side only fails here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from tests.unit.cesce.fakes import (
    CONTRACT,
    SALE,
    SALE_DECLARED,
    SALE_MODIFIED,
    FakeCesce,
    answer,
    cesce_error,
    make_settings,
    sale_row,
)
from workers.cesce.client import CesceClient
from workers.cesce.models.sales import (
    Sale,
    SaleChanges,
    SaleDeclaration,
    SaleDeclared,
    SaleListItem,
    SaleModified,
    SaleRef,
    Subsidiary,
)

# The seed 002 schemas, extracted verbatim (tests/integration/test_sandbox_openapi.py proves it).
CONTRACT_DIR = Path(__file__).resolve().parents[3] / "workers" / "sandbox" / "contract"


def _documents() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(CONTRACT_DIR.glob("*.json"))]


def _inner_title(schema: Mapping[str, Any]) -> str:
    """The title of the part that tells the schemas apart (generalData, sale, result or its items)."""
    properties = schema.get("properties", {})
    for key in ("generalData", "sale", "result"):
        part = properties.get(key)
        if part:
            return str(part.get("title") or part.get("items", {}).get("title"))
    return "error"


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for schema in _documents():
        found.setdefault(_inner_title(schema), schema)
    return found


def test_the_document_holds_every_sales_schema(schemas: dict[str, dict[str, Any]]) -> None:
    assert {
        "GeneralDataRequest",
        "GeneralDataResponse",
        "GeneralDataGetResponse",
        "ResultListSalesResponse",
        "ResultListSubsidiariesResponse",
        "SaleRequest",
        "ResultResponse",
    } <= set(schemas)


def _part(schema: Mapping[str, Any], title: str) -> Mapping[str, Any]:
    for part in schema["properties"].values():
        if part.get("title") == title:
            return part  # type: ignore[no-any-return]
        if part.get("items", {}).get("title") == title:
            return part["items"]  # type: ignore[no-any-return]
    raise KeyError(title)


# 000 line 29: an extension "genera una nueva venta prorrogada con ... un nuevo campo maturityAmount": a field of the
# sale as read back that the 002 schemas predate (assumptions "sale-extension")
EXTENDED_SALE_FIELDS = {"maturityAmount"}


@pytest.mark.parametrize(
    ("model", "title", "schema_key"),
    [
        (SaleDeclaration, "GeneralDataRequest", "GeneralDataRequest"),
        (SaleRef, "SaleRequest", "SaleRequest"),
        (SaleChanges, "NewDataRequest", "SaleRequest"),
        (SaleDeclared, "GeneralDataResponse", "GeneralDataResponse"),
        (Sale, "GeneralDataGetResponse", "GeneralDataGetResponse"),
        (SaleListItem, "ResultListSalesResponse", "ResultListSalesResponse"),
        (SaleModified, "ResultResponse", "ResultResponse"),
        (Subsidiary, "ResultListSubsidiariesResponse", "ResultListSubsidiariesResponse"),
    ],
)
def test_each_model_has_exactly_the_schema_fields(
    schemas: dict[str, dict[str, Any]], model: type[BaseModel], title: str, schema_key: str
) -> None:
    part = _part(schemas[schema_key], title)
    added = EXTENDED_SALE_FIELDS if model in (Sale, SaleListItem) else set()

    assert set(model.model_fields) == set(part["properties"]) | added
    assert {name for name, field in model.model_fields.items() if field.is_required()} == set(part.get("required", []))


DECLARATIONS = [
    SaleDeclaration(
        endorsementNo="489147",
        invoiceNo="afs4af978as4",
        invoiceDate=date(2020, 4, 17),
        maturityDate=date(2020, 6, 17),
        currencyAmount=Decimal("123456789012345.15"),
    ),
    SaleDeclaration(
        subsidiaryNo="1",
        customerReference="CLIENT-194",
        invoiceNo="F-2026-0001",
        invoiceDate=date(2026, 1, 10),
        acquisitionDate=date(2026, 1, 12),
        maturityDate=date(2026, 3, 10),
        currencyAmount=Decimal("-250.00"),
        currencyCode="EUR",
        taxCodeTransferor="B96578323",
    ),
]
MODIFICATIONS = [
    (
        SaleRef.by_reference("202222222222"),
        SaleChanges(
            customerReference="Ref/2/00002",
            invoiceNo="f20/22222",
            invoiceDate=date(2020, 2, 2),
            acquisitionDate=date(2020, 2, 2),
            maturityDate=date(2020, 4, 2),
            currencyAmount=Decimal("12345.99"),
            currencyCode="EUR",
            taxCodeTransferor="B96578323",
        ),
    ),
    (SaleRef.by_invoice("f19/11111111", date(2020, 2, 2)), SaleChanges(endorsementNo="2")),
]


@pytest.fixture
async def sent() -> FakeCesce:
    """Every sales request the client builds, answered with the documented shapes."""
    fake = FakeCesce()
    base = f"/sales/v1/contracts/{CONTRACT}"
    fake.route("POST", f"{base}/sales", answer(201, generalData=SALE_DECLARED))
    fake.route("POST", f"{base}/sale", answer(result=SALE_MODIFIED))
    async with CesceClient(make_settings(), transport=fake.transport) as client:
        for declaration in DECLARATIONS:
            await client.sales.declare(CONTRACT, declaration)
        for ref, changes in MODIFICATIONS:
            await client.sales.modify(CONTRACT, ref, changes)
    return fake


async def test_every_request_body_matches_its_schema(schemas: dict[str, dict[str, Any]], sent: FakeCesce) -> None:
    bodies = sent.bodies()

    assert len(bodies) == len(DECLARATIONS) + len(MODIFICATIONS)
    for body in bodies:
        schema = schemas["GeneralDataRequest" if "generalData" in body else "SaleRequest"]
        jsonschema.validate(body, schema)


def test_the_schemas_refuse_a_stray_field(schemas: dict[str, dict[str, Any]]) -> None:
    body = {"client": {"languageCode": "ES"}, "generalData": DECLARATIONS[0].to_wire() | {"nonPaymentInd": "N"}}

    with pytest.raises(jsonschema.ValidationError, match="nonPaymentInd"):
        jsonschema.validate(body, schemas["GeneralDataRequest"])


@pytest.mark.parametrize(
    ("schema_key", "body", "model", "section"),
    [
        ("GeneralDataResponse", answer(generalData=SALE_DECLARED), SaleDeclared, "generalData"),
        ("GeneralDataGetResponse", answer(generalData=SALE), Sale, "generalData"),
        ("ResultResponse", answer(result=SALE_MODIFIED), SaleModified, "result"),
    ],
)
def test_the_answers_the_tests_use_are_documented_ones(
    schemas: dict[str, dict[str, Any]], schema_key: str, body: Any, model: type[BaseModel], section: str
) -> None:
    payload = body.json()

    jsonschema.validate(payload, schemas[schema_key])
    assert model.model_validate(payload[section]).model_dump(mode="json", exclude_none=True) == payload[section]


def test_list_answers_are_documented_ones(schemas: dict[str, dict[str, Any]]) -> None:
    sales = answer(paginationData={"initialValue": "2"}, result=[sale_row("1"), sale_row("2")]).json()
    subsidiaries = answer(paginationData={"initialValue": ""}, result=[{"subsidiaryNo": "0", "subsidiaryName": "X"}])

    jsonschema.validate(sales, schemas["ResultListSalesResponse"])
    jsonschema.validate(subsidiaries.json(), schemas["ResultListSubsidiariesResponse"])


def test_error_answers_are_documented_ones(schemas: dict[str, dict[str, Any]]) -> None:
    jsonschema.validate(cesce_error(400, "2", "SOME DATA IS MANDATORY TO IDENTIFY THE LIMIT").json(), schemas["error"])
