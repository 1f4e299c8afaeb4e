"""Item: scopes. The client asks for the scopes of its operations and refuses, before sending, one it lacks."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from tests.unit.cesce.fakes import CONTRACT, SALE, FakeCesce, answer, make_settings, no_network
from workers.cesce import catalogue as cat
from workers.cesce import classifications as client_classifications
from workers.cesce import sales as client_sales
from workers.cesce.assumptions import CLAIMS_PATHS, WRITE_SCOPES
from workers.cesce.client import CesceClient
from workers.cesce.config import CesceSettings, required_scope
from workers.cesce.errors import CesceAuthError
from workers.cesce.models import DebtorId
from workers.invoices.spec import SCOPE as INVOICES
from workers.non_payments.spec import SCOPE as NON_PAYMENTS


def test_the_documented_scopes() -> None:
    """001 lines 117-119: "scope: Indicar tantos scopes como sea necesario. Los posibles valores son: read,
    update, delete, create. Se pueden indicar varios al mismo tiempo, separándolos por espacios." """
    assert set(cat.SCOPES) == {"read", "update", "delete", "create"}
    assert set(WRITE_SCOPES.values()) <= set(cat.SCOPES)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/contracts/{contractNo}/sales", "read"),
        ("GET", "/contracts/{contractNo}/movements", "read"),
        ("POST", "/contracts/{contractNo}/sales", "create"),
        ("POST", "/contracts/{contractNo}/sale", "update"),
        ("POST", "/contracts/{contractNo}/classifications", "create"),
        ("POST", "/contracts/{contractNo}/classifications/cancel", "delete"),
        ("POST", "/contracts/{contractNo}/classifications/activate-deactivate", "update"),
        ("POST", "/contracts/{contractNo}/classifications/accept-deny-premium", "update"),
        ("POST", "/contracts/{contractNo}/non-payment-declaration", "create"),
    ],
)
def test_each_operation_needs_one_scope(method: str, path: str, scope: str) -> None:
    """002 line 18: "scope: The required scope/s to invoke the operation (create, read, update, delete are valid
    values)" - read for the reads; which write needs which is our choice (assumption operation-scopes)."""
    assert required_scope(method, path) == scope


def test_every_post_the_client_sends_has_a_scope_of_its_own() -> None:
    """003 lines 14-20 list the Classifications POSTs (create, activate-deactivate, cancel, accept-deny-premium);
    002 lines 2-4 the Sales POSTs (sale, modify sale): none may fall to a default."""
    posts = {
        client_sales._SALES,
        client_sales._SALE,
        client_classifications._CLASSIFICATIONS,
        client_classifications._CANCEL,
        CLAIMS_PATHS["declare"],
    }
    assert posts <= set(WRITE_SCOPES)


def test_the_setting_takes_documented_scopes_only() -> None:
    """001 line 118: "Los posibles valores son: read, update, delete, create"."""
    assert make_settings().scope == "read create update delete"
    assert make_settings(scope="read  read update").scope == "read update"
    assert make_settings(scope="read").scopes == frozenset({"read"})
    for wrong in ("read admin", "", "  "):
        with pytest.raises(ValidationError):
            make_settings(scope=wrong)


async def test_an_operation_whose_scope_was_not_asked_for_is_refused_before_sending() -> None:
    """002 line 18: the token carries "The required scope/s to invoke the operation": without 'delete' the
    annulment cannot pass Cesce's checks, so nothing is sent (not even a token request)."""
    settings = make_settings(scope="read create")
    async with CesceClient(settings, transport=httpx.MockTransport(no_network)) as client:
        with pytest.raises(CesceAuthError) as refused:
            await client.classifications.cancel(CONTRACT, DebtorId(endorsementNo="1"))
    assert refused.value.operation == "classifications.cancel"
    assert "'delete'" in str(refused.value)
    assert "CESCE_SCOPE" in str(refused.value)


async def test_a_read_only_client_reads() -> None:
    """001 line 117: "Indicar tantos scopes como sea necesario": a reader asks for read alone."""
    fake = FakeCesce()
    fake.route("GET", f"/sales/v1/contracts/{CONTRACT}/sale", answer(generalData=SALE))
    async with CesceClient(make_settings(scope="read"), transport=fake.transport) as client:
        sale = await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")
    assert sale.saleCesceReferenceNo == "200000000001"
    assert fake.token_forms[0]["scope"] == "read"


def test_a_worker_asks_for_the_scopes_its_operations_need_unless_cesce_scope_is_set() -> None:
    """001 line 117: "scope: Indicar tantos scopes como sea necesario": each worker asks for what it calls."""
    env = {"CESCE_BASE_URL": "https://cesce.test", "CESCE_CLIENT_ID": "id", "CESCE_CLIENT_SECRET": "secret"}
    sales, claims = client_sales._SALES, CLAIMS_PATHS["declare"]
    needs = {
        INVOICES: {
            required_scope("POST", sales),
            required_scope("GET", sales),
            required_scope("POST", client_sales._SALE),
        },
        NON_PAYMENTS: {required_scope("POST", claims), required_scope("GET", CLAIMS_PATHS["claim_files"])},
    }
    for scope, needed in needs.items():
        assert CesceSettings.from_env(env, scope=scope).scopes == needed
    assert CesceSettings.from_env({**env, "CESCE_SCOPE": "read"}, scope=INVOICES).scopes == {"read"}
    assert CesceSettings.from_env(env).scopes == set(cat.SCOPES)
