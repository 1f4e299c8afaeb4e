"""The sandbox's OpenAPI document: every Cesce path, the seed schemas for Sales, admin paths apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from workers.sandbox import RunningSandbox
from workers.sandbox.openapi import CONTRACT_FILES, schema

pytestmark = pytest.mark.integration

CESCE_PATHS = {
    "/oauth2/v1/token": {"post"},
    "/sales/v1/contracts/{contractNo}/sales": {"get", "post"},
    "/sales/v1/contracts/{contractNo}/sale": {"get", "post"},
    "/sales/v1/contracts/{contractNo}/subsidiaries": {"get"},
    "/classifications/v1/contracts/{contractNo}/classifications": {"get", "post"},
    "/classifications/v1/contracts/{contractNo}/classifications/cancel": {"post"},
    "/classifications/v1/contracts/{contractNo}/classifications/activate-deactivate": {"post"},
    "/classifications/v1/contracts/{contractNo}/classifications/accept-deny-premium": {"post"},
    "/classifications/v1/contracts/{contractNo}/portfolio": {"get"},
    "/classifications/v1/contracts/{contractNo}/movements": {"get"},
    "/claims/v1/contracts/{contractNo}/non-payment-declaration": {"post"},
    "/claims/v1/contracts/{contractNo}/claim-files": {"get"},
    "/claims/v1/contracts/{contractNo}/documents": {"get"},
    "/claims/v1/contracts/{contractNo}/settlements": {"get"},
}
ADMIN_PATHS = {
    "/sandbox-admin/ledger",
    "/sandbox-admin/stats",
    "/sandbox-admin/faults",
    "/sandbox-admin/clock",
    "/sandbox-admin/tokens/revoke",
    "/sandbox-admin/classifications/resolve",
    "/sandbox-admin/limits",
    "/sandbox-admin/sales/{reference}/status",
    "/sandbox-admin/sales/{reference}/retariff",
    "/sandbox-admin/sales/{reference}/collections",
    "/sandbox-admin/sales/{reference}/extension",
    "/sandbox-admin/contracts/{contract_no}/period",
    "/sandbox-admin/claims/{claim_file_no}/documents/{document_code}",
    "/sandbox-admin/claims/{claim_file_no}/settlements",
    "/sandbox-admin/reset",
}


@pytest.fixture
def document(sandbox: RunningSandbox) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.base_url}/openapi.json")
    assert response.status_code == 200
    loaded: dict[str, Any] = json.loads(response.text)
    return loaded


def test_the_document_is_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Cesce API sandbox"


def test_every_cesce_path_and_method_is_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, methods in CESCE_PATHS.items():
        assert path in paths, path
        assert set(paths[path]) == methods, path
        for operation in paths[path].values():
            assert operation["tags"] != ["Sandbox admin"]
            assert operation.get("summary")
    assert set(paths) == set(CESCE_PATHS) | ADMIN_PATHS


def test_admin_paths_are_under_their_own_tag(document: dict[str, Any]) -> None:
    for path in ADMIN_PATHS:
        for operation in document["paths"][path].values():
            assert operation["tags"] == ["Sandbox admin"]
    assert "Sandbox admin" in [tag["name"] for tag in document["tags"]]


def test_sales_bodies_are_the_seed_schemas(document: dict[str, Any]) -> None:
    sales = document["paths"]["/sales/v1/contracts/{contractNo}/sales"]
    sale = document["paths"]["/sales/v1/contracts/{contractNo}/sale"]

    def request_schema(operation: dict[str, Any]) -> Any:
        return operation["requestBody"]["content"]["application/json"]["schema"]

    def answer_schema(operation: dict[str, Any], status: str) -> Any:
        return operation["responses"][status]["content"]["application/json"]["schema"]

    assert request_schema(sales["post"]) == schema("sale_request")
    assert answer_schema(sales["post"], "201") == schema("sale_response")
    assert answer_schema(sales["get"], "200") == schema("sales_list_response")
    assert request_schema(sale["post"]) == schema("sale_modification_request")
    assert answer_schema(sale["post"], "200") == schema("sale_modification_response")
    assert answer_schema(sale["get"], "200") == schema("sale_get_response")
    subsidiaries = document["paths"]["/sales/v1/contracts/{contractNo}/subsidiaries"]["get"]
    assert answer_schema(subsidiaries, "200") == schema("subsidiaries_response")
    for status, name in (
        ("400", "error_400_bad_request"),
        ("401", "error_401_unauthorized"),
        ("429", "error_429_too_many_requests"),
    ):
        assert answer_schema(sales["post"], status) == schema(name)


def test_parameters_are_declared(document: dict[str, Any]) -> None:
    listing = document["paths"]["/sales/v1/contracts/{contractNo}/sales"]["get"]
    names = {(p["name"], p["in"]) for p in listing["parameters"]}
    assert ("contractNo", "path") in names
    assert {("languageCode", "query"), ("initialValue", "query"), ("recentMovementsInd", "query")} <= names


SEED = sorted((Path(__file__).resolve().parents[4] / "shared" / "seeds").glob("002_*.txt"))


@pytest.mark.skipif(not SEED, reason="the seed documents are not on this machine")
def test_contract_files_are_the_seed_schemas_verbatim() -> None:
    text = Path(SEED[0]).read_text(encoding="utf-8")
    definitions = text[text.index("Definitions\n") :]
    decoder = json.JSONDecoder()
    found, position = [], 0
    while (start := definitions.find("{", position)) >= 0:
        value, position = decoder.raw_decode(definitions, start)
        found.append(value)
    assert found == [schema(name) for name in CONTRACT_FILES]
