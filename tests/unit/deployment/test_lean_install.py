"""A lean install: the workers' runtime dependencies are only what the workers import; the sandbox (FastAPI,
uvicorn) is the `sandbox` extra, the chart tooling the `test` extra, and `dev` both. Without the sandbox extra the
workers and the operator commands run, and `demo` / `sandbox` say in one line what to install.

Issue 20, "A lean install and image": "Runtime dependencies only what the workers need: the sandbox (FastAPI,
uvicorn) becomes an optional extra, chart tooling (helm-python-sdk, kubernetes-validate) a test extra; the
production image carries neither."

Every test here reads files or runs this package in a child Python without the network: no sockets.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from workers.cli import SANDBOX_EXTRA_MISSING

REPO = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Distributions a production process never needs: the sandbox's web stack and the test and chart tooling.
SANDBOX_ONLY = {"fastapi", "uvicorn"}
UVICORN_SPEEDUPS = {"httptools"}
"""Not imported by our code: uvicorn takes its C HTTP parser when installed (workers/sandbox/server.py)."""
CHART_TOOLING = {"helm-python-sdk", "kubernetes-validate", "pyyaml"}
TEST_ONLY = {"pytest", "pytest-asyncio", "pytest-timeout", "testcontainers", "jsonschema", *CHART_TOOLING}
# ...and the modules they bring, which no worker path may import.
FORBIDDEN_MODULES = ("fastapi", "starlette", "uvicorn", "helm_python", "kubernetes_validate", "yaml", "pytest")

# Packages of `workers` that only the sandbox extra's commands import (`cesce-worker sandbox`, `cesce-worker demo`).
SANDBOX_PACKAGES = ("workers.sandbox", "workers.demo")


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


@cache
def closure(*requirements: str) -> frozenset[str]:
    """The installed distributions `requirements` bring, transitively (markers evaluated here, extras followed)."""
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(PROJECT["name"]):  # `dev` names this project's own extras
            pending += [Requirement(r) for extra in requirement.extras for r in EXTRAS[extra]]
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.distribution(name).requires or []:
            inner = Requirement(raw)
            wanted = {"", *requirement.extras}
            if inner.marker is None or any(inner.marker.evaluate({"extra": extra}) for extra in wanted):
                pending.append(inner)
    return frozenset(seen)


def third_party_imports(module: Path) -> set[str]:
    """The top-level names of the modules `module` imports, at its top or inside a function, except its own."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name != "workers" and name not in sys.stdlib_module_names}


@cache
def installed_modules() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions that provide it (a scan of every installed distribution)."""
    return dict(importlib.metadata.packages_distributions())


def distributions_of(top_level: str) -> set[str]:
    return {canonicalize_name(d) for d in installed_modules().get(top_level, [])}


def dotted(path: Path) -> str:
    """A module's dotted name from its file (a package's `__init__.py` names the package)."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*, sandbox: bool) -> list[Path]:
    """The package's modules: those of the sandbox extra's commands, or all the others."""
    return [p for p in sorted((REPO / "workers").rglob("*.py")) if dotted(p).startswith(SANDBOX_PACKAGES) == sandbox]


def test_the_runtime_dependencies_leave_out_the_sandbox_and_the_test_tooling() -> None:
    """Issue 20: "the sandbox (FastAPI, uvicorn) becomes an optional extra, chart tooling (helm-python-sdk,
    kubernetes-validate) a test extra"; CI installs `.[dev]`, which has both."""
    runtime = names(PROJECT["dependencies"])
    assert not runtime & (SANDBOX_ONLY | UVICORN_SPEEDUPS | TEST_ONLY)
    assert names(EXTRAS["sandbox"]) == SANDBOX_ONLY | UVICORN_SPEEDUPS
    assert names(EXTRAS["test"]) == TEST_ONLY
    assert f"{PROJECT['name']}[sandbox,test]" in EXTRAS["dev"]
    assert not closure(*PROJECT["dependencies"]) & (SANDBOX_ONLY | CHART_TOOLING)  # nor brought in by another


def test_every_third_party_import_of_the_workers_is_a_runtime_dependency() -> None:
    """Issue 20: "Runtime dependencies only what the workers need". Each module outside the sandbox and the demo
    imports only what the runtime dependencies install; the sandbox and the demo, only that and the sandbox extra."""
    runtime = closure(*PROJECT["dependencies"])
    with_sandbox = closure(*PROJECT["dependencies"], *EXTRAS["sandbox"])
    for allowed, sandbox in ((runtime, False), (with_sandbox, True)):
        for module in modules(sandbox=sandbox):
            for name in third_party_imports(module):
                assert distributions_of(name) & allowed, f"{module.relative_to(REPO)} imports {name}"
    used = {
        d for module in modules(sandbox=True) for name in third_party_imports(module) for d in distributions_of(name)
    }
    assert used >= SANDBOX_ONLY  # the extra holds nothing the sandbox does not import


def child(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`command` in a child process of this environment, from the repository, with exactly `env`."""
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=REPO, env=env)


def without_settings() -> dict[str, str]:
    """This environment less any worker setting (a worker started here stops at its configuration check)."""
    settings = ("KAFKA_", "CESCE_", "WORKER_", "RISK_", "SALES_", "SCHEMA_REGISTRY_")
    return {k: v for k, v in os.environ.items() if not k.startswith(settings)}


# A child Python in which FastAPI, Starlette and uvicorn are not installed: importing them fails as after
# `pip install cesce-workers` without the extra (ModuleNotFoundError, as the import system raises it).
WITHOUT_THE_SANDBOX_EXTRA = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"fastapi", "starlette", "uvicorn"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


@pytest.fixture(scope="module")
def without_the_sandbox_extra(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a child Python that starts without the sandbox extra (a `sitecustomize` on its path)."""
    where = tmp_path_factory.mktemp("lean")
    (where / "sitecustomize.py").write_text(WITHOUT_THE_SANDBOX_EXTRA, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(where), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**without_settings(), "PYTHONPATH": path}
    blocked = child([sys.executable, "-c", "import fastapi"], env)
    assert "No module named 'fastapi'" in blocked.stderr  # the child is as lean as the tests mean
    return env


@pytest.mark.parametrize("command", [["demo"], ["sandbox", "--port", "0"]], ids=["demo", "sandbox"])
def test_demo_and_sandbox_without_the_extra_say_what_to_install_in_one_line(
    command: list[str], without_the_sandbox_extra: dict[str, str]
) -> None:
    """Issue 20: "the sandbox (FastAPI, uvicorn) becomes an optional extra" and "Commands that fail in one clear
    line": without it `demo` and `sandbox` print the pip command and exit 2, no traceback. Run as a user types it:
    the `cesce-worker` script this environment installed."""
    script = Path(sys.executable).with_name("cesce-worker")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "workers.cli"]
    done = child([*entry, *command], without_the_sandbox_extra)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"cesce-worker {command[0]}: {SANDBOX_EXTRA_MISSING}\n"
    assert "pip install 'cesce-workers[sandbox]'" in done.stderr
    assert done.stdout == ""


# Imports every module outside the sandbox and the demo (argv[3]), builds every worker's specs from a complete
# environment (argv[1]), runs `cesce-worker run <worker>` up to its configuration check (the process has no
# settings) and every command's --help, then prints which of the modules in argv[2] got imported.
WORKER_PATHS = """
import contextlib, importlib, io, json, sys
from workers.cli import _parser, main

for module in json.loads(sys.argv[3]):
    importlib.import_module(module)

from workers.ops.run_command import WORKERS
from workers.runtime.settings import RuntimeSettings
from workers.settings import from_env

ENV = json.loads(sys.argv[1])
from_env(RuntimeSettings, ENV)
built = {}
for name, build in WORKERS.items():
    specs = build(ENV)
    built[name] = [spec.name for spec in (specs if isinstance(specs, list | tuple) else [specs])]
statuses = {}
for name in WORKERS:
    with contextlib.redirect_stderr(io.StringIO()) as said:
        statuses[name] = [main(["run", name]), "configuration error" in said.getvalue()]
commands = next(a for a in _parser()._actions if a.dest == "command").choices
for command in commands:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([command, "--help"])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
print(json.dumps({"built": built, "statuses": statuses, "commands": sorted(commands), "loaded": loaded}))
"""

A_WORKERS_ENVIRONMENT = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:9092",
    "CESCE_BASE_URL": "https://cesce.invalid",
    "CESCE_CLIENT_ID": "client",
    "CESCE_CLIENT_SECRET": "secret",
    "CESCE_USERNAME": "user",
    "CESCE_PASSWORD": "password",
    "RISK_CONTRACTS": "12345678901",
    "SALES_FOLLOWUP_CONTRACTS": "12345678901",
}


@pytest.mark.parametrize("extra", ["installed", "missing"])
def test_no_worker_path_imports_the_sandbox_or_the_test_tooling(
    extra: str, without_the_sandbox_extra: dict[str, str]
) -> None:
    """Issue 20: "the production image carries neither": every module a worker or an operator command imports,
    every worker built from its settings, `cesce-worker run` and every command's help, in a fresh Python that
    then holds none of FastAPI, Starlette, uvicorn, helm-python-sdk, kubernetes-validate, PyYAML or pytest; and
    the same runs where the sandbox extra is not installed at all."""
    env = without_settings() if extra == "installed" else without_the_sandbox_extra
    everything = json.dumps([dotted(path) for path in modules(sandbox=False)])
    arguments = [json.dumps(A_WORKERS_ENVIRONMENT), ",".join(FORBIDDEN_MODULES), everything]
    done = child([sys.executable, "-c", WORKER_PATHS, *arguments], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert set(report["built"]) == {"invoices", "credit-requests", "non-payments", "risk-poller", "sales-followup"}
    assert all(report["built"].values())  # each worker gave its specs (the worker and its companions)
    assert all(status == [2, True] for status in report["statuses"].values()), report["statuses"]
    assert {"run", "dlq", "produce", "consume", "broker", "demo", "sandbox"} <= set(report["commands"])
    assert report["loaded"] == []


def test_the_forbidden_modules_are_the_extras_modules() -> None:
    """The list the previous test checks names the modules the sandbox and chart-tooling distributions install
    (so a renamed module cannot slip past it)."""
    provided = {
        top
        for top, dists in installed_modules().items()
        for d in dists
        if canonicalize_name(d) in SANDBOX_ONLY | CHART_TOOLING | {"starlette", "pytest"}
    }
    assert set(FORBIDDEN_MODULES) <= provided
