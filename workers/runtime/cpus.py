"""How many CPUs this process may use: the smaller of its CPU affinity and its cgroup's CPU quota.

`os.cpu_count()` answers the machine's CPUs, which in a pod limited to 2 CPUs on a 32-core node is 32:
one engine per "CPU" there would run 16 times what the quota lets through, every one throttled. So
the count is the smallest of:

- ``os.sched_getaffinity(0)``: the CPUs the scheduler lets this process run on (``taskset``,
  Kubernetes' static CPU manager);
- cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) of this process's cgroup and
  of each of its ancestors (a parent's limit binds its children too);
- cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (``-1``: no quota), likewise.

A quota is rounded up (1.5 CPUs -> 2: the half CPU is still worth an engine), and the answer is at
least 1. The process's cgroup is read from ``/proc/self/cgroup``; where its path does not exist under
the mount (a container sees its own cgroup at the mount's root), the mount's root is read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["available_cpus", "cgroup_cpu_limit"]

_CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
_SELF_CGROUP: Final = Path("/proc/self/cgroup")
_V1_CPU_DIRECTORIES: Final = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def available_cpus(
    *, cgroup_root: Path = _CGROUP_ROOT, self_cgroup: Path = _SELF_CGROUP, affinity: int | None = None
) -> int:
    """The CPUs this process may use (at least 1); `affinity` defaults to ``os.sched_getaffinity(0)``'s size."""
    if affinity is None:
        affinity = _affinity()
    limit = cgroup_cpu_limit(cgroup_root=cgroup_root, self_cgroup=self_cgroup)
    return max(1, min(affinity, limit) if limit is not None else affinity)


def cgroup_cpu_limit(*, cgroup_root: Path = _CGROUP_ROOT, self_cgroup: Path = _SELF_CGROUP) -> int | None:
    """The tightest CPU quota of this process's cgroup and its ancestors, rounded up; None when there is none."""
    memberships = _memberships(self_cgroup)
    limits = [limit for directory in _v2_directories(cgroup_root, memberships) if (limit := _v2_limit(directory))]
    limits += [limit for directory in _v1_directories(cgroup_root, memberships) if (limit := _v1_limit(directory))]
    return min(limits) if limits else None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _memberships(self_cgroup: Path) -> dict[str, str]:
    """Controllers (``""`` for cgroup v2's unified hierarchy) -> this process's path in their hierarchy."""
    try:
        text = self_cgroup.read_text(encoding="utf-8")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                found[controller] = parts[2]
    return found


def _up_to(root: Path, relative: str) -> Iterator[Path]:
    """`root`/`relative` and each of its ancestors down to `root`, those that exist; `root` alone when the
    process's own directory is not visible (a container's cgroup namespace shows its cgroup as the root)."""
    directory = root / relative.strip("/")
    if not directory.is_dir():
        directory = root
    while True:
        yield directory
        if directory == root or root not in directory.parents:
            return
        directory = directory.parent


def _v2_directories(root: Path, memberships: dict[str, str]) -> Iterator[Path]:
    if (root / "cpu.max").is_file() or "" in memberships:
        yield from _up_to(root, memberships.get("", "/"))


def _v1_directories(root: Path, memberships: dict[str, str]) -> Iterator[Path]:
    relative = memberships.get("cpu", "/")
    for name in _V1_CPU_DIRECTORIES:
        if (root / name).is_dir():
            yield from _up_to(root / name, relative)
            return


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _cpus(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def _v2_limit(directory: Path) -> int | None:
    text = _read(directory / "cpu.max")
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max":
        return None
    try:
        return _cpus(int(quota), int(period or "100000"))
    except ValueError:
        return None


def _v1_limit(directory: Path) -> int | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    if quota is None or period is None:
        return None
    try:
        return _cpus(int(quota), int(period))
    except ValueError:
        return None
