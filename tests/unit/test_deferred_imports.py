"""confluent-kafka's registry client no longer brings authlib, cryptography and joserfc into a worker process at
import; its OAuth bearer option still works, with authlib's real client, once set (workers.deferred_imports).
Each probe runs in a process of its own: what is imported is the process's."""

from __future__ import annotations

import json
import subprocess
import sys

_AT_START = """
import json, sys
import workers.runtime.run, workers.ops.run_command, workers.runtime.serde  # what a worker imports
from confluent_kafka.schema_registry import SchemaRegistryClient
SchemaRegistryClient({"url": "http://127.0.0.1:9"})  # no OAuth option: nothing of authlib is built
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"cryptography", "joserfc"})
print(json.dumps({"heavy": heavy, "stand_in": type(sys.modules["authlib.integrations.httpx_client"]).__name__}))
"""

_WITH_OAUTH = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import workers  # the stand-in first, as in every worker process
from confluent_kafka.schema_registry import SchemaRegistryClient

seen = []

class Endpoints(BaseHTTPRequestHandler):
    def do_POST(self):  # the token endpoint, client_credentials
        form = self.rfile.read(int(self.headers["Content-Length"])).decode()
        seen.append(("token", "grant_type=client_credentials" in form))  # not the form: it holds the secret
        self._answer({"access_token": "t-123", "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self):  # the registry
        seen.append(("registry", self.path.split("?")[0], self.headers.get("Authorization")))
        self._answer(["a-subject"])

    def _answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoints)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}"
client = SchemaRegistryClient({
    "url": url,
    "bearer.auth.credentials.source": "OAUTHBEARER",
    "bearer.auth.client.id": "registry-client",
    "bearer.auth.client.secret": "s3cret",
    "bearer.auth.scope": "schema_registry",
    "bearer.auth.issuer.endpoint.url": url + "/token",
    "bearer.auth.logical.cluster": "lsrc-1",
    "bearer.auth.identity.pool.id": "pool-1",
})
subjects = client.get_subjects()
server.shutdown()
real = sys.modules["authlib.integrations.httpx_client"]
print(json.dumps({"subjects": subjects, "seen": seen, "real": type(real).__name__, "file": real.__file__}))
"""


def _probe(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(done.stdout)
    assert isinstance(found, dict)
    return found


def test_a_worker_process_imports_neither_cryptography_nor_joserfc() -> None:
    found = _probe(_AT_START)
    assert found == {"heavy": [], "stand_in": "_StandIn"}


def test_the_registry_clients_oauth_bearer_option_gets_its_token_with_authlib_once_set() -> None:
    found = _probe(_WITH_OAUTH)
    assert found["subjects"] == ["a-subject"]
    assert found["seen"] == [["token", True], ["registry", "/subjects", "Bearer t-123"]]
    assert found["real"] == "module"
    assert str(found["file"]).endswith("authlib/integrations/httpx_client/__init__.py")
