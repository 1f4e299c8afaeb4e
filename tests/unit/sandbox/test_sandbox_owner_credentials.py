"""Item: on Cesce's sandbox username and password are not required; PRE/PRO (fixed credentials) need them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from workers.cesce import catalogue as cat
from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import Credentials
from workers.sandbox.oauth import OAuthError, TokenStore

START = datetime(2023, 4, 30, 10, tzinfo=UTC)
CLIENT_ONLY = {"grant_type": "password", "client_id": "app", "client_secret": "s", "scope": "read"}


def store(credentials: Credentials | None = None) -> TokenStore:
    clock = SandboxClock(lambda: START)
    return TokenStore(clock, access_ttl_seconds=60, refresh_ttl_seconds=60, credentials=credentials)


def test_a_password_grant_without_username_and_password_is_accepted() -> None:
    """000 line 93: "Si estás trabajando en Sandbox, no se proporcionan las credenciales USERNAME y PASSWORD al
    no ser obligatorias, mientras que CLIENT ID y CLIENT SECRET sí lo son." """
    tokens = store()
    issued = tokens.token(CLIENT_ONLY)
    assert issued["token_type"] == "Bearer"
    assert tokens.check(issued["access_token"], "app")
    for required in ("client_id", "client_secret"):
        with pytest.raises(OAuthError) as refused:
            tokens.token({k: v for k, v in CLIENT_ONLY.items() if k != required})
        assert refused.value.error == "invalid_request"


def test_any_value_is_accepted_when_given() -> None:
    """001 lines 111-115: "username: Usuario del entorno (indicar un valor cualquiera para el entorno de
    sandbox)" and "password: Contraseña del entorno (indicar un valor cualquiera para el entorno de sandbox)"."""
    tokens = store()
    assert tokens.token(CLIENT_ONLY | {"username": "anyone", "password": "anything"})["access_token"]
    assert tokens.token(CLIENT_ONLY | {"username": "only-a-user"})["access_token"]


def test_with_fixed_credentials_both_are_required_as_on_pre_and_pro() -> None:
    """000 line 89: "USERNAME y PASSWORD recibidos por correo para el entorno PRE o PRO"; line 73 is the
    refusal when they are wrong ("Resource owner denied or not found"), and their absence is answered the same."""
    fixed = Credentials("app", SecretStr("s"), "u", SecretStr("p"))
    tokens = store(fixed)
    assert tokens.token(CLIENT_ONLY | {"username": "u", "password": "p"})["access_token"]
    for form in (CLIENT_ONLY, CLIENT_ONLY | {"username": "u"}, CLIENT_ONLY | {"password": "p"}):
        with pytest.raises(OAuthError) as refused:
            tokens.token(form)
        assert refused.value.body() == {"error": "invalid_grant", "error_description": cat.MSG_RESOURCE_OWNER_DENIED}
