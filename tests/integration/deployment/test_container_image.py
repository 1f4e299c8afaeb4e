"""What the image installs works: the wheel carries the Avro schemas, the time zone data and the entry point; and,
where a Docker engine answers, the image itself builds and runs as a non-root user on a read-only root filesystem,
without the sandbox (skipped, with the reason, where none does: as on the machines CI runs on)."""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka_backends import docker_unreachable_reason

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the Dockerfile installs, built the same way (`pip wheel .`, this package only)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("cesce_workers-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(where)
    return where


def test_the_wheel_declares_the_entry_point_and_its_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        assert "cesce-worker = workers.cli:main" in archive.read(entry_points).decode()
        requires = email.parser.Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []
    plain = [r for r in requires if "extra ==" not in r]
    for needed in ("confluent-kafka", "fastavro", "tzdata", "pydantic-settings"):
        assert any(r.startswith(needed) for r in plain), needed
    assert not [r for r in plain if r.startswith(("pytest", "helm-python-sdk", "testcontainers"))]  # dev only
    assert not [r for r in plain if r.startswith(("fastapi", "uvicorn"))]  # the `sandbox` extra
    schemas = sorted(Path(n).name for n in names if n.startswith("workers/schemas/"))
    assert schemas == sorted(p.name for p in (REPO / "schemas").glob("*.avsc"))


def test_the_installed_package_finds_its_schemas_inside_itself(unpacked: Path) -> None:
    """Run from the unpacked wheel (with this environment's dependencies, away from the repository): the catalog,
    the time zone and the CLI."""
    probe = (
        "import workers, zoneinfo\n"
        "from workers.runtime.catalog import DEFAULT_SCHEMAS_DIR, SchemaCatalog\n"
        "print(workers.__file__)\n"
        "print(DEFAULT_SCHEMAS_DIR.resolve())\n"
        "print(len(SchemaCatalog.load().names()))\n"
        "print(zoneinfo.ZoneInfo('Europe/Madrid').key)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=unpacked, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    package, schemas_dir, count, zone = result.stdout.split("\n")[:4]
    assert Path(package).is_relative_to(unpacked)
    assert Path(schemas_dir).is_relative_to(unpacked.resolve())
    assert int(count) == len(list((REPO / "schemas").glob("*.avsc")))
    assert zone == "Europe/Madrid"

    cli = subprocess.run(
        [sys.executable, "-m", "workers.cli", "--help"],
        check=False,
        env=env,
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "run" in cli.stdout
    assert "dlq" in cli.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = docker_unreachable_reason()
    if reason is not None:
        pytest.skip(f"no Docker engine to build the image with ({reason})")
    from testcontainers.core.image import DockerImage  # noqa: PLC0415 - needs Docker, checked above

    with DockerImage(path=REPO, tag="cesce-workers:test") as built:
        yield str(built)


def _run(image: str, *command: str, entrypoint: str | None = None) -> tuple[int, str]:
    """`docker run --rm --read-only --tmpfs /tmp --cap-drop ALL`, as the Helm chart runs the pods."""
    import docker  # noqa: PLC0415 - the engine is there (the image fixture checked)

    client = docker.from_env()
    try:
        container = client.containers.run(
            image,
            list(command),
            entrypoint=entrypoint,
            detach=True,
            read_only=True,
            tmpfs={"/tmp": ""},  # noqa: S108 - the chart's emptyDir
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
        try:
            status = container.wait(timeout=300)["StatusCode"]
            return status, container.logs().decode()
        finally:
            container.remove(force=True)
    finally:
        client.close()


@pytest.mark.timeout(1200)
def test_the_image_runs_as_a_non_root_user_on_a_read_only_filesystem_without_the_sandbox(image: str) -> None:
    """The production image carries no sandbox (issue 20, "A lean install and image"): `demo` says which extra it
    needs, in one line; an image built with `--build-arg EXTRAS=sandbox` runs it."""
    status, out = _run(image, "-c", "import os; print(os.getuid(), os.getgid())", entrypoint="python")
    assert (status, out.strip()) == (0, "10001 10001")
    status, out = _run(image, "-c", "import fastapi", entrypoint="python")
    assert status == 1, out
    assert "No module named 'fastapi'" in out
    status, out = _run(image, "demo")
    assert status == 2, out
    assert out.strip() == "cesce-worker demo: the sandbox is an optional extra: pip install 'cesce-workers[sandbox]'"
    status, out = _run(image, "run", "invoices")  # no settings: a clear error, not a crash loop
    assert status == 2, out
    assert "configuration error" in out
    assert "KAFKA_BOOTSTRAP_SERVERS" in out
