"""Tokens against an injected clock: expiry, single-use refresh, revocation, fixed credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import Credentials
from workers.sandbox.oauth import OAuthError, TokenStore

START = datetime(2023, 4, 30, 10, tzinfo=UTC)
GRANT = {"grant_type": "password", "client_id": "app", "client_secret": "s", "username": "u", "password": "p"}


class Wall:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def store(wall: Wall) -> TokenStore:
    return TokenStore(SandboxClock(wall), access_ttl_seconds=3600, refresh_ttl_seconds=7200)


def refresh_form(token: str, client_id: str = "app") -> dict[str, str]:
    return {"grant_type": "refresh_token", "client_id": client_id, "client_secret": "s", "refresh_token": token}


def test_an_access_token_lives_exactly_its_ttl(store: TokenStore, wall: Wall) -> None:
    issued = store.token(GRANT)
    assert issued["consented_on"] == int(START.timestamp())
    wall.now = START + timedelta(seconds=3599)
    assert store.check(issued["access_token"], "app")
    wall.now = START + timedelta(seconds=3600)
    assert not store.check(issued["access_token"], "app")


def test_a_token_is_bound_to_its_client(store: TokenStore) -> None:
    issued = store.token(GRANT)
    assert not store.check(issued["access_token"], "other")
    assert not store.check("forged", "app")


def test_refresh_tokens_are_single_use_and_expire(store: TokenStore, wall: Wall) -> None:
    issued = store.token(GRANT)
    renewed = store.token(refresh_form(issued["refresh_token"]))
    with pytest.raises(OAuthError) as spent:
        store.token(refresh_form(issued["refresh_token"]))
    assert spent.value.body() == {"error": "invalid_grant", "error_description": "Resource owner denied or not found"}
    wall.now = START + timedelta(seconds=7200)
    with pytest.raises(OAuthError):
        store.token(refresh_form(renewed["refresh_token"]))


def test_revocation_keeps_refresh_tokens(store: TokenStore) -> None:
    issued = store.token(GRANT)
    assert store.revoke_access_tokens() == 1
    assert not store.check(issued["access_token"], "app")
    assert store.check(store.token(refresh_form(issued["refresh_token"]))["access_token"], "app")


def test_tokens_are_random_and_not_kept_in_clear(store: TokenStore) -> None:
    first, second = store.token(GRANT), store.token(GRANT)
    assert first["access_token"] != second["access_token"]
    kept = repr(vars(store))
    assert first["access_token"] not in kept
    assert first["refresh_token"] not in kept


def test_fixed_credentials(wall: Wall) -> None:
    credentials = Credentials("app", SecretStr("s"), "u", SecretStr("p"))
    store = TokenStore(SandboxClock(wall), access_ttl_seconds=60, refresh_ttl_seconds=60, credentials=credentials)
    assert store.token(GRANT)["token_type"] == "Bearer"
    for field in ("client_id", "client_secret", "username", "password"):
        with pytest.raises(OAuthError) as refused:
            store.token(GRANT | {field: GRANT[field] + "!"})
        assert refused.value.error == "invalid_grant"
    assert store.client_subscribed("app")
    assert not store.client_subscribed("other")


def test_without_fixed_credentials_any_non_empty_ones_pass(store: TokenStore) -> None:
    assert store.token(GRANT | {"client_id": "whatever", "password": "x"})["access_token"]
    assert store.client_subscribed("anything")
    assert not store.client_subscribed(" ")
    with pytest.raises(OAuthError):
        store.token(GRANT | {"password": " "})


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "invalid_request"),
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
        (GRANT | {"scope": "read write"}, "invalid_scope"),
        ({"grant_type": "refresh_token", "client_id": "app", "client_secret": "s"}, "invalid_request"),
    ],
)
def test_malformed_requests(store: TokenStore, form: dict[str, str], error: str) -> None:
    with pytest.raises(OAuthError) as refused:
        store.token(form)
    assert refused.value.error == error


def test_scopes(store: TokenStore) -> None:
    assert store.token(GRANT)["scope"] == "create read update delete"
    assert store.token(GRANT | {"scope": "read read  create"})["scope"] == "read create"
