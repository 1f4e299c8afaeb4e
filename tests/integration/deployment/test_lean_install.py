"""The lean install for real: a virtual environment built as the Dockerfile builds the image's (the wheels of this
package and of its runtime dependencies, `pip install` of the package without extras, no pip of its own), away
from the repository. It holds neither the sandbox nor the test tooling, its workers start up to their settings
check, and `demo` says in one line which extra it needs.

Issue 20, "A lean install and image": "the sandbox (FastAPI, uvicorn) becomes an optional extra, chart tooling
(helm-python-sdk, kubernetes-validate) a test extra; the production image carries neither."

Building it fetches the runtime dependencies' wheels from the package index, as the image's build does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deployment.test_lean_install import (
    A_WORKERS_ENVIRONMENT,
    FORBIDDEN_MODULES,
    WORKER_PATHS,
    dotted,
    modules,
    without_settings,
)
from workers.cli import SANDBOX_EXTRA_MISSING

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment's directory, built with the Dockerfile's commands (`/wheels` and `/opt/cesce-workers` here)."""
    root = tmp_path_factory.mktemp("lean")
    source, wheels, venv = root / "src", root / "wheels", root / "venv"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):  # the build context: what .dockerignore lets in
        shutil.copy2(REPO / name, source / name)
    for name in ("schemas", "workers"):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--wheel-dir", str(wheels), str(source)], check=True, timeout=900)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = ["install", "--quiet", "--no-index", "--find-links", str(wheels), "cesce-workers"]
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), *install], check=True, timeout=900)
    return venv


def run(lean: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` from the lean environment's bin/, in its own directory (not the repository), without settings."""
    executable = str(lean / "bin" / command[0])
    return subprocess.run(
        [executable, *command[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=lean,
        env={k: v for k, v in without_settings().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )


@pytest.mark.timeout(1800)
def test_the_lean_environment_holds_neither_the_sandbox_nor_the_test_tooling(lean: Path) -> None:
    listing = "import importlib.metadata as m, json; print(json.dumps([d.name for d in m.distributions()]))"
    listed = run(lean, "python", "-c", listing)
    assert listed.returncode == 0, listed.stderr
    installed = {name.lower() for name in json.loads(listed.stdout)}
    assert "cesce-workers" in installed
    kept_out = {"fastapi", "uvicorn", "starlette", "helm-python-sdk", "kubernetes-validate", "pyyaml", "pytest", "pip"}
    assert not installed & kept_out


@pytest.mark.timeout(1800)
def test_the_lean_environment_runs_the_workers_and_says_demo_needs_the_extra(lean: Path) -> None:
    demo = run(lean, "cesce-worker", "demo")
    assert (demo.returncode, demo.stderr, demo.stdout) == (2, f"cesce-worker demo: {SANDBOX_EXTRA_MISSING}\n", "")
    worker = run(lean, "cesce-worker", "run", "invoices")
    assert worker.returncode == 2, worker.stderr
    assert "configuration error" in worker.stderr
    assert "Traceback" not in worker.stderr
    everything = json.dumps([dotted(path) for path in modules(sandbox=False)])
    arguments = [json.dumps(A_WORKERS_ENVIRONMENT), ",".join(FORBIDDEN_MODULES), everything]
    probe = run(lean, "python", "-c", WORKER_PATHS, *arguments)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.splitlines()[-1])
    assert all(report["built"].values())
    assert all(status == [2, True] for status in report["statuses"].values()), report["statuses"]
    assert report["loaded"] == []
    where = run(lean, "python", "-c", "import workers; print(workers.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(lean)  # the installed package, not the repository's
