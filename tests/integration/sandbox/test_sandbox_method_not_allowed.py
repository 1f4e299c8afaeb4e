"""Item: a 405 names in Allow every method the path serves, in 002's error body."""

from __future__ import annotations

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from workers.cesce import catalogue as cat
from workers.sandbox import RunningSandbox
from workers.sandbox.admin_client import shared_tls_context
from workers.sandbox.openapi import schema

pytestmark = pytest.mark.integration

ORO = "34109150331"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", f"/sales/v1/contracts/{ORO}/sales", "GET, POST"),
        ("PUT", f"/sales/v1/contracts/{ORO}/sale", "GET, POST"),
        ("PATCH", f"/classifications/v1/contracts/{ORO}/classifications", "GET, POST"),
        ("GET", f"/classifications/v1/contracts/{ORO}/classifications/cancel", "POST"),
        ("POST", f"/classifications/v1/contracts/{ORO}/movements", "GET"),
        ("DELETE", f"/sales/v1/contracts/{ORO}/subsidiaries", "GET"),
    ],
)
def test_405_allows_every_method_of_the_path(sandbox: RunningSandbox, method: str, path: str, allowed: str) -> None:
    """002 lines 1026-1040: the "Method Not Allowed" answer, errorCode "25", errorDescription "Method Not
    Allowed"; its Allow header (HTTP) names every method the path serves, not only one of them."""
    response = httpx.request(method, sandbox.base_url + path, verify=shared_tls_context())
    assert response.status_code == 405
    assert response.json() == {"error": {"errorCode": "25", "errorDescription": cat.MSG_METHOD_NOT_ALLOWED}}
    jsonschema.validate(response.json(), schema("error_405_method_not_allowed"))
    assert response.headers["allow"] == allowed
