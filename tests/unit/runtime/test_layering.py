"""The layers hold: domain packages reach the runtime only through its public face, and only their wiring
(`spec.py`) knows Kafka."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workers.runtime

PACKAGE = Path(__file__).parents[3] / "workers"
DOMAIN_FILES = sorted(
    {
        path
        for name in ("invoices", "credit_requests", "non_payments", "risk")
        for path in (PACKAGE / name).rglob("*.py")
    }
    | {PACKAGE / "cesce_handling.py"}
)


def imported_modules(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_domain_modules_use_only_the_runtimes_public_face(path: Path) -> None:
    reached = [module for module in imported_modules(path) if module.startswith("workers.runtime.")]
    assert reached == [], f"import these from workers.runtime instead: {reached}"


@pytest.mark.parametrize(
    "path", [p for p in DOMAIN_FILES if p.name != "spec.py"], ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_only_the_wiring_knows_kafka(path: Path) -> None:
    assert not [module for module in imported_modules(path) if module.startswith("confluent_kafka")]


def test_the_public_face_exports_what_it_names() -> None:
    assert sorted(workers.runtime.__all__) == sorted(set(workers.runtime.__all__))
    for name in workers.runtime.__all__:
        assert getattr(workers.runtime, name) is not None, name


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "runtime").rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_the_runtime_library_knows_no_operator_command(path: Path) -> None:
    assert not [module for module in imported_modules(path) if module.startswith("workers.ops")]
