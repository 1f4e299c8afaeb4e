"""CPU per request of the HTTP stacks the Cesce client could stand on, at the worker's concurrency.

    .venv/bin/python -m benchmarks.bench_transport [--requests 6000] [--in-flight 64] [--rounds 3]

A loopback HTTP/1.1 server (asyncio on uvloop, in a spawned process, 5 ms per answer, keep-alive)
answers small JSON documents like Cesce's; this process sends `--requests` POSTs of a sale-sized JSON body
with `--in-flight` of them in the air, on uvloop, and reads each answer as JSON, through:

- ``httpx (httpcore 1.0.9)``: httpx's default transport, 64 connections allowed and kept;
- ``httpx2 (httpcore2)``: pydantic's continuation of httpx, whose pool fixed httpcore 1.0.9's;
- ``httpx client over aiohttp``: `workers.cesce.transport.PooledTransport` under ``httpx.AsyncClient``,
  as `CesceClient` sends its token requests;
- ``a Call, direct (ours)``: a `workers.cesce.transport.Call` on a parsed URL, its JSON body written per
  request, handed to the same transport by `workers.cesce.http.direct`, as `CesceHttp` sends the API calls
  (no httpx request or response, no cookies, auth flow, redirects, hooks);
- ``aiohttp alone``: the floor, aiohttp's own client without httpx's request and response models.

Each round runs every stack once, in turn (so a slow patch of the machine touches them all), after a
warm-up of 200 requests; CPU is ``time.process_time()`` of this process over the timed requests, so it is
the client's alone. Results: ``benchmarks/results/transport.json``, medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import httpx
import httpx2
import uvloop
import yarl

from workers.cesce.http import direct, json_body
from workers.cesce.transport import Call, PooledTransport

__all__ = ["main"]

RESULTS_FILE: Final = Path(__file__).parent / "results" / "transport.json"
_BODY: Final = {
    "client": {"languageCode": "ES"},
    "sale": {
        "customerReference": "CLI-0001",
        "invoiceNo": "F-2026-000123",
        "invoiceDate": "20261102",
        "maturityDate": "20270102",
        "currencyAmount": "1234,50",
        "currencyCode": "EUR",
    },
}
_ANSWER_BODY: Final = b'{"result": {"statusCode": 5, "endorsementNo": "123456789", "requestNo": "4400012345"}}'
_ANSWER: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(_ANSWER_BODY)
    + _ANSWER_BODY
)

Post = Callable[[str], Awaitable[None]]


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            await asyncio.sleep(0.005)
            writer.write(_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _serve(port: Any) -> None:
    async def serve() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=1024)
        port.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


async def _timed(post: Post, url: str, requests: int, in_flight: int) -> float:
    """CPU seconds per request over `requests` posts, `in_flight` at a time, after a warm-up."""
    turns = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with turns:
            await post(url)

    await asyncio.gather(*(one() for _ in range(200)))
    gc.collect()
    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    return (time.process_time() - started) / requests


async def _stack(name: str, url: str, requests: int, in_flight: int) -> float:
    if name == "aiohttp alone":
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

            async def raw(target: str) -> None:
                async with session.post(target, json=_BODY) as answer:
                    await answer.json()

            return await _timed(raw, url, requests, in_flight)
    if name == "httpx2 (httpcore2)":
        limits2 = httpx2.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx2.AsyncClient(limits=limits2) as client2:

            async def second(target: str) -> None:
                (await client2.post(target, json=_BODY)).json()

            return await _timed(second, url, requests, in_flight)
    if name == "a Call, direct (ours)":
        wire = PooledTransport(verify=True, max_connections=in_flight, keepalive_seconds=30.0)
        exchange = direct(wire)
        parsed = yarl.URL(url)
        timeout = httpx.Timeout(30.0).as_dict()
        try:

            async def lean(_target: str) -> None:
                body = json_body(_BODY)  # written per request, as CesceHttp writes it
                headers = {"Accept": "application/json", "Content-Type": "application/json"}
                (await exchange(Call("POST", parsed, headers, body, timeout))).json()

            return await _timed(lean, url, requests, in_flight)
        finally:
            await wire.aclose()
    if name == "httpx client over aiohttp":
        transport: httpx.AsyncBaseTransport = PooledTransport(
            verify=True, max_connections=in_flight, keepalive_seconds=30.0
        )
    else:
        transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        )
    async with httpx.AsyncClient(transport=transport) as client:

        async def first(target: str) -> None:
            (await client.post(target, json=_BODY)).json()

        return await _timed(first, url, requests, in_flight)


STACKS: Final = (
    "httpx (httpcore 1.0.9)",
    "httpx2 (httpcore2)",
    "httpx client over aiohttp",
    "a Call, direct (ours)",
    "aiohttp alone",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_transport", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=6000, help="timed requests per stack and round")
    parser.add_argument("--in-flight", type=int, default=64, help="requests in the air (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, every stack once in each (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    context = multiprocessing.get_context("spawn")
    port = context.Value("i", 0)
    server = context.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        while not port.value:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port.value}/sales/v1/sales/34109150331"
        figures: dict[str, list[float]] = {name: [] for name in STACKS}
        for round_no in range(1, args.rounds + 1):
            for name in STACKS:
                seconds = uvloop.run(_stack(name, url, args.requests, args.in_flight))
                figures[name].append(seconds * 1e6)
                print(f"round {round_no}: {name:28s} {seconds * 1e6:7.0f} us CPU per request", flush=True)
    finally:
        server.terminate()
        server.join(5)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"\nmedian of {args.rounds} rounds, {args.requests} requests, {args.in_flight} in flight:")
    for name, value in medians.items():
        spread = f"{min(figures[name]):.0f}-{max(figures[name]):.0f}"
        print(f"  {name:28s} {value:7.0f} us CPU per request (rounds {spread})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {"cpus": multiprocessing.cpu_count(), "python": platform.python_version()},
                "requests": args.requests,
                "in_flight": args.in_flight,
                "us_cpu_per_request": figures,
                "median_us_cpu_per_request": medians,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
