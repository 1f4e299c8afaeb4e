"""Key-ordered concurrency: one lane per key, records of a key strictly one after another.

Records with the same key (the debtor) are handled in the order they were consumed, so a credit
note never overtakes the sale it offsets; records of different keys run concurrently. A lane is a
queue plus one task that exists only while the queue has work, so idle keys cost nothing. The
number of records in flight is bounded by the engine (it pauses consumption), not here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

__all__ = ["KeyLanes"]

_log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class KeyLanes:
    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[Job]] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        """Lanes with work (running or queued)."""
        return len(self._queues)

    def submit(self, key: Hashable, job: Job) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(job)
        if key not in self._tasks:
            # named without the key's repr: the engine's key holds its partition's `Assignment`, whose repr spells
            # out every uncommitted output; built for each new lane, it cost a backlog most of its CPU and memory
            self._tasks[key] = asyncio.get_running_loop().create_task(self._drain(key), name="key-lane")

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                await queue[0]()  # jobs never raise: the engine turns every failure into an outcome
                queue.popleft()
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                self._tasks.pop(key, None)
                self._queues.pop(key, None)

    def cancel(self, where: Callable[[Hashable], bool] | None = None) -> None:
        """Stop the lanes whose key matches `where` (all when None); their queued jobs are dropped."""
        for key in [k for k in self._tasks if where is None or where(k)]:
            self._tasks.pop(key).cancel()
            self._queues.pop(key, None)

    async def idle(self) -> None:
        """Wait until every lane has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
