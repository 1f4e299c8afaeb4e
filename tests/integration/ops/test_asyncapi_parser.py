"""The AsyncAPI document, validated by the AsyncAPI project's own parser (``@asyncapi/parser`` from npm, with
``@asyncapi/avro-schema-parser`` for the Avro payloads), run by ``tests/asyncapi/validate.mjs``.

Issue 20: "a test validates it with a real AsyncAPI validator (the AsyncAPI project's parser from npm, or its
published JSON Schema)". Needs node and ``npm ci --prefix tests/asyncapi --ignore-scripts``; skipped, saying
so, without them. The negative cases show the validator is not a rubber stamp: a broken AsyncAPI structure and a
broken Avro schema inside a valid document are both refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from workers.cli import main

pytestmark = pytest.mark.integration

CHECKER = Path(__file__).parents[2] / "asyncapi"
INSTALL = "npm ci --prefix tests/asyncapi --ignore-scripts"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node not installed (apt-get install -y nodejs npm; then {INSTALL})")
    if not (CHECKER / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.skip(f"the AsyncAPI parser is not installed: {INSTALL}")
    return node


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), str(CHECKER / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=CHECKER,
    )


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The document `cesce-worker asyncapi` writes for the default settings."""
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY"):
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "asyncapi.json"
    assert main(["asyncapi", "--output", str(target)]) == 0
    return target


def _edited(source: Path, target: Path, edit: Any) -> Path:
    document = json.loads(source.read_text(encoding="utf-8"))
    edit(document)
    target.write_text(json.dumps(document), encoding="utf-8")
    return target


def test_the_generated_document_is_valid_asyncapi_3_with_valid_avro(generated: Path) -> None:
    checked = _validate(generated)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    document = json.loads(generated.read_text(encoding="utf-8"))
    avro = sum(
        1
        for channel in document["channels"].values()
        for message in channel["messages"].values()
        if isinstance(message["payload"], dict) and "schemaFormat" in message["payload"]
    )
    assert avro > 0
    assert (
        f"valid AsyncAPI 3.0.0, {len(document['channels'])} channels, {len(document['operations'])} operations, "
        f"{avro} Avro schemas" in checked.stdout
    )
    assert " error " not in checked.stdout


def test_a_broken_avro_schema_is_refused(generated: Path, tmp_path: Path) -> None:
    """A field of an unknown Avro type: the AsyncAPI structure is still valid, the Avro schema is not."""

    def break_avro(document: dict[str, Any]) -> None:
        schema = document["channels"]["cesce.sale-results"]["messages"]["SaleResult"]["payload"]["schema"]
        schema["fields"][0]["type"] = "no-such-type"

    checked = _validate(_edited(generated, tmp_path / "broken-avro.json", break_avro))
    assert checked.returncode == 1, checked.stdout
    assert "error avro-schema at /channels/cesce.sale-results/messages/SaleResult/payload/schema" in checked.stdout


def _publish(document: dict[str, Any]) -> None:
    document["operations"]["invoices.send.cesce.sale-results"]["action"] = "publish"  # AsyncAPI 2.x's verb


def _missing_channel(document: dict[str, Any]) -> None:
    operation = document["operations"]["invoices.receive.erp.invoices.by-debtor"]
    operation["channel"] = {"$ref": "#/channels/no-such-topic"}


@pytest.mark.parametrize(
    ("edit", "reported"),
    [
        (_publish, "at /operations/invoices.send.cesce.sale-results/action"),
        (_missing_channel, "error invalid-ref at /operations/invoices.receive.erp.invoices.by-debtor/channel"),
    ],
)
def test_a_broken_document_is_refused(generated: Path, tmp_path: Path, edit: Any, reported: str) -> None:
    """An operation with an action AsyncAPI 3 does not have; one naming a channel that is not there."""
    checked = _validate(_edited(generated, tmp_path / "broken.json", edit))
    assert checked.returncode == 1, checked.stdout
    assert "not a valid AsyncAPI document" in checked.stdout
    assert reported in checked.stdout
