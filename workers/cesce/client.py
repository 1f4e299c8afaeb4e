"""`CesceClient`: the one object a worker holds to talk to Cesce.

It owns the `httpx.AsyncClient` (connection pool, TLS, timeouts), the OAuth2 token shared by every
call, the retry policy and the throttle (`workers.cesce.throttle`: the pace and the pauses after
a 429, shared by the pod's processes when configured), and exposes the three APIs as
`client.sales`, `client.classifications` and `client.claims`. Everything it touches is injectable
(`transport`, `sleep`, `rng`, `clock`, `throttle`), so tests drive it with `httpx.MockTransport`
and never sleep or patch anything.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

import httpx

from workers.cesce.auth import TokenManager
from workers.cesce.claims import ClaimsApi
from workers.cesce.classifications import ClassificationsApi
from workers.cesce.config import CesceSettings
from workers.cesce.errors import CesceError
from workers.cesce.http import CesceHttp, direct
from workers.cesce.retry import Clock, RetryPolicy, Sleep, Uniform
from workers.cesce.sales import SalesApi
from workers.cesce.throttle import Throttle
from workers.cesce.transport import PooledTransport

__all__ = ["CesceClient"]

_TOKEN_RECHECK_SECONDS = 30.0


class CesceClient:
    """An async Cesce client; use ``async with CesceClient(settings) as client:`` or call `aclose()`."""

    def __init__(
        self,
        settings: CesceSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        rng: Uniform | None = None,
        clock: Clock | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.settings = settings
        # First: it may refuse (shared state file not writable) before anything needs closing. Its waits
        # are lengths on its clock, so it sleeps on `sleep` only with `clock` (a fake pair in tests).
        throttle_sleep = sleep if clock is not None else None
        self._throttle = throttle or Throttle.from_settings(settings, clock=clock, sleep=throttle_sleep)
        wire = transport or PooledTransport(
            verify=settings.verify_tls,
            max_connections=settings.max_connections,
            keepalive_seconds=settings.keepalive_seconds,
        )
        self._client = httpx.AsyncClient(  # the token endpoint's; the API calls go to `wire` directly
            transport=wire,
            trust_env=False,  # proxies from the environment are the transport's, for both paths
            verify=settings.verify_tls,
            timeout=settings.timeout_seconds,
            follow_redirects=False,  # a redirect is not a documented answer; never resend a POST elsewhere
            headers={"Accept": "application/json"},
        )
        self._tokens = TokenManager(settings, self._client, clock=clock)
        self._clock = clock or time.monotonic
        self._token_failure: tuple[float, str] | None = None
        http = CesceHttp(
            direct(wire),
            settings,
            self._tokens,
            RetryPolicy.from_settings(settings, sleep=sleep, rng=rng, clock=clock),
            self._throttle,
        )
        self.sales = SalesApi(http)
        self.classifications = ClassificationsApi(http)
        self.claims = ClaimsApi(http)

    def __repr__(self) -> str:
        return f"CesceClient(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def token_problem(self) -> str | None:
        """None when an access token can be had (the cached one, or a new one now); else why not, in a few
        words (readiness: a worker whose credentials Cesce refuses is not ready). After a failure the answer
        stands for `_TOKEN_RECHECK_SECONDS`: probes every few seconds must not hammer Cesce's token endpoint
        with refused credentials (an account lockout waiting to happen)."""
        if self._token_failure is not None and self._clock() - self._token_failure[0] < _TOKEN_RECHECK_SECONDS:
            return self._token_failure[1]
        try:
            await self._tokens.access_token()
        except CesceError as exc:
            status = f" HTTP {exc.http_status}" if exc.http_status else ""
            self._token_failure = (self._clock(), f"no Cesce token: {type(exc).__name__}{status}")
            return self._token_failure[1]
        self._token_failure = None
        return None

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        await self._tokens.aclose()
        await self._client.aclose()
        self._throttle.close()
