"""ASGI middleware: the faults of the Cesce API paths, the scope check, and the request counters.

`ScopeMiddleware` refuses a call whose token is valid but was not granted the operation's scope
(a GET needs read, each POST the scope `workers.cesce.config.required_scope` names) with 000's 401
errorCode 21 "Cannot pass the security checks ...", the answer to a token that fails the API's
security checks. Everything else (no or a bad token, an unknown path, a method the path does not
serve) is left to the routes, so those keep their own answers.

`FaultMiddleware` applies `workers.sandbox.faults` decisions to the Cesce API paths only (never
OAuth, the admin API or the OpenAPI document). A hang processes the request, keeps the answer
and sends it after ``hangSeconds`` (or at shutdown). A drop processes the request and then sends
the status line, headers announcing a longer body than it sends, half the body, and gives up:
the server closes the connection and the client sees an incomplete answer
(`httpx.RemoteProtocolError`), the outcome unknown to it. uvicorn logs an abandoned answer as an
error; `DropLogFilter` silences that one record, and only for a deliberate drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import CLIENT_ID_HEADER
from workers.cesce.config import required_scope
from workers.sandbox.faults import Outcome
from workers.sandbox.runtime import SandboxRuntime
from workers.sandbox.wire import ApiError

__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIXES",
    "DropLogFilter",
    "FaultMiddleware",
    "RouteTemplates",
    "ScopeMiddleware",
    "StatsMiddleware",
    "install_drop_log_filter",
]

API_PREFIXES: Final = ("/sales/v1/", "/classifications/v1/", "/claims/v1/")
ADMIN_PREFIX: Final = "/sandbox-admin"
_DROPPING: ContextVar[bool] = ContextVar("cesce_sandbox_dropping", default=False)
_UVICORN_LOGGER: Final = "uvicorn.error"
_CLIENT_ID_KEY: Final = CLIENT_ID_HEADER.lower().encode("latin-1")


class RouteTemplates:
    """Finds the route template (``/sales/v1/contracts/{contractNo}/sales``) a request path matches.

    The routes (template and methods) are read once, lazily, from `routes`. The templates never
    change after that, so the answer for a path is remembered (up to `MATCHES_REMEMBERED` paths of
    at most `PATH_REMEMBERED` characters, then forgotten all at once): a client sends the same few
    paths over and over, and each one costs a scan of every template's pattern only the first time.
    """

    MATCHES_REMEMBERED: Final = 1024
    PATH_REMEMBERED: Final = 256

    def __init__(self, routes: Callable[[], Iterable[tuple[str, Iterable[str]]]]) -> None:
        self._routes = routes
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None
        self._methods: dict[str, frozenset[str]] = {}
        self._matched: dict[str, str | None] = {}

    def match(self, path: str) -> str | None:
        try:
            return self._matched[path]
        except KeyError:
            pass
        found = next((template for pattern, template in self._load() if pattern.match(path)), None)
        if len(path) <= self.PATH_REMEMBERED:
            if len(self._matched) >= self.MATCHES_REMEMBERED:
                self._matched.clear()
            self._matched[path] = found
        return found

    def methods(self, template: str) -> frozenset[str]:
        """Every method the template's routes serve (a path has one route per method)."""
        self._load()
        return self._methods.get(template, frozenset())

    def serves(self, template: str, method: str) -> bool:
        return method.upper() in self.methods(template)

    def _load(self) -> list[tuple[re.Pattern[str], str]]:
        if self._compiled is None:
            for template, methods in self._routes():
                self._methods[template] = self._methods.get(template, frozenset()) | {m.upper() for m in methods}
            self._compiled = [
                (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), p) for p in self._methods
            ]
        return self._compiled


class ScopeMiddleware:
    def __init__(
        self, app: ASGIApp, runtime: SandboxRuntime, routes: Callable[[], Iterable[tuple[str, Iterable[str]]]]
    ) -> None:
        self.app = app
        self.runtime = runtime
        self._templates = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(API_PREFIXES):
            lacking = self._lacking_scope(scope)
            if lacking:
                await ApiError(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS).response()(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)

    def _lacking_scope(self, scope: Scope) -> bool:
        method, template = str(scope["method"]), self._templates.match(str(scope["path"]))
        if template is None or not self._templates.serves(template, method):
            return False
        raw = scope["headers"] = list(scope["headers"])  # as starlette's Headers(scope=scope) leaves it
        client_id = _header(raw, _CLIENT_ID_KEY)
        scheme, _, token = _header(raw, b"authorization").partition(" ")
        tokens = self.runtime.tokens
        if scheme.lower() != "bearer" or not token.strip() or not tokens.client_subscribed(client_id):
            return False
        granted = tokens.scopes(token.strip(), client_id)
        return granted is not None and _operation_scope(method, template) not in granted


def _header(raw: list[tuple[bytes, bytes]], key: bytes) -> str:
    """The first value of a header (`key` in lower case), "" when absent: what starlette's ``Headers.get``
    answers, without building a ``Headers`` for every request."""
    for name, value in raw:
        if name == key:
            return value.decode("latin-1")
    return ""


@functools.lru_cache(maxsize=256)
def _operation_scope(method: str, template: str) -> str:
    """The scope a served method of a route template needs (remembered: there are few of both)."""
    # "/sales/v1/contracts/{contractNo}/sales" -> the operation's path under its API root
    return required_scope(method, "/" + template.split("/", 3)[3])


class DropLogFilter(logging.Filter):
    """Silence uvicorn's complaint about an answer this sandbox abandoned on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _DROPPING.get()


def install_drop_log_filter() -> None:
    logger = logging.getLogger(_UVICORN_LOGGER)
    if not any(isinstance(f, DropLogFilter) for f in logger.filters):
        logger.addFilter(DropLogFilter())


class FaultMiddleware:
    def __init__(self, app: ASGIApp, runtime: SandboxRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        injector = self.runtime.faults
        refusal = injector.admit()
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        delay = injector.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        if injector.fails():
            error = ApiError(500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE)
            await error.response()(scope, receive, send)
            return
        outcome = injector.outcome()
        if outcome is Outcome.DELIVER:
            await self.app(scope, receive, send)
            return
        kept: list[Message] = []

        async def keep(message: Message) -> None:
            kept.append(message)

        await self.app(scope, receive, keep)
        if outcome is Outcome.HANG:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runtime.stopping.wait(), injector.faults.hang_seconds)
            for message in kept:
                await send(message)
        else:
            await _drop(kept, send)


async def _drop(kept: Sequence[Message], send: Send) -> None:
    start = next(m for m in kept if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in kept if m["type"] == "http.response.body")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body) + 64).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    _DROPPING.set(True)


class StatsMiddleware:
    """Counts every request but the admin API's, by route template and by the status answered.

    The template is found among the app's route paths (``paths``, called once, lazily), so a
    request refused by a fault before routing is counted under its route all the same.
    """

    def __init__(self, app: ASGIApp, runtime: SandboxRuntime, paths: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.runtime = runtime
        self._templates = RouteTemplates(lambda: ((path, ()) for path in paths()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            stats = self.runtime.stats
            stats.by_route[f"{scope['method']} {self._template(scope)}"] += 1
            stats.by_status[str(status) if status is not None else "none"] += 1

    def _template(self, scope: Scope) -> str:
        return self._templates.match(str(scope["path"])) or "<unmatched>"
