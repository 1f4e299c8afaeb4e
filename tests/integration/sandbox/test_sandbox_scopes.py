"""Item: the sandbox enforces the token's scope per operation, with 000's 401 "security checks" answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import RawCesce, fetch_token
from workers.cesce import catalogue as cat
from workers.sandbox import RunningSandbox
from workers.sandbox.admin_client import shared_tls_context

pytestmark = pytest.mark.integration

ORO = "34109150331"
SECURITY = (401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS)
CLASSIFICATIONS = f"/classifications/v1/contracts/{ORO}/classifications"


@pytest.fixture
def as_scope(sandbox: RunningSandbox) -> Iterator[Any]:
    clients: list[RawCesce] = []

    def connect(scope: str) -> RawCesce:
        token = fetch_token(sandbox.base_url, scope=scope)
        assert token["scope"] == scope
        clients.append(RawCesce(sandbox.base_url, token["access_token"]))
        return clients[-1]

    yield connect
    for client in clients:
        client.close()


def test_a_read_token_reads_and_writes_nothing(as_scope: Any, sandbox: RunningSandbox) -> None:
    """000 line 84: "Cannot pass the security checks that are required by the target API or operation, Enable
    debug headers for more details."; 003 line 43: "scope: The required scope/s to invoke the operation"."""
    reader = as_scope("read")
    assert reader.get(f"/sales/v1/contracts/{ORO}/subsidiaries").status_code == 200
    assert reader.get(CLASSIFICATIONS, endorsementNo="1").status_code == 200
    assert reader.get(f"/classifications/v1/contracts/{ORO}/movements").status_code == 200
    assert reader.error_of(reader.sale()) == SECURITY
    assert reader.error_of(reader.classify(countryCode="ES", taxCode="B99999999")) == SECURITY
    assert reader.error_of(reader.post(f"{CLASSIFICATIONS}/cancel", generalData={"endorsementNo": "1"})) == SECURITY
    assert sandbox.admin().ledger()["sales"] == []  # refused before anything was recorded


def test_each_write_needs_its_own_scope(as_scope: Any) -> None:
    """002 line 18: "create, read, update, delete are valid values"; which write needs which is assumption
    operation-scopes: a sale and a limit request need create, a modification update, an annulment delete."""
    creator = as_scope("create")
    declared = creator.sale()
    assert declared.status_code == 201
    assert creator.classify(countryCode="ES", taxCode="B99999999").status_code == 201
    assert creator.error_of(creator.get(f"/sales/v1/contracts/{ORO}/subsidiaries")) == SECURITY
    reference = declared.json()["generalData"]["saleCesceReferenceNo"]
    modification = {"sale": {"saleCesceReferenceNo": reference}, "newData": {"currencyAmount": "900,00"}}
    assert creator.error_of(creator.post(f"/sales/v1/contracts/{ORO}/sale", **modification)) == SECURITY
    assert creator.error_of(creator.post(f"{CLASSIFICATIONS}/cancel", generalData={"endorsementNo": "1"})) == SECURITY
    updater = as_scope("update")
    modified = updater.post(f"/sales/v1/contracts/{ORO}/sale", **modification)
    assert modified.status_code == 200, modified.text
    assert updater.error_of(updater.post(f"{CLASSIFICATIONS}/cancel", generalData={"endorsementNo": "1"})) == SECURITY
    deleter = as_scope("delete")
    assert deleter.post(f"{CLASSIFICATIONS}/cancel", generalData={"endorsementNo": "1"}).status_code == 200


def test_a_token_asked_without_scope_may_do_everything(sandbox: RunningSandbox) -> None:
    """001 line 132: the guide's example answer carries "scope": "create read update delete"."""
    form = {"grant_type": "password", "client_id": "any", "client_secret": "any"}
    token = httpx.post(f"{sandbox.base_url}/oauth2/v1/token", data=form, verify=shared_tls_context()).json()
    assert set(token["scope"].split()) == set(cat.SCOPES)
    client = RawCesce(sandbox.base_url, token["access_token"], client_id="any")
    try:
        assert client.get(f"/sales/v1/contracts/{ORO}/subsidiaries").status_code == 200
        assert client.sale().status_code == 201
    finally:
        client.close()


def test_a_missing_or_bad_token_keeps_its_own_answers(as_scope: Any, sandbox: RunningSandbox) -> None:
    """000 line 80: "Cannot find valid subscription for the incoming API request." - a call without a subscribed
    X-IBM-Client-Id keeps that answer (it comes before the token and its scope)."""
    reader = as_scope("read")
    reader.http.headers["X-IBM-Client-Id"] = ""
    assert reader.error_of(reader.sale()) == (401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SUBSCRIPTION)
