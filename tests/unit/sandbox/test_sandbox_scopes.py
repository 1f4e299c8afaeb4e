"""Item: scopes. What a token may do (`TokenStore.scopes`), and a scope for every write the sandbox serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.cesce.assumptions import WRITE_SCOPES
from workers.sandbox import routes_claims, routes_classifications, routes_sales
from workers.sandbox.clock import SandboxClock
from workers.sandbox.oauth import TokenStore

START = datetime(2023, 4, 30, 10, tzinfo=UTC)
GRANT = {"grant_type": "password", "client_id": "app", "client_secret": "s"}


class Wall:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def test_a_token_may_do_what_it_was_asked_for() -> None:
    """003 line 43: "scope: The required scope/s to invoke the operation (create, read, update, delete are valid
    values). You can set one o more at the same time (separated by spaces)"."""
    wall = Wall()
    tokens = TokenStore(SandboxClock(wall), access_ttl_seconds=60, refresh_ttl_seconds=600)
    reader = tokens.token(GRANT | {"scope": "read"})
    everything = tokens.token(GRANT)
    assert tokens.scopes(reader["access_token"], "app") == frozenset({"read"})
    assert tokens.scopes(everything["access_token"], "app") == frozenset({"create", "read", "update", "delete"})
    assert tokens.scopes(reader["access_token"], "other-app") is None
    assert tokens.scopes("forged", "app") is None
    renewed = tokens.token(
        {"grant_type": "refresh_token", "client_id": "app", "client_secret": "s"}
        | {"refresh_token": reader["refresh_token"]}
    )
    assert tokens.scopes(renewed["access_token"], "app") == frozenset({"read"})  # a refresh keeps the scopes
    wall.now = START + timedelta(seconds=60)
    assert tokens.scopes(reader["access_token"], "app") is None


def test_every_write_the_sandbox_serves_has_its_scope() -> None:
    """003 lines 14-20 and 002 lines 2-4 name the POST operations; each has its scope in the assumptions
    (operation-scopes), none falls to a default."""
    posts = {
        "/" + route.path.split("/", 3)[3]
        for module in (routes_sales, routes_classifications, routes_claims)
        for route in module.router.routes
        if "POST" in getattr(route, "methods", ())
    }
    assert posts
    assert posts <= set(WRITE_SCOPES)
