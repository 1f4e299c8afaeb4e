"""OAuth2 for Cesce (guide section 2): one access token shared by every call of a client.

The password grant gets a token valid for ``expires_in`` seconds; we keep it until
`token_refresh_margin_seconds` before that, then renew it with the refresh grant (which spends the
old refresh token and returns a new one), falling back to the password grant when the refresh
fails. Concurrent callers that find the token stale share one renewal (single flight), so fifty
coroutines cost one token request, not fifty.

The password grant asks for the settings' scopes, and sends username and password only when they
are set: Cesce's sandbox does not require them (000), and an environment that does answers
"Resource owner denied or not found", raised as `CesceAuthError`.

Tokens are held as `SecretStr`; nothing here logs a token, a password or the client secret.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from workers.cesce.config import CesceSettings
from workers.cesce.errors import CesceError, CesceProtocolError, CesceTransientError
from workers.cesce.http import decode_answer, send
from workers.observability.metrics import TOKEN_RENEWALS

__all__ = ["TokenManager"]

_log = logging.getLogger(__name__)

_OPERATION = "oauth.token"


class _TokenAnswer(BaseModel):
    # hide_input_in_errors: a malformed answer must not print the token it carries.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    token_type: str = "Bearer"  # noqa: S105 - the token kind, not a secret
    access_token: SecretStr = Field(min_length=1)
    expires_in: int = Field(gt=0)
    refresh_token: SecretStr | None = None
    refresh_token_expires_in: int | None = Field(default=None, gt=0)

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("only Bearer tokens are supported")
        return value


@dataclass(frozen=True, slots=True)
class _Token:
    access: SecretStr
    refresh: SecretStr | None
    renew_at: float  # clock time after which the access token is not used again
    refresh_until: float  # clock time after which the refresh token is not tried


class TokenManager:
    """Gets, caches and renews the access token; `CesceHttp` asks it for a token before each call."""

    def __init__(
        self, settings: CesceSettings, client: httpx.AsyncClient, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock or time.monotonic
        self._token: _Token | None = None
        self._flight: asyncio.Task[_Token] | None = None

    def __repr__(self) -> str:
        return f"TokenManager(token_url={self._settings.token_url!r}, has_token={self._token is not None})"

    async def access_token(self) -> str:
        """A token valid for at least the refresh margin; renews it first if needed."""
        token = self._token
        if token is None or self._clock() >= token.renew_at:
            if self._flight is None or self._flight.done():
                self._flight = asyncio.get_running_loop().create_task(self._renew())
            # shield: a caller that gives up must not cancel the renewal the others are waiting for
            token = await asyncio.shield(self._flight)
        return token.access.get_secret_value()

    def invalidate(self, access_token: str) -> None:
        """Cesce refused `access_token` (HTTP 401): renew on next use, unless that already happened."""
        token = self._token
        if token is not None and token.access.get_secret_value() == access_token:
            self._token = replace(token, renew_at=-math.inf)

    async def aclose(self) -> None:
        """Abandon a renewal in flight (the client is closing)."""
        if self._flight is not None and not self._flight.done():
            self._flight.cancel()
            await asyncio.gather(self._flight, return_exceptions=True)

    async def _renew(self) -> _Token:
        previous = self._token
        if previous is not None and previous.refresh is not None and self._clock() < previous.refresh_until:
            try:
                token = await self._grant("refresh_token", refresh_token=previous.refresh.get_secret_value())
            except CesceError as exc:
                # The refresh token may be spent even when the answer was lost: never reuse it.
                _log.warning("cesce token refresh failed (%s); using the password grant", type(exc).__name__)
                self._token = None
                token = await self._grant("password")
        else:
            token = await self._grant("password")
        self._token = token
        return token

    async def _grant(self, grant_type: str, *, refresh_token: str | None = None) -> _Token:
        settings = self._settings
        form = {
            "grant_type": grant_type,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
        }
        if refresh_token is None:
            form["scope"] = settings.scope
            if settings.username is not None and settings.password is not None:  # none on Cesce's sandbox
                form |= {"username": settings.username, "password": settings.password.get_secret_value()}
        else:
            form["refresh_token"] = refresh_token
        operation = f"{_OPERATION}({grant_type})"
        sent_at = self._clock()
        request = self._client.build_request("POST", settings.token_url, data=form)
        try:
            response = await send(self._client.send, request, operation, route=request.url.path)
            payload = decode_answer(response, operation, token_endpoint=True)
        except CesceError as exc:
            if isinstance(exc, CesceTransientError):
                # Asking for a token again is harmless, and the API request it was for was never sent.
                exc.outcome_unknown = False
            TOKEN_RENEWALS.add(1, {"grant": grant_type, "outcome": "failed"})
            raise
        TOKEN_RENEWALS.add(1, {"grant": grant_type, "outcome": "ok"})
        try:
            answer = _TokenAnswer.model_validate(payload)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, error["loc"])) for error in exc.errors(include_input=False))
            raise CesceProtocolError(f"{operation}: malformed token answer ({fields})", operation=operation) from None
        _log.info("cesce token obtained by %s grant, valid %ds", grant_type, answer.expires_in)
        # Never let the margin swallow the whole lifetime: a short-lived token is still used once.
        margin = min(settings.token_refresh_margin_seconds, answer.expires_in / 2)
        refresh_life = answer.refresh_token_expires_in
        return _Token(
            access=answer.access_token,
            refresh=answer.refresh_token,
            renew_at=sent_at + answer.expires_in - margin,
            refresh_until=math.inf if refresh_life is None else sent_at + refresh_life - margin,
        )
