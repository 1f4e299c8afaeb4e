"""The OAuth2 token endpoint (guide 2) and the bearer check of every API call.

Password grant and refresh grant; answers in Cesce's shape. Tokens are random
(`secrets.token_urlsafe`), remembered only as SHA-256 digests (nothing in memory or in a log
can be replayed), and expire against the sandbox clock, so a test expires them by moving the
clock. A refresh token is single-use: refreshing spends it and hands out a new pair.

Without configured credentials any non-empty client_id and client_secret are accepted, like
Cesce's sandbox, and username and password may be left out (000: "Si estás trabajando en Sandbox,
no se proporcionan las credenciales USERNAME y PASSWORD al no ser obligatorias") or given any
non-empty value (001: "indicar un valor cualquiera para el entorno de sandbox"). With configured
credentials the sandbox acts as PRE/PRO do: all four are required and only those pass; a missing
username or password is "Resource owner denied or not found". Secrets are compared with
`hmac.compare_digest`.

A token carries the scopes it was asked for (all four when none was asked for); `scopes` tells the
API's scope check (`workers.sandbox.middleware.ScopeMiddleware`) what a valid token may do.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.catalogue import MSG_RESOURCE_OWNER_DENIED
from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import Credentials

__all__ = ["DEFAULT_SCOPE", "SCOPES", "OAuthError", "TokenStore"]

SCOPES: Final = frozenset(cat.SCOPES)
DEFAULT_SCOPE: Final = "create read update delete"


class OAuthError(Exception):
    """A refusal of the token endpoint: HTTP 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class _Grant:
    client_id: str
    scope: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@functools.lru_cache(maxsize=64)
def _scope_set(scope: str) -> frozenset[str]:
    """The words of a granted scope (remembered: a store hands out the same few scopes)."""
    return frozenset(scope.split())


def _denied() -> OAuthError:
    return OAuthError("invalid_grant", MSG_RESOURCE_OWNER_DENIED)


class TokenStore:
    def __init__(
        self,
        clock: SandboxClock,
        *,
        access_ttl_seconds: int,
        refresh_ttl_seconds: int,
        credentials: Credentials | None = None,
    ) -> None:
        self._clock = clock
        self._access_ttl = access_ttl_seconds
        self._refresh_ttl = refresh_ttl_seconds
        self._credentials = credentials
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a POST to the token endpoint, or raise `OAuthError`."""
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "Missing parameter: grant_type")
        if grant_type == "password":
            return self._password(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}")

    def check(self, access_token: str, client_id: str) -> bool:
        """Whether the bearer token is known, unexpired, not revoked and issued to this client_id."""
        grant = self._access.get(_digest(access_token))
        return grant is not None and self._clock.now() < grant.expires_at and _same(client_id, grant.client_id)

    def scopes(self, access_token: str, client_id: str) -> frozenset[str] | None:
        """The scopes of a valid token (`check`), or None when the token is not valid for this client."""
        grant = self._access.get(_digest(access_token))
        if grant is None or self._clock.now() >= grant.expires_at or not _same(client_id, grant.client_id):
            return None
        return _scope_set(grant.scope)

    def client_subscribed(self, client_id: str) -> bool:
        """Whether an X-IBM-Client-Id names a subscribed application (any one without credentials)."""
        return bool(client_id.strip()) and (self._credentials is None or _same(client_id, self._credentials.client_id))

    def revoke_access_tokens(self) -> int:
        revoked = len(self._access)
        self._access.clear()
        return revoked

    def _password(self, form: Mapping[str, str]) -> dict[str, Any]:
        client_id, client_secret = _required(form, "client_id", "client_secret")
        username, password = form.get("username"), form.get("password")
        if not self._client_ok(client_id, client_secret) or not self._owner_ok(username, password):
            raise _denied()
        return self._issue(client_id, _scope(form.get("scope")))

    def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        client_id, client_secret, refresh_token = _required(form, "client_id", "client_secret", "refresh_token")
        if not self._client_ok(client_id, client_secret):
            raise _denied()
        key = _digest(refresh_token)
        grant = self._refresh.get(key)
        if grant is None or self._clock.now() >= grant.expires_at or not _same(client_id, grant.client_id):
            raise _denied()
        del self._refresh[key]
        return self._issue(client_id, grant.scope)

    def _client_ok(self, client_id: str, client_secret: str) -> bool:
        if not client_id.strip() or not client_secret.strip():
            return False
        if self._credentials is None:
            return True
        expected = self._credentials
        id_ok = _same(client_id, expected.client_id)
        secret_ok = _same(client_secret, expected.client_secret.get_secret_value())
        return id_ok and secret_ok

    def _owner_ok(self, username: str | None, password: str | None) -> bool:
        if self._credentials is None:  # Cesce's sandbox: optional, any value when given
            return all(value.strip() for value in (username, password) if value is not None)
        if username is None or password is None:
            return False
        expected = self._credentials
        user_ok = _same(username, expected.username)
        password_ok = _same(password, expected.password.get_secret_value())
        return user_ok and password_ok

    def _issue(self, client_id: str, scope: str) -> dict[str, Any]:
        now = self._clock.now()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        self._access[_digest(access)] = _Grant(client_id, scope, now + timedelta(seconds=self._access_ttl))
        self._refresh[_digest(refresh)] = _Grant(client_id, scope, now + timedelta(seconds=self._refresh_ttl))
        return {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self._access_ttl,
            "consented_on": int(now.timestamp()),
            "scope": scope,
            "refresh_token": refresh,
            "refresh_token_expires_in": self._refresh_ttl,
        }


def _required(form: Mapping[str, str], *names: str) -> list[str]:
    for name in names:
        if name not in form:
            raise OAuthError("invalid_request", f"Missing parameter: {name}")
    return [form[name] for name in names]


def _scope(requested: str | None) -> str:
    words = (requested or "").split()
    if not words:
        return DEFAULT_SCOPE
    unknown = sorted(set(words) - SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope: {' '.join(unknown)}")
    return " ".join(dict.fromkeys(words))
