"""Fixtures for tests over real sockets: a sandbox on an ephemeral loopback port, tokens for it, a Schema Registry.

`sandbox` is function-scoped: every test gets a fresh sandbox (its own state, clock and faults).
Override `sandbox_config` in a test module (or parametrize it indirectly) for credentials, a
scenario file or faults. `fetch_token` (also the `get_token` fixture) gets a token for any
sandbox; `api` is an authenticated client for the common case (`RawCesce`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workers.cesce.assumptions import CLIENT_ID_HEADER
from workers.ops.registry_server import EmbeddedRegistry
from workers.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.admin_client import shared_tls_context
from workers.sandbox.scenario import read_scenario

ORO = "34109150331"  # the default scenario's Máster Oro Integral
TEST_CLIENT_ID = "test-client"
TEST_CLIENT_SECRET = "test-secret"
TEST_PASSWORD = "test-password"


def fetch_token(
    base_url: str,
    *,
    client_id: str = TEST_CLIENT_ID,
    client_secret: str = TEST_CLIENT_SECRET,
    username: str = "test-user",
    password: str = TEST_PASSWORD,
    scope: str = "create read update delete",
) -> dict[str, Any]:
    """The token endpoint's JSON answer for a password grant; fails the test on a refusal."""
    response = httpx.post(
        f"{base_url}/oauth2/v1/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": client_secret,
            "username": username,
            "password": password,
            "scope": scope,
        },
        verify=shared_tls_context(),
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


class RawCesce:
    """An httpx client with the bearer token and X-IBM-Client-Id, adding ``client`` / ``languageCode``."""

    def __init__(self, base_url: str, access_token: str, client_id: str = TEST_CLIENT_ID) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {access_token}", CLIENT_ID_HEADER: client_id},
            timeout=10,
            verify=shared_tls_context(),
        )

    @classmethod
    def connect(cls, running: RunningSandbox) -> RawCesce:
        return cls(running.base_url, fetch_token(running.base_url)["access_token"])

    def login(self) -> None:
        """A fresh token: moving the sandbox clock forward expires the old one."""
        self.http.headers["Authorization"] = f"Bearer {fetch_token(self.base_url)['access_token']}"

    def post(self, path: str, **sections: Any) -> httpx.Response:
        return self.http.post(path, json={"client": {"languageCode": "ES"}, **sections})

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(path, params={"languageCode": "ES", **params})

    def sale(self, contract: str = ORO, **general: str) -> httpx.Response:
        """POST a sale with sensible defaults; keyword arguments are generalData fields."""
        data = {"customerReference": "CLI-0001", "invoiceNo": "F-0001", "invoiceDate": "20300110"}
        data |= {"maturityDate": "20300410", "currencyAmount": "1000,00"}
        data |= general
        if "endorsementNo" in general and "customerReference" not in general:
            del data["customerReference"]
        return self.post(f"/sales/v1/contracts/{contract}/sales", generalData=data)

    def classify(self, contract: str = ORO, **general: str) -> httpx.Response:
        data = {"creditLimitRequested": "20000,00", "nonPaymentInd": "N"} | general
        return self.post(f"/classifications/v1/contracts/{contract}/classifications", generalData=data)

    @staticmethod
    def error_of(response: httpx.Response) -> tuple[int, str, str]:
        """(HTTP status, errorCode, errorDescription) of a Cesce answer."""
        error = response.json()["error"]
        return response.status_code, error["errorCode"], error["errorDescription"]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(seed=1234)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[RunningSandbox]:
    with serve_in_thread(sandbox_config) as running:
        yield running


@pytest.fixture
def token(sandbox: RunningSandbox) -> str:
    access: str = fetch_token(sandbox.base_url)["access_token"]
    return access


@pytest.fixture
def api(sandbox: RunningSandbox, token: str) -> Iterator[RawCesce]:
    client = RawCesce(sandbox.base_url, token)
    yield client
    client.close()


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """Write the default scenario, changed by `edit`, to a file for `SandboxConfig(scenario=...)`."""

    def write(edit: Callable[[dict[str, Any]], None]) -> Path:
        scenario = read_scenario(None)
        edit(scenario)
        path = tmp_path / f"scenario-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(scenario), encoding="utf-8")
        return path

    return write


@pytest.fixture
def connect() -> Iterator[Callable[[RunningSandbox], RawCesce]]:
    """An authenticated `RawCesce` for another sandbox than the fixture's (closed after the test)."""
    clients: list[RawCesce] = []

    def open_client(running: RunningSandbox) -> RawCesce:
        clients.append(RawCesce.connect(running))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def get_token() -> Any:
    """`fetch_token` as a fixture, for tests that need several tokens or other credentials."""
    return fetch_token


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[str]:
    """The URL of one embedded Schema Registry (`workers.ops.registry_server`) for the whole session.

    Every process a test starts, and the test itself, reach it over HTTP with the client production
    uses, so schema ids are the registry's, not an order of files. Subjects outlive a test: tests
    name their topics uniquely, and a schema keeps one id in every subject.
    """
    with EmbeddedRegistry() as registry:
        yield registry.url
