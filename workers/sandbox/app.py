"""The sandbox as an ASGI app: `create_app(config)` wires the routers, errors and middleware.

Answers to anything that is not a route of the Cesce API are in Cesce's format too: an unknown
path is 404 errorCode 4 ("API not found for requested URI"), a wrong method 405 errorCode 25,
and a bug 500 errorCode 3. A path with an empty contract number (``/contracts//sales``) is
answered 400 errorCode 1522 "ES OBLIGATORIO INTRODUCIR EL CONTRATO", as a missing contract.
The admin API keeps FastAPI's ``{"detail": ...}`` errors.

A 405 carries ``Allow`` with every method the path serves (the router alone would name the
methods of the first route matching the path, one of several).

Middleware, outermost first: request counters, then faults, then the scope check, then FastAPI's own.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from workers import __version__
from workers.cesce import catalogue as cat
from workers.sandbox import admin, routes_claims, routes_classifications, routes_oauth, routes_sales
from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import SandboxConfig
from workers.sandbox.middleware import (
    ADMIN_PREFIX,
    FaultMiddleware,
    RouteTemplates,
    ScopeMiddleware,
    StatsMiddleware,
    install_drop_log_filter,
)
from workers.sandbox.runtime import SandboxRuntime
from workers.sandbox.wire import ApiError

__all__ = ["create_app"]

_EMPTY_CONTRACT: Final = re.compile(r"/contracts//")
_DESCRIPTION: Final = """An emulator of the Cesce APIs (OAuth2, Sales, Classifications, Claims) for development,
demos and tests. Every Cesce path answers in Cesce's format; the Sales bodies are the published
JSON Schemas. The **Sandbox admin** paths steer the emulator (clock, faults, ledger) and are not
part of Cesce's API."""
_TAGS: Final = [
    {"name": "OAuth", "description": "Token endpoint (guide section 2)."},
    {"name": "Sales", "description": "API Sales for a customer."},
    {"name": "Classifications", "description": "Classifications of clients (credit limits)."},
    {"name": "Claims", "description": "Non-payments, claim files, documents and settlements."},
    {"name": "Sandbox admin", "description": "The emulator's own controls; not part of Cesce's API."},
]


_ROUTERS: Final = tuple(m.router for m in (routes_oauth, routes_sales, routes_classifications, routes_claims, admin))


def _route_paths() -> list[str]:
    return list(dict.fromkeys(getattr(route, "path", "") for router in _ROUTERS for route in router.routes))


def _route_methods() -> list[tuple[str, set[str]]]:
    return [
        (getattr(route, "path", ""), set(getattr(route, "methods", None) or ()))
        for router in _ROUTERS
        for route in router.routes
    ]


_TEMPLATES: Final = RouteTemplates(_route_methods)


def create_app(config: SandboxConfig | None = None, *, clock: SandboxClock | None = None) -> FastAPI:
    """A new sandbox app with its own state, loaded from ``config.scenario`` (or the default)."""
    config = config or SandboxConfig()
    runtime = SandboxRuntime(config, clock)
    app = FastAPI(
        title="Cesce API sandbox",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        redirect_slashes=False,
    )
    app.state.sandbox = runtime
    for router in _ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(ScopeMiddleware, runtime=runtime, routes=_route_methods)
    app.add_middleware(FaultMiddleware, runtime=runtime)
    app.add_middleware(StatsMiddleware, runtime=runtime, paths=_route_paths)
    install_drop_log_filter()
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for HTTPException only
    if request.url.path.startswith(ADMIN_PREFIX):
        return await http_exception_handler(request, exc)
    if exc.status_code == 405:
        allowed = {"Allow": ", ".join(_allowed_methods(request))} if exc.headers else None
        return ApiError(405, cat.ERROR_CODE_METHOD_NOT_ALLOWED, cat.MSG_METHOD_NOT_ALLOWED, allowed).response()
    if exc.status_code == 404 and _EMPTY_CONTRACT.search(request.url.path):
        return ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_CONTRACT_REQUIRED).response()
    if exc.status_code == 404:
        return ApiError(404, cat.ERROR_CODE_NOT_FOUND, cat.MSG_NOT_FOUND).response()
    return JSONResponse(
        {"error": {"errorCode": str(exc.status_code), "errorDescription": str(exc.detail)}}, exc.status_code
    )


def _allowed_methods(request: Request) -> list[str]:
    template = _TEMPLATES.match(request.url.path)
    return sorted(_TEMPLATES.methods(template)) if template is not None else []


async def _unexpected(request: Request, exc: Exception) -> Response:
    return ApiError(500, cat.ERROR_CODE_SERVICE_UNAVAILABLE, cat.MSG_SERVICE_UNAVAILABLE).response()
