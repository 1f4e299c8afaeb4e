"""A child's side of the process tree: die with the parent, and tell it where the child's health endpoint is.

**No orphans.** A child asks the kernel to send it SIGTERM when its parent dies, however it dies
(SIGKILL and OOM included): ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` through ctypes, on Linux. SIGTERM
rather than SIGKILL: the child then stops as on any SIGTERM, drains and commits what finished
(nothing is lost either way: uncommitted records are consumed again). The parent may have died
before the child asked, so the child then checks that its parent is still the pid it was given,
and does not start if not. The kernel's signal fires when the *thread* that forked the child ends,
so the supervisor starts children from its main thread only. Where prctl is not available (macOS,
for development), a daemon thread checks the parent's pid every second instead.

**The health port.** A child serves ``/healthz``, ``/readyz`` and ``/metrics`` on a loopback port it
lets the kernel choose (no race for a free port), and writes that port, one line, to the pipe whose
write end the parent passed it (`workers.runtime.processes.PARENT_FD`). A pipe rather than a log
line: logs are the operator's, and a line there is no interface.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from workers.runtime.processes import PARENT_FD, PARENT_PID, PROCESS_INDEX

__all__ = ["ParentLink", "parent_link"]

_log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG: Final = 1
_WATCH_SECONDS: Final = 1.0


@dataclass(frozen=True)
class ParentLink:
    """A child's tie to the supervising parent (None from `parent_link` for a process nobody supervises)."""

    parent_pid: int
    index: int
    fd: int | None

    def bind(self) -> bool:
        """Die with the parent from now on; False when the parent is already gone (the child must not start)."""
        if not _death_signal(signal.SIGTERM):
            threading.Thread(target=self._watch, name="parent-watch", daemon=True).start()
        return os.getppid() == self.parent_pid

    def report_port(self, port: int) -> None:
        """Tell the parent where this child's health endpoint listens; a parent gone already is no error."""
        if self.fd is None:
            return
        try:
            os.write(self.fd, f"{port}\n".encode())
        except OSError as exc:
            _log.warning("process %d: cannot tell the parent its health port: %s", self.index, exc)
        finally:
            os.close(self.fd)

    def _watch(self) -> None:
        while os.getppid() == self.parent_pid:
            time.sleep(_WATCH_SECONDS)
        _log.warning("process %d: the parent process is gone; stopping", self.index)
        os.kill(os.getpid(), signal.SIGTERM)


def parent_link(env: Mapping[str, str]) -> ParentLink | None:
    """The link the supervising parent put in this child's environment, None in a process of its own."""
    pid = env.get(PARENT_PID)
    if not pid:
        return None
    fd = env.get(PARENT_FD)
    return ParentLink(int(pid), int(env.get(PROCESS_INDEX, "0")), int(fd) if fd else None)


def _death_signal(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)``; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
