"""The Dockerfile and .dockerignore say what the image is: multi-stage, slim, installed from the wheel, non-root,
`cesce-worker` as entrypoint, and the user the Helm chart runs it as. (Building it needs a Docker engine:
tests/integration/test_container_image.py.)"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (REPO / ".dockerignore").read_text(encoding="utf-8")
CHART_VALUES = yaml.safe_load((REPO / "helm" / "cesce-workers" / "values.yaml").read_text(encoding="utf-8"))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    verdict = False
    for raw in DOCKERIGNORE.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            verdict = not negated
    return verdict


def test_two_stages_on_a_slim_python_and_the_runtime_carries_only_the_virtual_environment() -> None:
    build, runtime = stages()
    base = next(args for word, args in instructions() if word == "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-\w+", base)
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    copies = [args for word, args in runtime if word == "COPY"]
    assert copies == ["--from=build /opt/cesce-workers /opt/cesce-workers"]


def shell_word(word: str, **env: str) -> str:
    """`word` as the build stage's `/bin/sh -c` reads it (Docker gives a RUN its stage's ARGs as variables)."""
    said = subprocess.run(["/bin/sh", "-c", f"printf %s {word}"], env=env, capture_output=True, text=True, check=True)
    return said.stdout


def test_the_package_is_installed_from_its_wheel_without_extras_nor_pip() -> None:
    """Issue 20: "the production image carries neither" the sandbox nor the chart tooling: the package is installed
    without extras unless the build asks (`--build-arg EXTRAS=sandbox`, an image for `demo`), into an environment
    that has no pip of its own (the build stage's pip installs into it)."""
    build, _ = stages()
    dependencies, package = [args for word, args in build if word == "RUN"]
    words = [word for word, _ in build]
    assert words.index("RUN") < words.index("COPY", words.index("RUN"))  # dependencies first: a layer of their own
    project = re.search(r"python -m pip wheel --wheel-dir /wheels (\S+)", dependencies)
    assert project is not None, dependencies
    assert "pip wheel --no-deps --wheel-dir /wheels ." in package
    assert "python -m venv --without-pip /opt/cesce-workers " in package
    installed = re.search(
        r"python -m pip --python /opt/cesce-workers/bin/python install --no-index --find-links /wheels\s+(\S+)", package
    )
    assert installed is not None, package
    assert ("ARG", 'EXTRAS=""') in build
    assert (shell_word(project[1]), shell_word(installed[1])) == (".", "cesce-workers")
    with_sandbox = (shell_word(project[1], EXTRAS="sandbox"), shell_word(installed[1], EXTRAS="sandbox"))
    assert with_sandbox == (".[sandbox]", "cesce-workers[sandbox]")
    assert "docker build --build-arg EXTRAS=sandbox" in DOCKERFILE  # the header says where `demo` went


def test_the_runtime_runs_cesce_worker_as_the_charts_non_root_user() -> None:
    _, runtime = stages()
    words = dict(runtime)
    user = words["USER"].split(":")
    assert user == ["10001", "10001"]
    assert int(user[0]) == CHART_VALUES["podSecurityContext"]["runAsUser"]
    assert int(user[1]) == CHART_VALUES["podSecurityContext"]["runAsGroup"]
    assert json.loads(words["ENTRYPOINT"]) == ["cesce-worker"]
    assert words["EXPOSE"] == str(CHART_VALUES["httpPort"])
    assert "PYTHONDONTWRITEBYTECODE=1" in words["ENV"]  # a read-only root filesystem


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    build, _ = stages()
    sources = [args.split()[0] for word, args in build if word == "COPY"] + ["README.md"]
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source), source
    for kept_out in (".venv", ".git", "tests", "benchmarks", "helm", "cesce_workers.egg-info", ".ci/run"):
        assert ignored(kept_out), kept_out
    assert ignored("workers/__pycache__/cli.cpython-311.pyc")
