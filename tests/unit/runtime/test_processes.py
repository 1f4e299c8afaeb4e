"""The process tree's plan: CPUs from cgroup files, the in-flight split, each child's identity, the supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from workers.runtime import parent_link as parent_link_module
from workers.runtime.cpus import available_cpus, cgroup_cpu_limit
from workers.runtime.parent_link import parent_link
from workers.runtime.processes import (
    PARENT_FD,
    PARENT_PID,
    PROCESS_INDEX,
    child_env,
    child_identity,
    in_flight_shares,
    process_count,
)
from workers.runtime.settings import RuntimeSettings
from workers.runtime.supervisor import Backoff, Supervisor, exit_reason
from workers.settings import from_env

# --- CPUs --------------------------------------------------------------------------------------------


def cgroup_v2(tmp_path: Path, cpu_max: dict[str, str], member: str = "/") -> tuple[Path, Path]:
    """A fake cgroup v2 mount (`cpu_max`: directory -> cpu.max) and /proc/self/cgroup naming `member`."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for directory, value in cpu_max.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / "cpu.max").write_text(value + "\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::{member}\n")
    return root, self_cgroup


def cgroup_v1(tmp_path: Path, quota: str, period: str = "100000", directory: str = "cpu,cpuacct") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    (root / directory).mkdir(parents=True)
    (root / directory / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / directory / "cpu.cfs_period_us").write_text(period + "\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("12:memory:/\n4:cpu,cpuacct:/\n1:name=systemd:/\n")
    return root, self_cgroup


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "expected"),
    [
        ("200000 100000", 32, 2),  # a pod limited to 2 CPUs on a 32-core node
        ("150000 100000", 32, 2),  # 1.5 CPUs: rounded up
        ("50000 100000", 32, 1),  # half a CPU: at least one
        ("max 100000", 8, 8),  # no quota: the affinity
        ("400000 100000", 3, 3),  # pinned to 3 CPUs: the smaller wins
    ],
)
def test_cgroup_v2_quota_and_affinity(tmp_path: Path, cpu_max: str, affinity: int, expected: int) -> None:
    root, self_cgroup = cgroup_v2(tmp_path, {".": cpu_max})
    assert available_cpus(cgroup_root=root, self_cgroup=self_cgroup, affinity=affinity) == expected


def test_cgroup_v2_the_tightest_of_the_process_cgroup_and_its_ancestors(tmp_path: Path) -> None:
    root, self_cgroup = cgroup_v2(
        tmp_path,
        {"kubepods": "300000 100000", "kubepods/pod1": "max 100000", "kubepods/pod1/c1": "max 100000"},
        member="/kubepods/pod1/c1",
    )
    assert cgroup_cpu_limit(cgroup_root=root, self_cgroup=self_cgroup) == 3
    assert available_cpus(cgroup_root=root, self_cgroup=self_cgroup, affinity=16) == 3


def test_cgroup_v2_a_path_not_visible_reads_the_mount_root(tmp_path: Path) -> None:
    root, self_cgroup = cgroup_v2(tmp_path, {".": "200000 100000"}, member="/kubepods/elsewhere")
    assert cgroup_cpu_limit(cgroup_root=root, self_cgroup=self_cgroup) == 2


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [("200000", "100000", 2), ("250000", "100000", 3), ("-1", "100000", None), ("10000", "100000", 1)],
)
def test_cgroup_v1_quota(tmp_path: Path, quota: str, period: str, expected: int | None) -> None:
    root, self_cgroup = cgroup_v1(tmp_path, quota, period)
    assert cgroup_cpu_limit(cgroup_root=root, self_cgroup=self_cgroup) == expected
    assert available_cpus(cgroup_root=root, self_cgroup=self_cgroup, affinity=4) == min(4, expected or 4)


def test_no_cgroup_files_leave_the_affinity(tmp_path: Path) -> None:
    assert available_cpus(cgroup_root=tmp_path / "none", self_cgroup=tmp_path / "none", affinity=6) == 6
    assert available_cpus(cgroup_root=tmp_path / "none", self_cgroup=tmp_path / "none", affinity=0) == 1


def test_this_machine_has_at_least_one_cpu() -> None:
    assert available_cpus() >= 1


# --- how many processes, and each one's share ------------------------------------------------------------


def settings(**env: str) -> RuntimeSettings:
    return from_env(RuntimeSettings, {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "WORKER_INSTANCE_ID": "pod-a", **env})


def test_processes_default_to_the_cpus_and_the_setting_overrides_them() -> None:
    assert process_count(settings(), cpus=lambda: 4) == 4
    assert process_count(settings(WORKER_PROCESSES="1"), cpus=lambda: 4) == 1
    assert process_count(settings(WORKER_PROCESSES="3"), cpus=lambda: 1) == 3
    # never more processes than records in flight: each child handles at least one
    assert process_count(settings(WORKER_MAX_IN_FLIGHT="2"), cpus=lambda: 8) == 2
    assert process_count(settings(WORKER_PROCESSES="5", WORKER_MAX_IN_FLIGHT="3"), cpus=lambda: 1) == 3


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_worker_processes_must_be_a_positive_integer(value: str) -> None:
    with pytest.raises(ValueError, match="WORKER_PROCESSES"):
        settings(WORKER_PROCESSES=value)


@pytest.mark.parametrize(
    ("total", "count", "shares"),
    [(64, 1, [64]), (64, 2, [32, 32]), (64, 3, [22, 21, 21]), (9, 4, [3, 2, 2, 2]), (4, 4, [1, 1, 1, 1])],
)
def test_the_in_flight_bound_is_split_over_the_tree(total: int, count: int, shares: list[int]) -> None:
    assert in_flight_shares(total, count) == shares
    assert sum(shares) == total


def test_a_split_below_one_each_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 each"):
        in_flight_shares(2, 3)


def test_each_child_has_its_own_stable_identities_and_share() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "WORKER_INSTANCE_ID": "pod-a",
        "WORKER_MAX_IN_FLIGHT": "9",
        "WORKER_HTTP_PORT": "9464",
        "KAFKA_GROUP_INSTANCE_ID": "static-a",
        "CESCE_PASSWORD": "kept-as-is",
    }
    made = settings(**env)
    children = [child_env(env, made, index=i, count=2, parent_pid=42, fd=7) for i in range(2)]
    again = child_env(env, made, index=1, count=2, parent_pid=43, fd=9)  # a restart of child 1
    assert [c["WORKER_INSTANCE_ID"] for c in children] == ["pod-a.0", "pod-a.1"]
    assert again["WORKER_INSTANCE_ID"] == "pod-a.1", "a restarted child keeps its identity, and fences its predecessor"
    assert [c["KAFKA_GROUP_INSTANCE_ID"] for c in children] == ["static-a.0", "static-a.1"]
    assert [c["WORKER_MAX_IN_FLIGHT"] for c in children] == ["5", "4"]
    for index, child in enumerate(children):
        assert child["WORKER_PROCESSES"] == "1"
        assert (child["WORKER_HTTP_HOST"], child["WORKER_HTTP_PORT"]) == ("127.0.0.1", "0")
        assert (child[PARENT_PID], child[PARENT_FD], child[PROCESS_INDEX]) == ("42", "7", str(index))
        assert child["CESCE_PASSWORD"] == "kept-as-is"
        # the transactional.id the child's engines derive: distinct per child
        assert from_env(RuntimeSettings, child).instance_id == child_identity("pod-a", index)
    assert "KAFKA_GROUP_INSTANCE_ID" not in child_env(
        {k: v for k, v in env.items() if k != "KAFKA_GROUP_INSTANCE_ID"}, made, index=0, count=2, parent_pid=1, fd=3
    )


def test_only_a_supervised_child_has_a_parent_link() -> None:
    assert parent_link({"WORKER_INSTANCE_ID": "x"}) is None
    link = parent_link({PARENT_PID: "42", PARENT_FD: "7", PROCESS_INDEX: "1"})
    assert link is not None
    assert (link.parent_pid, link.fd, link.index) == (42, 7, 1)


def test_a_child_whose_parent_is_gone_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    armed: list[int] = []

    def arm(signum: int) -> bool:
        armed.append(signum)
        return True

    # not for real: the parent-death signal would be armed for the test process itself
    monkeypatch.setattr(parent_link_module, "_death_signal", arm)
    gone = parent_link({PARENT_PID: str(os.getpid()), PROCESS_INDEX: "0"})  # our parent is not ourselves
    assert gone is not None
    assert gone.bind() is False
    alive = parent_link({PARENT_PID: str(os.getppid()), PROCESS_INDEX: "0"})
    assert alive is not None
    assert alive.bind() is True
    assert armed == [signal.SIGTERM, signal.SIGTERM], "SIGTERM when the parent dies: the child drains as on any stop"


def test_a_child_reports_its_port_on_the_pipe() -> None:
    read, write = os.pipe()
    link = parent_link({PARENT_PID: "1", PARENT_FD: str(write), PROCESS_INDEX: "0"})
    assert link is not None
    link.report_port(40123)
    assert os.read(read, 64) == b"40123\n"
    assert os.read(read, 64) == b"", "the write end is closed: one line"
    os.close(read)


# --- the supervisor ------------------------------------------------------------------------------------


def test_exit_reasons_and_backoff() -> None:
    assert exit_reason(1) == "exited with status 1"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    backoff = Backoff(first=1, longest=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


# A child that reports a port, then exits with status 3 (first runs) or waits for SIGTERM (once it has been
# restarted twice, as its instance id's run counter in a file says).
_CHILD = """
import os, signal, sys, time
from pathlib import Path
counter = Path(sys.argv[1])
runs = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(runs + 1))
os.write(int(os.environ["WORKER_PARENT_FD"]), b"1234\\n")
if runs < 2:
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(0.05)
"""


async def test_a_child_that_fails_is_restarted_with_backoff_and_stopped_on_request(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    supervisor = Supervisor(
        "test",
        [sys.executable, "-c", _CHILD, str(counter)],
        {"PATH": os.environ.get("PATH", "")},
        settings(WORKER_DRAIN_SECONDS="1"),
        1,
        backoff=Backoff(first=0.05, longest=0.2, stable=60),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    async with asyncio.timeout(20):
        while True:
            await asyncio.sleep(0.05)
            [status] = supervisor.statuses()
            if counter.exists() and int(counter.read_text()) >= 3 and status.port == 1234 and status.down is None:
                break
    [pid] = supervisor.pids()
    stop.set()
    assert await asyncio.wait_for(task, 20) == 0
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(pid, 0)
    assert int(counter.read_text()) == 3, "two failures, each restarted, then it ran until asked to stop"
