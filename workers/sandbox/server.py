"""Serving the sandbox over real HTTP with uvicorn: in a background thread, or blocking.

`serve_in_thread` runs uvicorn on its own event loop in a thread, returns once the socket
listens (port 0: an ephemeral port, read back from the socket) and on exit stops it promptly:
held (hung) answers are released at shutdown, and uvicorn's graceful-shutdown timeout cancels
anything else still running. `run` serves in the calling thread until SIGINT or SIGTERM.

uvicorn is configured not to touch the process's logging (``log_config=None``) and to log
warnings and above only, with no access log, so no request line (or token) is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Final

import uvicorn

from workers.sandbox.admin_client import SandboxAdmin
from workers.sandbox.app import create_app
from workers.sandbox.config import SandboxConfig
from workers.sandbox.runtime import SandboxRuntime

__all__ = ["RunningSandbox", "run", "serve_in_thread"]

_STARTUP_TIMEOUT: Final = 15.0
_GRACEFUL_SECONDS: Final = 2
_KEEP_ALIVE_SECONDS: Final = 75
_TICK_SECONDS: Final = 0.1
_POLL_SECONDS: Final = 0.005


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A sandbox that is listening. `base_url` is e.g. ``http://127.0.0.1:54321``."""

    base_url: str
    config: SandboxConfig

    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.base_url)


class _Server(uvicorn.Server):
    """uvicorn's server, told when it listens, quick to notice an exit request, and quiet about signals."""

    def __init__(self, config: uvicorn.Config, runtime: SandboxRuntime, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self._runtime = runtime
        self._on_ready = on_ready
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready(_base_url(self))

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            assert self._wake is not None  # noqa: S101 - set in startup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_SECONDS)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown, but polling for the last connections instead of sleeping a
        fixed 0.1 s first: a test suite starts and stops hundreds of sandboxes. Held (hung)
        answers are released first; what still runs after the graceful timeout is cancelled."""
        self._runtime.stopping.set()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        state = self.server_state
        while (state.connections or state.tasks) and not self.force_exit and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_POLL_SECONDS)  # uvicorn sets no event when its last connection closes
        for task in state.tasks:
            task.cancel(msg="the sandbox is shutting down")
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    def request_exit(self) -> None:
        """Thread-safe: ask the server to stop now."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """SIGINT and SIGTERM stop the server; unlike uvicorn's, they are not raised again afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.force_exit = self.should_exit  # a second signal skips the graceful wait
        self.request_exit()


def _base_url(server: uvicorn.Server) -> str:
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(config: SandboxConfig, on_ready: Callable[[str], None]) -> _Server:
    app = create_app(config)
    uvicorn_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        # uvloop and httptools where installed (C): 0.38-0.48 ms of CPU a request against 0.52-0.61 with asyncio and
        # h11, measured; the benchmarks' sandbox shares two cores with the worker they measure (issue 18)
        loop="auto",
        http="auto",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SECONDS,
        # idle connections outlive the clients' keep-alive (CESCE_KEEPALIVE_SECONDS, 30 s), as a gateway's do:
        # uvicorn's 5 s would close connections a client is about to reuse
        timeout_keep_alive=_KEEP_ALIVE_SECONDS,
    )
    return _Server(uvicorn_config, app.state.sandbox, on_ready)


@contextlib.contextmanager
def serve_in_thread(config: SandboxConfig) -> Iterator[RunningSandbox]:
    """Serve in a background thread for the duration of the ``with`` block."""
    ready = threading.Event()
    urls: list[str] = []
    failures: list[BaseException] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    server = _server(config, on_ready)

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:  # SystemExit from a failed bind included; reported below
            failures.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=serve, name="cesce-sandbox", daemon=True)
    thread.start()
    try:
        if not ready.wait(_STARTUP_TIMEOUT) or not urls:
            raise RuntimeError(f"the sandbox did not start on {config.host}:{config.port}") from (
                failures[0] if failures else None
            )
        yield RunningSandbox(urls[0], config)
    finally:
        server.request_exit()
        thread.join(_GRACEFUL_SECONDS + 3)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)


def run(config: SandboxConfig, on_ready: Callable[[str], None]) -> None:
    """Serve in this thread until SIGINT or SIGTERM; `on_ready(base_url)` once listening.

    A second signal skips the graceful wait. If the address cannot be bound, uvicorn logs why and
    this raises `SystemExit(1)`.
    """
    _server(config, on_ready).run()
