"""The wire under the Cesce client: httpx's API over aiohttp's connection pool.

httpx's default transport (httpcore 1.0.9) defeats keep-alive at our concurrency and costs most of a
worker's CPU (issue 18, py-spy on the invoices benchmark): it closes every connection that goes idle once
more than ``max_keepalive_connections`` are open (it counts all connections where it means the idle ones),
and, told to keep them, asks every idle socket whether it is readable on each pool event. httpcore2 fixed
the pool but keeps the cost of a pure-Python HTTP/1.1 stack over anyio: about 0.8-1.0 ms of CPU per request
at 64 in flight against 0.36 ms here and 1.5-1.8 ms for httpcore 1.0.9 (`benchmarks/bench_transport.py`).
aiohttp parses HTTP in C (llhttp), runs on asyncio's transports directly, and keeps idle connections with
a timer instead of polling them.

Two doors onto one pool. The API calls come in as a `Call` (`exchange`) and leave as an `Answered`: building
an httpx request and response around each call cost 33 us against about 6 (issue 18: httpx's `Request` alone
was 4.8% of an engine's profile at 20 ms).
The token endpoint's requests come through httpx (`httpx.AsyncClient`, its form encoding and timeouts:
`handle_async_request`), as do a test's through `httpx.MockTransport`. Either way the exceptions are httpx's:
aiohttp's are mapped here to the httpx classes `workers.cesce.http.TRANSPORT_ERRORS` decides on, and the
mapping is the one place that says whether a request may have reached Cesce:

- nothing sent: the connection could not be had (refused, DNS, TLS, a connect or pool timeout);
- maybe processed: the connection broke or timed out after the request was written (a reset, the server
  closing it, a read timeout, a body cut short).

Cesce's answers are small JSON documents, so the body is read here, inside the mapping, and handed over
whole; a body with a Content-Encoding is decoded as httpx decodes it (`Answered.json`). Proxies from the
environment (``HTTPS_PROXY``, ``NO_PROXY``) are aiohttp's to honour, as httpx would have.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import httpx
import yarl
from aiohttp.helpers import get_env_proxy_for_url

__all__ = ["Answered", "Call", "PooledTransport"]

_EXCEPTIONS: Final[tuple[tuple[type[BaseException], type[httpx.TransportError]], ...]] = (
    # first match wins: subclasses before their bases
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake or certificate
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # no connection within the pool/connect timeout
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # a body cut short or badly framed
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # an answer aiohttp could not parse
    (aiohttp.ClientConnectionResetError, httpx.ReadError),
    (aiohttp.ClientOSError, httpx.ReadError),  # the socket failed after it was connected
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.RemoteProtocolError),  # any other: treated as maybe processed
    (TimeoutError, httpx.ReadTimeout),
)
"""aiohttp's exceptions as httpx would raise them (a test walks aiohttp's exception tree against it)."""


def httpx_error_for(error: BaseException) -> type[httpx.TransportError] | None:
    """The httpx class `error` stands for; None when it is not a transport error."""
    return next((mapped for cls, mapped in _EXCEPTIONS if isinstance(error, cls)), None)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        mapped = httpx_error_for(exc) or httpx.RemoteProtocolError  # every one has a row: the last two catch all
        raise mapped(str(exc) or type(exc).__name__) from exc


def _timeout(values: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (``httpx.Timeout.as_dict()``) in aiohttp's terms: waiting for a pooled connection
    or a new one (``pool``, ``connect``), and between reads of the answer (``read``). Writing a request of a few
    hundred bytes goes straight to the socket buffer: aiohttp has no write timeout, and none is needed."""
    connect, pool, read = values.get("connect"), values.get("pool"), values.get("read")
    acquire = None if connect is None and pool is None else (connect or 0.0) + (pool or 0.0)
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as `workers.cesce.http.CesceHttp` makes it: the URL with its query, the headers (a JSON body's
    Content-Type among them), the body, and httpx's timeouts (``httpx.Timeout.as_dict()``)."""

    method: str
    url: yarl.URL
    headers: Mapping[str, str] | list[tuple[str, str]]
    content: bytes | None
    timeout: Mapping[str, float | None]

    def as_httpx(self) -> httpx.Request:
        """The same request for an httpx transport (`workers.cesce.http.direct` of any but this one)."""
        return httpx.Request(
            self.method, str(self.url), headers=self.headers, content=self.content, extensions={"timeout": self.timeout}
        )


class Answered:
    """An answer read whole: its status, its headers (looked up in any case) and its body; what callers read of an
    ``httpx.Response`` under the same names."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not), decoded by its Content-Encoding first as httpx would."""
        if self.headers.get("Content-Encoding", "identity").strip().lower() not in ("identity", ""):
            encoded = httpx.Response(self.status_code, headers=list(self.headers.items()), content=self.content)
            return encoded.json()
        return json.loads(self.content)


class PooledTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to Cesce over at most `max_connections` connections, every one kept alive for
    `keepalive_seconds` after its last answer (set it below the server's idle timeout, so the server never
    closes a connection we are about to reuse). The session is made on the first request, on the loop that
    sends it."""

    def __init__(self, *, verify: bool, max_connections: int, keepalive_seconds: float) -> None:
        self._ssl: ssl.SSLContext | bool = httpx.create_ssl_context(verify=True) if verify else False
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str | None, int | None], tuple[yarl.URL | None, aiohttp.BasicAuth | None]] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_seconds, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes the body by its Content-Encoding, as with its own transport
                trust_env=False,  # the environment's proxies are looked up once per origin (`_proxy`), not per request
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),  # httpx's own
            )
        return self._session

    def _proxy(self, url: yarl.URL) -> tuple[yarl.URL | None, aiohttp.BasicAuth | None]:
        """The proxy for `url`'s origin from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, as httpx would use
        it: looked up at the origin's first request (aiohttp's own lookup runs in a thread at every request)."""
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxies:
            try:
                self._proxies[origin] = get_env_proxy_for_url(url)
            except LookupError:
                self._proxies[origin] = (None, None)
        return self._proxies[origin]

    async def exchange(self, call: Call) -> Answered:
        """Send `call` and read its answer whole; aiohttp's errors leave as httpx's."""
        answer, content = await self._round_trip(call)
        return Answered(answer.status, answer.headers, content)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        timeout = request.extensions.get("timeout")
        url = yarl.URL(str(request.url), encoded=True)
        call = Call(request.method, url, headers, body or None, timeout if isinstance(timeout, Mapping) else {})
        answer, content = await self._round_trip(call)
        return httpx.Response(
            status_code=answer.status,
            headers=list(answer.raw_headers),
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _round_trip(self, call: Call) -> tuple[aiohttp.ClientResponse, bytes]:
        """The answer to `call` (released: its status and headers stay readable) and its body."""
        proxy, proxy_auth = self._proxy(call.url)
        with _as_httpx_errors():
            async with self._open().request(
                call.method,
                call.url,
                proxy=proxy,
                proxy_auth=proxy_auth,
                headers=call.headers,
                data=call.content,
                allow_redirects=False,
                timeout=_timeout(call.timeout),
            ) as answer:
                return answer, await answer.read()

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
