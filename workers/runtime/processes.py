"""The process tree of ``cesce-worker run``: how many engine processes, and what each child is told.

One asyncio engine uses one core. To use every core a pod is given, `cesce-worker run` starts one
child process per CPU (`workers.runtime.cpus`) or ``WORKER_PROCESSES``, and supervises them
(`workers.runtime.supervisor`). Each child is the same command, ``cesce-worker run <worker>``, with
its own environment: this module computes it. What makes the children safe side by side:

- **Its own identity.** ``WORKER_INSTANCE_ID`` gets the child's index (``<instance>.<index>``), so its
  ``transactional.id`` is ``<group>.<instance>.<index>``: distinct from its siblings' (two producers
  with one id would fence each other in turn), and the same for every restart of that child, so a
  restarted child fences its predecessor and aborts what it left open. A static membership
  (``KAFKA_GROUP_INSTANCE_ID``) is suffixed likewise: two members with one ``group.instance.id``
  would evict each other. Every child joins the same consumer groups; the group shares the
  partitions among them as among replicas.
- **Its share of** ``WORKER_MAX_IN_FLIGHT``, which stays the bound of the whole tree: floor division,
  the remainder one each to the first children (64 over 3: 22, 21, 21). There are never more
  children than that bound, so every share is at least 1.
- **Its place:** ``WORKER_PROCESSES=1`` (a child runs its engine itself), its health endpoint on a
  loopback port of its own choosing (``WORKER_HTTP_HOST=127.0.0.1``, ``WORKER_HTTP_PORT=0``), and the
  three internal variables of `ParentLink`: the parent's pid, the pipe it reports that port on, and
  its index. Nobody else sets them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from workers.runtime.cpus import available_cpus
from workers.runtime.settings import RuntimeSettings

__all__ = [
    "PARENT_FD",
    "PARENT_PID",
    "PROCESS_INDEX",
    "child_env",
    "child_identity",
    "in_flight_shares",
    "process_count",
]

PARENT_PID: Final = "WORKER_PARENT_PID"
"""Internal: the supervising parent's pid (a child checks it is still its parent once it asked to die with it)."""
PARENT_FD: Final = "WORKER_PARENT_FD"
"""Internal: the write end of the pipe a child reports its health port on."""
PROCESS_INDEX: Final = "WORKER_PROCESS_INDEX"
"""Internal: the child's index, 0 to n-1."""

_STATIC_MEMBER: Final = "KAFKA_GROUP_INSTANCE_ID"


def process_count(settings: RuntimeSettings, cpus: Callable[[], int] = available_cpus) -> int:
    """``WORKER_PROCESSES``, or one per available CPU; never more than ``WORKER_MAX_IN_FLIGHT`` (each child
    handles at least one record at a time, and the tree at most that many)."""
    wanted = settings.processes if settings.processes is not None else cpus()
    return max(1, min(wanted, settings.max_in_flight))


def in_flight_shares(total: int, count: int) -> list[int]:
    """`total` split over `count` children: floor division, the remainder one each to the first ones."""
    if count < 1 or total < count:
        raise ValueError(f"cannot split {total} in-flight records over {count} processes, at least 1 each")
    base, extra = divmod(total, count)
    return [base + (1 if index < extra else 0) for index in range(count)]


def child_identity(identity: str, index: int) -> str:
    """A per-replica identity (instance id, static member id) made per child: stable across the child's restarts."""
    return f"{identity}.{index}"


def child_env(
    env: Mapping[str, str], settings: RuntimeSettings, *, index: int, count: int, parent_pid: int, fd: int
) -> dict[str, str]:
    """The environment of child `index` of `count`: the parent's, with the child's identity, share and place."""
    child = dict(env)
    child.update(
        {
            "WORKER_PROCESSES": "1",
            "WORKER_INSTANCE_ID": child_identity(settings.instance_id, index),
            "WORKER_MAX_IN_FLIGHT": str(in_flight_shares(settings.max_in_flight, count)[index]),
            "WORKER_HTTP_HOST": "127.0.0.1",
            "WORKER_HTTP_PORT": "0",
            PARENT_PID: str(parent_pid),
            PARENT_FD: str(fd),
            PROCESS_INDEX: str(index),
        }
    )
    if env.get(_STATIC_MEMBER):
        child[_STATIC_MEMBER] = child_identity(env[_STATIC_MEMBER], index)
    return child
