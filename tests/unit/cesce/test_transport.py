"""The Cesce transport's exception mapping: every aiohttp error leaves as an httpx error, and what it says about
the request (never sent, or maybe processed) is what happened on the wire."""

from __future__ import annotations

import gzip
import inspect
import json
import ssl
import zlib

import aiohttp
import httpx
import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from tests.unit.cesce.fakes import FakeCesce, answer, client_for
from tests.unit.cesce.test_client_sales import BASE, CONTRACT, SALE
from workers.cesce.errors import CesceProtocolError, CesceTransientError
from workers.cesce.http import direct, translate_transport_error
from workers.cesce.transport import Answered, Call, PooledTransport, _as_httpx_errors, _timeout, httpx_error_for


def _aiohttp_errors() -> list[type[BaseException]]:
    return sorted(
        (
            value
            for value in vars(aiohttp).values()
            if inspect.isclass(value) and issubclass(value, aiohttp.ClientError)
        ),
        key=lambda cls: cls.__name__,
    )


@pytest.mark.parametrize("error", _aiohttp_errors(), ids=lambda cls: cls.__name__)
def test_every_aiohttp_error_has_an_httpx_class(error: type[BaseException]) -> None:
    assert httpx_error_for(error.__new__(error)) is not None


_CONNECTION = aiohttp.client_reqrep.ConnectionKey("cesce.example", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "outcome_unknown"),
    [
        (aiohttp.ClientConnectorError(_CONNECTION, ConnectionRefusedError(111, "refused")), False),
        (aiohttp.ClientConnectorDNSError(_CONNECTION, OSError(-2, "Name or service not known")), False),
        (aiohttp.ClientConnectorCertificateError(_CONNECTION, ssl.SSLCertVerificationError("bad cert")), False),
        (aiohttp.ClientProxyConnectionError(_CONNECTION, OSError(111, "refused")), False),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), False),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), True),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), True),
        (aiohttp.ClientConnectionResetError("Cannot write to closing transport"), True),
        (TimeoutError(), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_what_each_error_says_about_the_request(error: BaseException, outcome_unknown: bool) -> None:
    with pytest.raises(httpx.TransportError) as raised, _as_httpx_errors():
        raise error
    assert raised.value.__cause__ is error
    translated = translate_transport_error(raised.value, "sales.declare")
    assert isinstance(translated, CesceTransientError)
    assert translated.outcome_unknown is outcome_unknown


def test_a_url_aiohttp_refuses_is_a_protocol_error() -> None:
    with pytest.raises(httpx.UnsupportedProtocol) as raised, _as_httpx_errors():
        raise aiohttp.NonHttpUrlClientError("ftp://cesce.example")
    assert isinstance(translate_transport_error(raised.value, "sales.declare"), CesceProtocolError)


def test_other_exceptions_pass_unchanged() -> None:
    with pytest.raises(KeyError), _as_httpx_errors():
        raise KeyError("not a transport error")


def test_httpx_timeouts_become_aiohttp_timeouts() -> None:
    timeout = _timeout({"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 2.0})
    assert (timeout.total, timeout.connect, timeout.sock_connect, timeout.sock_read) == (None, 7.0, 5.0, 30.0)
    unbounded = _timeout({"connect": None, "read": None, "write": None, "pool": None})
    assert (unbounded.connect, unbounded.sock_connect, unbounded.sock_read) == (None, None, None)
    assert _timeout({}).sock_read is None


_CALL = Call(
    "POST",
    yarl.URL("https://cesce.example/sales/v1/x?languageCode=ES"),
    {"Accept": "application/json", "Content-Type": "application/json"},
    b'{"a":1}',
    httpx.Timeout(7.5).as_dict(),
)


async def test_direct_hands_a_call_to_an_httpx_transport_as_a_request_and_reads_the_answer_whole() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Set-Cookie": "session=x"}, json={"result": {"statusCode": "5"}})

    response = await direct(httpx.MockTransport(handler))(_CALL)
    (request,) = seen
    assert (request.method, str(request.url), request.content) == ("POST", str(_CALL.url), b'{"a":1}')
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
    assert isinstance(response, httpx.Response)
    assert response.is_closed
    assert response.json() == {"result": {"statusCode": "5"}}


def test_the_pooled_transport_takes_calls_without_httpx_objects() -> None:
    transport = PooledTransport(verify=True, max_connections=1, keepalive_seconds=1.0)
    assert direct(transport) == transport.exchange


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity", None])
def test_an_answer_is_read_as_json_after_its_content_encoding(encoding: str | None) -> None:
    document = {"error": {"errorCode": "0", "errorDescription": ""}, "result": {"saleId": "12"}}
    body = json.dumps(document).encode()
    compress = {"gzip": gzip.compress, "deflate": zlib.compress}.get(encoding or "", lambda data: data)
    headers = CIMultiDictProxy(CIMultiDict({"Content-Encoding": encoding} if encoding else {}))
    assert Answered(200, headers, compress(body)).json() == document


def test_an_answer_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        Answered(502, CIMultiDictProxy(CIMultiDict()), b"<html>bad gateway</html>").json()


async def test_api_calls_carry_the_timeout_and_the_documented_headers() -> None:
    fake = FakeCesce()
    fake.route("GET", f"{BASE}/sale", answer(generalData=SALE))
    async with client_for(fake, timeout_seconds=7.5) as client:
        await client.sales.get(CONTRACT, sale_cesce_reference_no="200000000001")
    (request,) = fake.api_requests
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer ")


def test_the_environment_proxy_is_looked_up_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "sandbox.example")
    transport = PooledTransport(verify=True, max_connections=1, keepalive_seconds=1.0)
    proxy, _ = transport._proxy(yarl.URL("https://api.cesce.example/sales/v1/x"))
    assert proxy == yarl.URL("http://proxy.example:3128")
    assert transport._proxy(yarl.URL("https://sandbox.example/sales/v1/x")) == (None, None)
    monkeypatch.delenv("HTTPS_PROXY")
    assert transport._proxy(yarl.URL("https://api.cesce.example/other"))[0] == proxy  # the origin's, cached
