"""Item: the client's username and password are optional (Cesce's sandbox does not require them)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import ValidationError

from tests.unit.cesce.fakes import CLIENT_ID, CLIENT_SECRET, CONTRACT, PASSWORD, FakeCesce, answer, make_settings
from workers.cesce import catalogue as cat
from workers.cesce.client import CesceClient
from workers.cesce.config import CesceSettings
from workers.cesce.errors import CesceAuthError

SUBSIDIARIES = f"/sales/v1/contracts/{CONTRACT}/subsidiaries"
TOKEN = {"token_type": "Bearer", "access_token": "sandbox-access", "expires_in": 3600, "refresh_token": "r"}


def test_settings_need_neither_username_nor_password() -> None:
    """000 line 93: "Si estás trabajando en Sandbox, no se proporcionan las credenciales USERNAME y PASSWORD al
    no ser obligatorias, mientras que CLIENT ID y CLIENT SECRET sí lo son." """
    settings = CesceSettings.from_env(
        {"CESCE_BASE_URL": "https://sandbox.example", "CESCE_CLIENT_ID": "app", "CESCE_CLIENT_SECRET": "s3cr3t-x"}
    )
    assert (settings.username, settings.password) == (None, None)
    with pytest.raises(ValidationError):
        CesceSettings.from_env({"CESCE_BASE_URL": "https://sandbox.example", "CESCE_CLIENT_ID": "app"})


@pytest.mark.parametrize("half", [{"username": None}, {"password": None}])
def test_one_without_the_other_is_a_configuration_error(half: dict[str, None]) -> None:
    """001 lines 111-115: username and password are both fields of the password grant; set both or neither."""
    with pytest.raises(ValidationError) as refused:
        make_settings(**half)
    assert "username and password go together" in str(refused.value)
    assert PASSWORD not in str(refused.value)


async def test_the_token_request_leaves_them_out(caplog: pytest.LogCaptureFixture) -> None:
    """000 line 93 (no USERNAME/PASSWORD on the sandbox) and 001 line 117: "scope: Indicar tantos scopes como
    sea necesario" - the grant sends client_id, client_secret and scope only."""
    caplog.set_level(logging.DEBUG)
    forms: list[dict[str, str]] = []

    def sandbox(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v1/token":
            forms.append(dict(parse_qsl(request.content.decode())))
            return httpx.Response(200, json=TOKEN)
        assert request.headers["Authorization"] == "Bearer sandbox-access"
        return answer(result=[])

    settings = make_settings(username=None, password=None)
    async with CesceClient(settings, transport=httpx.MockTransport(sandbox)) as client:
        assert await client.sales.subsidiaries(CONTRACT) == []
    assert forms == [
        {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "read create update delete",
        }
    ]
    assert CLIENT_SECRET not in caplog.text
    assert CLIENT_SECRET not in repr(settings)


async def test_an_environment_that_needs_them_answers_resource_owner_denied() -> None:
    """000 line 73: "error_description": "Resource owner denied or not found", the answer when the credentials
    do not pass (line 76: "como USERNAME y PASSWORD ... sean correctas"); the client surfaces it as an
    authentication error, naming no secret."""
    fake = FakeCesce()  # plays PRE/PRO: a password grant without username is refused
    async with CesceClient(make_settings(username=None, password=None), transport=fake.transport) as client:
        with pytest.raises(CesceAuthError) as refused:
            await client.sales.subsidiaries(CONTRACT)
    assert cat.MSG_RESOURCE_OWNER_DENIED in str(refused.value)
    assert CLIENT_SECRET not in repr(refused.value)
    assert fake.api_requests == []
