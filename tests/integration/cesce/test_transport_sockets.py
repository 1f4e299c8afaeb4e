"""The Cesce transport over real sockets: connections are reused, bounded, expired, and replaced when the server
closed them (a loopback HTTP/1.1 server that counts the connections it accepts)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import yarl

from workers.cesce.transport import Call, PooledTransport

pytestmark = pytest.mark.integration

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class _Server:
    close_after_answer: bool = False
    accepted: int = 0
    answered: int = 0
    port: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # each request's head and body

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                self.requests.append((head, await reader.readexactly(int(length[1])) if length else b""))
                await asyncio.sleep(0.005)  # a little latency, so concurrent calls overlap
                writer.write(_ANSWER)
                await writer.drain()
                self.answered += 1
                if self.close_after_answer:  # as a server whose idle timeout struck, without saying so
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[_Server]:
    state = _Server()
    listening = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield state
        for writer in state.writers:
            writer.close()


def _client(server: _Server, *, connections: int = 8, keepalive: float = 30.0) -> httpx.AsyncClient:
    transport = PooledTransport(verify=True, max_connections=connections, keepalive_seconds=keepalive)
    return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{server.port}", timeout=5.0)


async def test_connections_are_kept_and_reused_up_to_the_bound(server: _Server) -> None:
    async with _client(server, connections=32) as client:
        for _ in range(5):
            answers = await asyncio.gather(*(client.get("/x") for _ in range(32)))
            assert {answer.status_code for answer in answers} == {200}
    assert server.answered == 160
    # httpx's default pool (httpcore 1.0.9) closes every connection that goes idle beyond 20 open and opens
    # new ones for the next calls; here every round reuses the first 32
    assert server.accepted == 32


async def test_an_idle_connection_expires_after_keepalive_seconds(server: _Server) -> None:
    async with _client(server, connections=2, keepalive=0.2) as client:
        await client.get("/x")
        await client.get("/x")
        assert server.accepted == 1
        await asyncio.sleep(0.5)
        await client.get("/x")
    assert server.accepted == 2


async def test_a_connection_the_server_closed_is_replaced_not_failed(server: _Server) -> None:
    server.close_after_answer = True
    async with _client(server, connections=2) as client:
        for _ in range(3):
            answer = await client.get("/x")
            assert answer.status_code == 200
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection sits idle in the pool
    assert (server.accepted, server.answered) == (3, 3)


async def test_a_refused_connection_is_httpx_connect_error() -> None:
    transport = PooledTransport(verify=True, max_connections=1, keepalive_seconds=1.0)
    async with httpx.AsyncClient(transport=transport, timeout=2.0) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/")  # the discard port: nothing listens on loopback


async def test_a_call_goes_out_as_written_and_its_answer_comes_back_whole(server: _Server) -> None:
    transport = PooledTransport(verify=True, max_connections=1, keepalive_seconds=1.0)
    call = Call(
        "POST",
        yarl.URL(f"http://127.0.0.1:{server.port}/sales/v1/contracts/1/sales").with_query({"languageCode": "ES"}),
        {"Accept": "application/json", "Content-Type": "application/json", "X-Client-Id": "app"},
        '{"amount":"1234.56","name":"Peña"}'.encode(),
        httpx.Timeout(5.0).as_dict(),
    )
    try:
        answered = await transport.exchange(call)
    finally:
        await transport.aclose()
    ((head, body),) = server.requests
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /sales/v1/contracts/1/sales?languageCode=ES HTTP/1.1"
    fields = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:] if line)}
    assert fields["host"] == f"127.0.0.1:{server.port}"
    assert (fields["content-type"], fields["accept"], fields["x-client-id"]) == ("application/json",) * 2 + ("app",)
    assert int(fields["content-length"]) == len(body)
    assert body == call.content
    assert "user-agent" not in fields
    assert "accept-encoding" not in fields
    assert (answered.status_code, answered.headers["content-type"], answered.json()) == (200, "application/json", {})
