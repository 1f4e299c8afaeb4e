"""`cesce-worker schemas register | check` against a Schema Registry over HTTP (`EmbeddedRegistry`), and a worker's
start with auto-registration off, as the Helm chart runs them: register in a hook, then start."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from workers.cli import main
from workers.ops.registry_server import EmbeddedRegistry
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.errors import RegistryMismatch
from workers.runtime.registry import registry_from_env
from workers.runtime.run import _Encoder

pytestmark = pytest.mark.integration

CATALOG = SchemaCatalog.load()
SALE_RESULT = "cesce.results.SaleResult"
# an earlier SaleResult with none of today's fields: today's, which adds fields without defaults, cannot read it
EARLIER = json.dumps(
    {
        "type": "record",
        "name": "SaleResult",
        "namespace": "cesce.results",
        "fields": [{"name": "legacy", "type": "int"}],
    }
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedRegistry]:
    """A registry of its own (the session's keeps its subjects), named by SCHEMA_REGISTRY_URL; only the invoices
    worker's subjects are asked about."""
    for name in ("SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY", "SCHEMA_REGISTRY_AUTO_REGISTER", "SALE_RESULTS_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    with EmbeddedRegistry() as running:
        monkeypatch.setenv("SCHEMA_REGISTRY_URL", running.url)
        yield running


def run(capsys: pytest.CaptureFixture[str], action: str, *argv: str) -> tuple[int, str, str]:
    status = main(["schemas", action, "--worker", "invoices", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_check_names_the_subject_holding_an_incompatible_version(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with SchemaRegistryClient({"url": registry.url}) as client:
        client.register_schema("cesce.sale-results-value", Schema(EARLIER, "AVRO"))

    status, out, err = run(capsys, "check")

    assert (status, err) == (1, "")
    lines = out.splitlines()
    incompatible = [n for n, line in enumerate(lines) if line.startswith("incompatible")]
    assert [lines[n].split()[1] for n in incompatible] == ["cesce.sale-results-value"]
    reasons = lines[incompatible[0] + 1 :]
    assert reasons[0].startswith("    ")  # the registry's own messages, indented under the subject
    assert "legacy" in " ".join(reasons)
    others = [line.split()[0] for line in lines[:-1] if not line.startswith((" ", "incompatible"))]
    assert set(others) <= {"new", "compatible"}  # a subject not there yet: a registry answers either way
    assert others
    assert lines[-1].endswith(f"at {registry.url}, 1 incompatible")

    status, out, _ = run(capsys, "check", "--json")
    document = json.loads(out)
    (refused,) = [s for s in document["subjects"] if s["status"] == "incompatible"]
    assert status == 1
    assert refused["subject"] == "cesce.sale-results-value"
    assert refused["messages"]

    # the registry refuses registering it too, and names it; the other subjects are registered all the same
    status, out, _ = run(capsys, "register", "--json")
    statuses = {s["subject"]: s["status"] for s in json.loads(out)["subjects"]}
    assert status == 1
    assert statuses.pop("cesce.sale-results-value") == "refused"
    assert set(statuses.values()) == {"registered"}


def test_register_then_check_then_a_worker_starts_without_registering(
    registry: EmbeddedRegistry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_AUTO_REGISTER", "false")
    env = {"SCHEMA_REGISTRY_URL": registry.url, "SCHEMA_REGISTRY_AUTO_REGISTER": "false"}
    written = {"cesce.sale-results": SALE_RESULT}
    with (
        registry_from_env(env) as client,
        pytest.raises(RegistryMismatch, match=r"subject cesce\.sale-results-value .* `cesce-worker schemas register`"),
    ):
        _Encoder(client).prepare(written)

    status, out, _ = run(capsys, "register")
    assert status == 0
    registered = [line.split() for line in out.splitlines()[:-1]]
    assert {line[0] for line in registered} == {"registered"}
    sale = next(line for line in registered if line[1] == "cesce.sale-results-value")

    status, out, _ = run(capsys, "register")
    assert status == 0
    assert {line.split()[0] for line in out.splitlines()[:-1]} == {"unchanged"}
    status, out, _ = run(capsys, "check")
    assert status == 0
    assert {line.split()[0] for line in out.splitlines()[:-1]} == {"compatible"}

    with registry_from_env(env) as client:
        assert _Encoder(client).prepare(written) == ["cesce.sale-results-value"]
        found = client.lookup_schema("cesce.sale-results-value", Schema(CATALOG.schema_str(SALE_RESULT), "AVRO"))
        assert sale[-1] == f"id={found.schema_id}"
        assert all(subject.endswith("-value") for subject in client.get_subjects())  # no record-name subjects


def test_a_registry_that_does_not_answer_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "ci-user:ci-registry-password-48f0")

    status, out, err = run(capsys, "check")

    assert (status, out) == (2, "")
    assert err.startswith(f"cesce-worker schemas check: the Schema Registry at http://127.0.0.1:{port} did not answer")
    assert err.count("\n") == 1
    assert "ci-registry-password-48f0" not in err
