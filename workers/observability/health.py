"""Health for Kubernetes probes, and the HTTP endpoint that serves them with the Prometheus metrics.

- ``GET /healthz`` (liveness): 200 while the event loop's heartbeat is fresh. A loop blocked or
  stuck for `stall_seconds` answers 503, so Kubernetes restarts the pod.
- ``GET /readyz`` (readiness): 200 when every readiness check passes, run on the event loop:
  each engine has its partition assignment (possibly empty: more replicas than partitions) and
  sees a broker up, and each Cesce client can get an access token. 503 with the reasons otherwise.
- ``GET /metrics``: the Prometheus text format of the process's metrics.

The server runs on its own thread (`ThreadingHTTPServer`), so a probe is answered even when the
loop is not: that is what makes a stuck loop visible. Answers are JSON and name checks, never
settings or secrets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Health", "HealthServer", "ReadinessCheck"]

_log = logging.getLogger(__name__)

_CHECK_SECONDS = 5.0

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""None when ready, else what is missing (a short sentence, no secrets)."""


class Health:
    """The process's liveness (a heartbeat from the loop) and its readiness checks."""

    def __init__(self, *, stall_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_seconds = stall_seconds
        self._clock = clock
        self._beat = clock()
        self._checks: dict[str, ReadinessCheck] = {}

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    def remove_check(self, name: str) -> None:
        self._checks.pop(name, None)

    def beat(self) -> None:
        self._beat = self._clock()

    async def heartbeat(self, interval: float = 0.1, *, lag: Callable[[float], None] | None = None) -> None:
        """Beat from the loop until cancelled; `lag` is told, after each beat, how late the loop woke for it."""
        loop = asyncio.get_running_loop()
        while True:
            self.beat()
            due = loop.time() + interval
            await asyncio.sleep(interval)
            if lag is not None:
                lag(max(0.0, loop.time() - due))

    def alive(self) -> tuple[bool, str]:
        silent = self._clock() - self._beat
        if silent > self._stall_seconds:
            return False, f"event loop silent for {silent:.0f}s"
        return True, "ok"

    async def ready(self) -> dict[str, str]:
        """Each check's answer (``ok`` or what is missing); a check that fails or hangs (5 s) says so."""

        async def run(check: ReadinessCheck) -> str:
            try:
                async with asyncio.timeout(_CHECK_SECONDS):
                    return await check() or "ok"
            except TimeoutError:
                return f"no answer within {_CHECK_SECONDS:.0f}s"
            except Exception as exc:
                return f"check failed: {type(exc).__name__}"

        names = list(self._checks)
        answers = await asyncio.gather(*(run(self._checks[name]) for name in names))
        return dict(zip(names, answers, strict=True))


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on `host`:`port` (0: a free port, see `port`)."""

    def __init__(self, health: Health, registry: CollectorRegistry, host: str, port: int) -> None:
        """Binds the port at once (an `OSError` when it is taken); `start` serves it."""
        self._health = health
        self._loop: asyncio.AbstractEventLoop | None = None
        self._registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve, running the readiness checks on `loop`."""
        self._loop = loop
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def _readiness(self) -> tuple[int, dict[str, Any]]:
        if self._loop is None:
            return 503, {"ready": False, "checks": {"loop": "not started"}}
        try:
            checks = asyncio.run_coroutine_threadsafe(self._health.ready(), self._loop).result(timeout=10)
        except (FutureTimeout, RuntimeError) as exc:
            return 503, {"ready": False, "checks": {"loop": f"no answer ({type(exc).__name__})"}}
        ready = all(answer == "ok" for answer in checks.values())
        return (200 if ready else 503), {"ready": ready, "checks": checks}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    alive, reason = server._health.alive()
                    self._json(200 if alive else 503, {"alive": alive, "reason": reason})
                elif self.path == "/readyz":
                    self._json(*server._readiness())
                elif self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(server._registry))
                else:
                    self._json(404, {"error": "not found", "paths": ["/healthz", "/readyz", "/metrics"]})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, "application/json", json.dumps(body).encode())

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                _log.debug("health endpoint: " + format, *args)

        return Handler
