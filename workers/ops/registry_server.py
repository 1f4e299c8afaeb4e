"""The embedded Schema Registry: Confluent's REST API for Avro schemas, in memory, over HTTP on loopback.

`cesce-worker broker`, the demo and the integration tests start one beside the embedded Kafka, and
every process of that stack (workers, `produce`, `consume`, `dlq`, a consumer written by someone
else with confluent-kafka's ``AvroDeserializer``) reaches it through ``SCHEMA_REGISTRY_URL`` like
a real registry, with the same client code. Ids are assigned once, by the registry, in the order
schemas are registered: the same schema text gets the same id under every subject.

    with EmbeddedRegistry() as registry:
        SchemaRegistryClient({"url": registry.url}).register_schema("s", Schema(text, "AVRO"))

Served, with the request and answer shapes and the error codes of Confluent's API reference
(what confluent-kafka's ``SchemaRegistryClient`` sends and parses)::

    GET    /schemas/ids/{id}[/schema|/subjects|/versions]   GET /schemas/types
    GET    /subjects                                      POST /subjects/{s}   (look up)
    GET    /subjects/{s}/versions                         POST /subjects/{s}/versions   (register)
    GET    /subjects/{s}/versions/{v|latest|-1}[/schema]
    DELETE /subjects/{s}[?permanent=true]                 DELETE /subjects/{s}/versions/{v}[?permanent=true]
    POST   /compatibility/subjects/{s}/versions[/{v}][?verbose=true]
    GET|PUT|DELETE /config  and  /config/{s}              (compatibility levels)

Errors are ``{"error_code": N, "message": "..."}``: 40401 subject, 40402 version, 40403 schema not
found; 40404-40407 the soft/permanent delete sequence; 40408 no subject-level config; 409 a schema
incompatible with the subject's level; 42201 invalid schema, 42202 invalid version, 42203 invalid
level; 404 / 405 for a path or method the API does not have.

Not served: JSON Schema and Protobuf (refused with 42201), schema references, modes, contexts,
metadata and rule sets, exporters, authentication. ``normalize`` and ``format`` are accepted and
ignored. Schema identity is the schema's JSON, parsed and written back compactly (what the real
registry compares and returns), so whitespace does not make a new id but a changed ``doc`` or
default does. Everything is in memory: a stopped registry forgets every schema, and a new one
numbers from 1 again, so nothing may keep ids across its lifetime.

The HTTP side is the standard library's threading server in a daemon thread: requests are a
few small JSON bodies at process start-up (clients cache what they get), the store takes one lock
per request, and `stop` closes kept-alive connections and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from workers.ops.registry_store import RegistryError, SchemaStore, level_of, schema_text

__all__ = ["CONTENT_TYPE", "EmbeddedRegistry", "handle"]

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"
_THREAD_NAME: Final = "cesce-schema-registry"
_log = logging.getLogger(__name__)


# --- the REST API over the store ------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    store: SchemaStore
    params: tuple[str, ...]  # the path's variable segments, percent-decoded
    query: Mapping[str, str]
    body: Any

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"  # the Python client sends True and False too


def _schema_id(request: _Request) -> int:
    text = request.params[0]
    if not re.fullmatch(r"[0-9]{1,10}", text):
        raise RegistryError(404, 404, "HTTP 404 Not Found")  # the real one's path parameter is an int
    return int(text)


def _paged(items: list[Any], request: _Request) -> list[Any]:
    offset = max(int(request.query.get("offset") or 0), 0)
    limit = int(request.query.get("limit") or -1)
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def _deleted_only(request: _Request) -> bool:
    return request.flag("deleted_only") or request.flag("deletedOnly")  # the Python client, the REST reference


def _get_root(request: _Request) -> Any:
    return {}


def _get_types(request: _Request) -> Any:
    return ["AVRO"]


def _get_schema(request: _Request) -> Any:
    return {"schema": request.store.schema(_schema_id(request))}


def _get_schema_only(request: _Request) -> Any:
    return json.loads(request.store.schema(_schema_id(request)))


def _get_schema_subjects(request: _Request) -> Any:
    pairs = request.store.subject_versions_of(_schema_id(request), deleted=request.flag("deleted"))
    return _paged(sorted({subject for subject, _ in pairs}), request)


def _get_schema_versions(request: _Request) -> Any:
    pairs = request.store.subject_versions_of(_schema_id(request), deleted=request.flag("deleted"))
    return _paged([{"subject": subject, "version": version} for subject, version in pairs], request)


def _get_subjects(request: _Request) -> Any:
    prefix = request.query.get("subjectPrefix", "")
    found = request.store.subjects(prefix, deleted=request.flag("deleted"), deleted_only=_deleted_only(request))
    return _paged(found, request)


def _post_lookup(request: _Request) -> Any:
    return request.store.lookup(request.params[0], schema_text(request.body), deleted=request.flag("deleted"))


def _delete_subject(request: _Request) -> Any:
    return request.store.delete_subject(request.params[0], permanent=request.flag("permanent"))


def _get_versions(request: _Request) -> Any:
    subject = request.params[0]
    versions = request.store.versions(subject, deleted=request.flag("deleted"), deleted_only=_deleted_only(request))
    return _paged(versions, request)


def _post_register(request: _Request) -> Any:
    return {"id": request.store.register(request.params[0], schema_text(request.body))}


def _get_version(request: _Request) -> Any:
    subject, version = request.params
    return request.store.version(subject, version, deleted=request.flag("deleted"))


def _get_version_schema(request: _Request) -> Any:
    return json.loads(_get_version(request)["schema"])


def _delete_version(request: _Request) -> Any:
    subject, version = request.params
    return request.store.delete_version(subject, version, permanent=request.flag("permanent"))


def _post_compatibility(request: _Request) -> Any:
    subject, version = request.params[0], (request.params[1:] or (None,))[0]
    messages = request.store.test_compatibility(subject, schema_text(request.body), version)
    answer: dict[str, Any] = {"is_compatible": not messages}
    if request.flag("verbose"):
        answer["messages"] = messages
    return answer


def _get_config(request: _Request) -> Any:
    if not request.params:
        return {"compatibilityLevel": request.store.global_level()}
    subject = request.params[0]
    return {
        "compatibilityLevel": request.store.subject_level(subject, default_to_global=request.flag("defaultToGlobal"))
    }


def _put_config(request: _Request) -> Any:
    level = level_of(request.body)
    if request.params:
        request.store.set_subject_level(request.params[0], level)
    else:
        request.store.set_global_level(level)
    return {"compatibility": level}


def _delete_config(request: _Request) -> Any:
    if request.params:
        return {"compatibilityLevel": request.store.delete_subject_level(request.params[0])}
    return {"compatibilityLevel": request.store.reset_global_level()}


_S: Final = r"([^/]+)"  # one path segment, still percent-encoded
_ROUTES: Final[Mapping[str, Mapping[str, Callable[[_Request], Any]]]] = {
    "": {"GET": _get_root},
    "schemas/types": {"GET": _get_types},
    f"schemas/ids/{_S}": {"GET": _get_schema},
    f"schemas/ids/{_S}/schema": {"GET": _get_schema_only},
    f"schemas/ids/{_S}/subjects": {"GET": _get_schema_subjects},
    f"schemas/ids/{_S}/versions": {"GET": _get_schema_versions},
    "subjects": {"GET": _get_subjects},
    f"subjects/{_S}": {"POST": _post_lookup, "DELETE": _delete_subject},
    f"subjects/{_S}/versions": {"GET": _get_versions, "POST": _post_register},
    f"subjects/{_S}/versions/{_S}": {"GET": _get_version, "DELETE": _delete_version},
    f"subjects/{_S}/versions/{_S}/schema": {"GET": _get_version_schema},
    f"compatibility/subjects/{_S}/versions": {"POST": _post_compatibility},
    f"compatibility/subjects/{_S}/versions/{_S}": {"POST": _post_compatibility},
    "config": {"GET": _get_config, "PUT": _put_config, "DELETE": _delete_config},
    f"config/{_S}": {"GET": _get_config, "PUT": _put_config, "DELETE": _delete_config},
}
_PATTERNS: Final = [(re.compile(path), methods) for path, methods in _ROUTES.items()]


def handle(store: SchemaStore, method: str, target: str, body: bytes) -> tuple[int, Any]:
    """One request of the REST API: (HTTP status, JSON answer). No sockets: the HTTP handler's whole job."""
    parts = urlsplit(target)
    path = parts.path.strip("/")
    found = next(((m, methods) for pattern, methods in _PATTERNS if (m := pattern.fullmatch(path))), None)
    if found is None:
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
    match, methods = found
    route = methods.get(method)
    if route is None:
        return 405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError as exc:
        return 400, {"error_code": 400, "message": f"Unrecognized request body: {exc}"}
    query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    request = _Request(store, tuple(unquote(p) for p in match.groups()), query, parsed)
    try:
        return 200, route(request)
    except RegistryError as exc:
        return exc.status, {"error_code": exc.code, "message": exc.message}


# --- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends its start-up requests on one connection
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, answer = handle(self.server.store, self.command, self.path, body)
        except Exception:  # a defect here must answer, not hang the client until its timeout
            _log.exception("embedded schema registry: %s %s failed", self.command, urlsplit(self.path).path)
            status, answer = 500, {"error_code": 50001, "message": "Internal error of the embedded schema registry"}
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("embedded schema registry: " + format, *args)


class _Server(ThreadingHTTPServer):
    """Keeps the connections it serves, so `close_connections` can end kept-alive ones at stop."""

    daemon_threads = False  # server_close() joins every request thread
    store: SchemaStore

    def __init__(self, address: tuple[str, int], store: SchemaStore) -> None:
        self.store = store
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class EmbeddedRegistry:
    """A Schema Registry on `host`:`port` (an ephemeral port by default), in memory, for as long as it runs.

        with EmbeddedRegistry() as registry:
            os.environ["SCHEMA_REGISTRY_URL"] = registry.url

    `store` is its state, for tests that look behind the API. `stop` ends open connections and
    joins every thread it started; a stopped registry forgets everything.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.store = SchemaStore()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; only while running."""
        if self._server is None:
            raise RuntimeError(
                "the embedded schema registry is not running: call start() or use it as a context manager"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> EmbeddedRegistry:
        """Listen, serve in a thread of its own, and return once requests are answered."""
        if self._server is not None:
            raise RuntimeError("the embedded schema registry is already running")
        server = _Server((self.host, self.port), self.store)
        thread = threading.Thread(target=server.serve_forever, name=_THREAD_NAME, daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, join every thread. Idempotent."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self.store = SchemaStore()

    def __enter__(self) -> EmbeddedRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedRegistry({self.url if self.running else 'stopped'})"
