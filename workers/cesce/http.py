"""The one place where HTTP turns into Cesce answers and Cesce errors.

Everything that can go wrong on the wire is decided here, so callers see only the tree of
`workers.cesce.errors`:

- httpx exceptions are translated at the boundary (`TRANSPORT_ERRORS`, ``raise ... from exc``):
  an error before the request left (connect, pool) is transient with a known outcome; an error
  after it may have been sent (read/write timeout, reset, a broken answer) is transient with an
  unknown outcome; a request httpx could not build or an answer it could not decode is a protocol
  error;
- an answer's ``error.errorCode`` / ``errorDescription`` (or OAuth's ``error`` /
  ``error_description``) goes through `errors.classify` and `errors.error_for`;
- an answer that is not a JSON object, or not in the documented shape, is `CesceProtocolError`.

`CesceHttp` sends the API calls: last validation gate, bearer token and client-id header, one
token renewal on a 401, and retries through `RetryPolicy`. Every API request (the resend after a
401 included) leaves through the `Throttle` (`workers.cesce.throttle`), which paces them and pauses
them all after a 429; the token endpoint does not (`auth.TokenManager` calls it once an hour, and
it is not under the API plan's quota), nor does the wait for a token hold a turn.

`send` is also where each HTTP exchange is observed: a CLIENT span named ``<method> <route>`` (the
path template, never the URL with its query) and the ``cesce.client.duration`` histogram by
operation and status. Neither sees headers or bodies.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, Protocol, TypeVar

import httpx
import yarl
from opentelemetry.semconv.attributes import error_attributes, http_attributes, server_attributes
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import Attributes
from pydantic import BaseModel, ValidationError

from workers.cesce.assumptions import CLIENT_ID_HEADER
from workers.cesce.config import CesceApi, CesceSettings
from workers.cesce.errors import (
    CesceError,
    CesceProtocolError,
    CesceTransientError,
    ErrorKind,
    classify,
    error_for,
)
from workers.cesce.retry import RetryPolicy, parse_retry_after
from workers.cesce.throttle import Throttle
from workers.cesce.transport import Call, PooledTransport
from workers.cesce.validation import check_contract_no, check_fields
from workers.observability.metrics import CESCE_DURATION
from workers.observability.tracing import TRACER

__all__ = [
    "TRANSPORT_ERRORS",
    "Answer",
    "Call",
    "CesceHttp",
    "Exchange",
    "TokenSource",
    "decode_answer",
    "direct",
    "json_body",
    "parse_answer",
    "parse_results",
    "send",
    "translate_transport_error",
]

_log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_NOT_SENT: Final = "not sent"  # transient; Cesce never saw the request
_MAYBE_PROCESSED: Final = "maybe processed"  # transient; Cesce may have acted on it
_BROKEN: Final = "broken"  # protocol error; repeating it changes nothing

TRANSPORT_ERRORS: Final[Mapping[type[httpx.RequestError], str]] = {
    httpx.ConnectError: _NOT_SENT,
    httpx.ConnectTimeout: _NOT_SENT,
    httpx.PoolTimeout: _NOT_SENT,
    httpx.ProxyError: _NOT_SENT,
    httpx.ReadTimeout: _MAYBE_PROCESSED,
    httpx.WriteTimeout: _MAYBE_PROCESSED,
    httpx.ReadError: _MAYBE_PROCESSED,
    httpx.WriteError: _MAYBE_PROCESSED,
    httpx.RemoteProtocolError: _MAYBE_PROCESSED,
    httpx.CloseError: _MAYBE_PROCESSED,
    httpx.LocalProtocolError: _BROKEN,
    httpx.UnsupportedProtocol: _BROKEN,
    httpx.DecodingError: _BROKEN,
    httpx.TooManyRedirects: _BROKEN,
}
"""What each httpx exception means for the request it interrupted (a test keeps it complete)."""


def translate_transport_error(exc: httpx.RequestError, operation: str) -> CesceError:
    """The Cesce error for an httpx exception; an unknown subclass is treated as maybe processed."""
    meaning = next((TRANSPORT_ERRORS[cls] for cls in type(exc).__mro__ if cls in TRANSPORT_ERRORS), _MAYBE_PROCESSED)
    # httpx messages name the host and the failure, never headers or bodies.
    message = f"{operation}: {type(exc).__name__}: {exc}"
    if meaning == _BROKEN:
        return CesceProtocolError(message, operation=operation)
    return CesceTransientError(message, outcome_unknown=meaning == _MAYBE_PROCESSED, operation=operation)


class Answer(Protocol):
    """What is read of an answer: `Answered`, or an ``httpx.Response`` (the token endpoint's, a test transport's)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class _Host(Protocol):
    @property
    def scheme(self) -> str: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...


class Request(Protocol):
    """What `send` reads of a request for its span: a `Call`, or an ``httpx.Request`` (the token endpoint's)."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> _Host: ...


Exchange = Callable[[Call], Awaitable[Answer]]
"""One API call out, its answer read whole: `direct(transport)`."""

RequestT = TypeVar("RequestT", bound=Request)
AnswerT = TypeVar("AnswerT", bound=Answer)


def direct(transport: httpx.AsyncBaseTransport) -> Exchange:
    """API calls straight to `transport`, without what ``httpx.AsyncClient`` adds around a request that these calls
    never use: cookies (extracted from every answer through a urllib request built for it), auth flows, redirects,
    event hooks (at 64 in flight about a third of the HTTP stack's CPU per request, issue 18). On the pooled
    transport no httpx object is built at all (`PooledTransport.exchange`); any other transport (a test's
    ``httpx.MockTransport``) gets the call as an ``httpx.Request``. Calls carry their own timeouts."""
    if isinstance(transport, PooledTransport):
        return transport.exchange

    async def exchange(call: Call) -> Answer:
        request = call.as_httpx()
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    return exchange


async def send(
    exchange: Callable[[RequestT], Awaitable[AnswerT]], request: RequestT, operation: str, *, route: str
) -> AnswerT:
    """Send one request (`route`: its path template, for the span); httpx exceptions leave as Cesce errors."""
    attributes: Attributes = {
        http_attributes.HTTP_REQUEST_METHOD: request.method,
        server_attributes.SERVER_ADDRESS: request.url.host,
        server_attributes.SERVER_PORT: request.url.port or (443 if request.url.scheme == "https" else 80),
        "url.template": route,
        "cesce.operation": operation,
    }
    started = time.monotonic()
    status = "none"
    with TRACER.start_as_current_span(
        f"{request.method} {route}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as span:
        try:
            response = await exchange(request)
        except httpx.RequestError as exc:
            status = type(exc).__name__
            span.set_attribute(error_attributes.ERROR_TYPE, status)
            span.set_status(StatusCode.ERROR, status)
            raise translate_transport_error(exc, operation) from exc
        else:
            status = str(response.status_code)
            span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, response.status_code)
            if response.status_code >= 400:
                span.set_attribute(error_attributes.ERROR_TYPE, status)
                span.set_status(StatusCode.ERROR, status)
            return response
        finally:
            CESCE_DURATION.record(time.monotonic() - started, {"operation": operation, "status": status})
            # one line per exchange, in the record's trace: a refusal or a failure at INFO, an answered call at DEBUG
            # (at hundreds of calls a second the line cost ~9% of the worker's CPU; spans and metrics count them)
            level = logging.DEBUG if status.isdigit() and int(status) < 400 else logging.INFO
            _log.log(level, "cesce %s: %s %s: %s", operation, request.method, route, status)


def _error_fields(payload: Mapping[str, Any], operation: str, status: int) -> tuple[str | None, str | None]:
    """``(errorCode, errorDescription)`` of a Cesce answer, or ``(error, error_description)`` of OAuth."""
    error = payload.get("error")
    if error is None:
        return None, None
    if isinstance(error, str):  # OAuth: {"error": "invalid_grant", "error_description": "..."}
        description = payload.get("error_description")
        return error, description if isinstance(description, str) else None
    if isinstance(error, Mapping):
        code, description = error.get("errorCode"), error.get("errorDescription")
        if isinstance(code, str | int | None) and isinstance(description, str | None):
            return (None if code is None else str(code)), description
    raise CesceProtocolError(
        f"{operation}: HTTP {status} answer has a malformed 'error'", operation=operation, http_status=status
    )


def decode_answer(response: Answer, operation: str, *, token_endpoint: bool = False) -> dict[str, Any]:
    """The JSON object of a successful answer; otherwise raise the error it stands for.

    On the token endpoint every refusal that is not transient is an authentication error: the
    credentials or the refresh token are wrong, and retrying will not fix them.
    """
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:  # not JSON, or not UTF-8
        payload = None
    if isinstance(payload, dict):
        code, description = _error_fields(payload, operation, status)
        kind = classify(status, code, description)
        if kind is None:
            return payload
    else:
        code = description = None
        kind = classify(status, None, None)
        if kind is None or kind is ErrorKind.BUSINESS:
            # Success or a rejection we cannot read: neither can be acted on.
            raise CesceProtocolError(
                f"{operation}: HTTP {status} answer is not a JSON object", operation=operation, http_status=status
            )
    if token_endpoint and kind is not ErrorKind.TRANSIENT:
        kind = ErrorKind.AUTHENTICATION
    raise error_for(
        kind,
        operation=operation,
        http_status=status,
        error_code=code,
        error_description=description,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def parse_answer(model: type[M], value: object, operation: str) -> M:
    """`model` from a part of an answer; any shape problem is a `CesceProtocolError`."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or model.__name__}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:3]
        )
        raise CesceProtocolError(
            f"{operation}: answer not in the documented shape: {problems}", operation=operation
        ) from exc


def parse_results(model: type[M], answer: Mapping[str, Any], operation: str) -> list[M]:
    """The ``result`` list of an answer, each item a `model`."""
    result = answer.get("result")
    if not isinstance(result, list):
        raise CesceProtocolError(f"{operation}: answer has no 'result' list", operation=operation)
    return [parse_answer(model, item, operation) for item in result]


def json_body(body: Mapping[str, Any]) -> bytes:
    """A request body as httpx's ``json=`` writes it: UTF-8, compact, no NaN."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class TokenSource(Protocol):
    """What `CesceHttp` needs from the OAuth2 side (`workers.cesce.auth.TokenManager`)."""

    async def access_token(self) -> str: ...

    def invalidate(self, access_token: str) -> None: ...


class CesceHttp:
    """Sends authorised, validated, retried calls to one Cesce API path under a contract."""

    def __init__(
        self,
        exchange: Exchange,
        settings: CesceSettings,
        tokens: TokenSource,
        retry: RetryPolicy,
        throttle: Throttle | None = None,
    ) -> None:
        self._exchange = exchange
        self._settings = settings
        self._timeout = httpx.Timeout(settings.timeout_seconds).as_dict()
        self._urls: dict[str, yarl.URL] = {}  # parsed once per path and contract: parsing is a tenth of a request
        self._tokens = tokens
        self._retry = retry
        self._throttle = throttle or Throttle()  # this process's own, learned from the 429s

    def __repr__(self) -> str:
        return f"CesceHttp(base_url={self._settings.base_url!r})"

    async def get(
        self, api: CesceApi, path: str, contract_no: str, *, operation: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET ``{api}{path}`` with ``languageCode`` and `params`; reads are always safe to repeat."""
        query = {"languageCode": self._settings.language_code, **(params or {})}
        return await self._call("GET", api, path, contract_no, operation, params=query, idempotent=True)

    async def post(
        self,
        api: CesceApi,
        path: str,
        contract_no: str,
        *,
        operation: str,
        sections: Mapping[str, Mapping[str, Any]],
        idempotent: bool,
    ) -> dict[str, Any]:
        """POST ``{"client": {"languageCode"}, **sections}``; `idempotent` says whether a lost answer may be resent."""
        body = {"client": {"languageCode": self._settings.language_code}, **sections}
        return await self._call("POST", api, path, contract_no, operation, body=body, idempotent=idempotent)

    async def records(
        self,
        model: type[M],
        api: CesceApi,
        path: str,
        contract_no: str,
        *,
        operation: str,
        cursor: str,
        last: str,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[M]:
        """Every ``result`` item as a `model`, following ``paginationData[cursor]`` until it is `last` or absent."""
        position: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params or {})
            if position is not None:
                query[cursor] = position
            answer = await self.get(api, path, contract_no, operation=operation, params=query)
            for item in parse_results(model, answer, operation):
                yield item
            pagination = answer.get("paginationData") or {}
            following = pagination.get(cursor) if isinstance(pagination, Mapping) else None
            if following is None or str(following).strip() in ("", last):
                return
            position = str(following).strip()
            if position in seen:
                raise CesceProtocolError(f"{operation}: {cursor} {position!r} came back twice", operation=operation)
            seen.add(position)

    async def _call(
        self,
        method: str,
        api: CesceApi,
        path: str,
        contract_no: str,
        operation: str,
        *,
        idempotent: bool,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._settings.check_scope(method, path, operation)  # a scope the token lacks: refused before sending
        check_contract_no(contract_no, operation=operation)
        check_fields(body if body is not None else params or {}, operation=operation)
        url = self._settings.api_url(api) + path.format(contractNo=contract_no)
        route = f"/{api.value}{path}"

        async def attempt() -> dict[str, Any]:
            return await self._authorised(method, url, route, operation, params=params, body=body)

        return await self._retry.run(attempt, idempotent=idempotent, operation=operation)

    def _url(self, url: str, params: Mapping[str, str] | None) -> yarl.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = yarl.URL(url)
        return parsed.with_query(params) if params else parsed

    async def _authorised(
        self,
        method: str,
        url: str,
        route: str,
        operation: str,
        *,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """One attempt; a 401 (token revoked or expired early) earns one renewal and one resend."""

        address = self._url(url, params)
        content = None if body is None else json_body(body)

        async def signed(token: str) -> Answer:
            headers = {
                "Accept": "application/json",
                "Authorization": f"Bearer {token}",
                CLIENT_ID_HEADER: self._settings.client_id,
            }
            if content is not None:
                headers["Content-Type"] = "application/json"
            call = Call(method, address, headers, content, self._timeout)
            async with self._throttle.turn() as turn:
                response = await send(self._exchange, call, operation, route=route)
                turn.answered(response.status_code, response.headers.get("Retry-After"))
            return response

        token = await self._tokens.access_token()
        response = await signed(token)
        if response.status_code == 401:
            _log.info("cesce %s: HTTP 401, renewing the access token once", operation)
            self._tokens.invalidate(token)
            response = await signed(await self._tokens.access_token())
        return decode_answer(response, operation)
