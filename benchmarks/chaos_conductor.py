"""The chaos run's conductor: when to kill a replica, scale the replicas and break Cesce, and when the run is over.

Its decisions come from the plan's seed (`_Schedule` draws the kill points by progress and by outage
moment before the run; the victims and the restart delays are drawn as it goes). It acts on the replicas
(`Fleet`) and on Cesce's faults (the sandbox's admin API), watches the ERP (`Feed`) and the outputs
(`Tap`), and keeps the events and a timeline; a run that stops answering outside the outage stalls, with
each replica's ``/readyz`` and metrics kept.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.chaos_outputs import Tap
from benchmarks.chaos_replicas import TICK_SECONDS, Fleet
from benchmarks.chaos_report import ChaosPlan
from benchmarks.chaos_workload import Feed
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["Conductor", "Event"]

OUTAGE_KILL_SHARE: Final = 0.2
"""The share of the kills that land during the outage; the rest at random points of the progress."""
KILL_PROGRESS_SPAN: Final = (0.02, 0.97)
RESTART_DELAY: Final = (0.5, 2.0)
KILL_JITTER_SECONDS: Final = 1.0
OUTAGE_GRACE_SECONDS: Final = 60.0
"""After the outage, how long beyond ``--stall-seconds`` the replicas may take to answer again."""
TIMELINE_SECONDS: Final = 5.0
PROGRESS_EVERY: Final = 6
"""A progress line every this many timeline samples (30 s)."""

_log = logging.getLogger("chaos")


@dataclass
class Event:
    at: float
    what: str


@dataclass
class _Schedule:
    """The seeded decisions, drawn before the run: kill points by progress and by outage moment."""

    progress_kills: list[float]
    outage_kills: list[float]
    """Seconds after the outage's start."""

    @classmethod
    def draw(cls, plan: ChaosPlan, rng: random.Random) -> _Schedule:
        in_outage = round(plan.kills * OUTAGE_KILL_SHARE) if plan.outage_seconds > 0 else 0
        low, high = KILL_PROGRESS_SPAN
        return cls(
            progress_kills=sorted(rng.uniform(low, high) for _ in range(plan.kills - in_outage)),
            outage_kills=sorted(rng.uniform(0.05, 0.95) * plan.outage_seconds for _ in range(in_outage)),
        )


class Conductor:
    """Runs the chaos against the fleet until every input has its outcome (or the time is up)."""

    def __init__(
        self,
        plan: ChaosPlan,
        *,
        fleet: Fleet,
        admin: SandboxAdmin,
        feed: Feed,
        tap: Tap,
        clock: Callable[[], float],
    ) -> None:
        self.plan, self._fleet, self._admin, self._feed, self._tap, self._clock = plan, fleet, admin, feed, tap, clock
        self._rng = random.Random(f"{plan.seed}:chaos")  # noqa: S311 - a reproducible schedule, not security
        self._schedule = _Schedule.draw(plan, self._rng)
        self._agenda: list[tuple[float, int, str, str]] = []
        self._order = itertools.count()
        self._total = len(feed.invoices)
        self._wanted: set[str] = set()
        self.events: list[Event] = []
        self.timeline: list[dict[str, Any]] = []
        self.kills = 0
        self.crashes = 0
        self.outage_start: float | None = None
        self.outage_end: float | None = None
        self.scaled_up: float | None = None
        self.scaled_down: float | None = None
        self.timed_out = False
        self.stalled: dict[str, Any] | None = None
        self._next_sample = 0.0
        self._answered = 0
        self._progressed = 0.0

    def event(self, what: str) -> None:
        event = Event(round(self._clock(), 2), what)
        self.events.append(event)
        _log.info("%7.1f s  %s", event.at, what)

    def _later(self, delay: float, action: str, argument: str = "") -> None:
        heapq.heappush(self._agenda, (self._clock() + delay, next(self._order), action, argument))

    def progress(self) -> float:
        return len(self._tap.answered) / self._total

    # the actions

    def _start(self, instance: str) -> None:
        self._wanted.add(instance)
        self._fleet.start(instance)

    def _kill(self) -> None:
        victims = [i for i in self._fleet.running() if i in self._wanted]
        if not victims:
            self._later(0.5, "kill")
            return
        victim = self._rng.choice(victims)
        self._fleet.kill(victim)
        self.kills += 1
        self.event(f"kill {self.kills}: SIGKILL {victim}")
        self._later(self._rng.uniform(*RESTART_DELAY), "restart", victim)

    def _restart(self, instance: str) -> None:
        if instance in self._wanted and instance not in self._fleet.live():
            self._fleet.start(instance)
            self.event(f"restart {instance}")

    def _begin_outage(self) -> None:
        self.outage_start = self._clock()
        if self.plan.outage_seconds > 0:
            change = {"error_rate": 1.0} if self.plan.outage_kind == "errors" else {"maintenance": True}
            self._admin.set_faults(**change)
            self.event(f"Cesce outage begins ({self.plan.outage_kind}: {change})")
        self._later(self.plan.outage_seconds / 3, "scale up")
        self._later(self.plan.outage_seconds, "end outage")
        for offset in self._schedule.outage_kills:
            self._later(offset, "kill")

    def _end_outage(self) -> None:
        if self.plan.outage_seconds > 0:
            self._admin.set_faults(error_rate=self.plan.error_rate, maintenance=False)
            self.event("Cesce outage ends")
        self.outage_end = self._clock()

    def _scale_up(self) -> None:
        fresh = [f"chaos-{n}" for n in range(1, self.plan.replicas + 1) if f"chaos-{n}" not in self._wanted]
        for instance in fresh:
            self._start(instance)
        self.scaled_up = self._clock()
        self.event(f"scale up to {len(self._wanted)} replicas (+{', '.join(fresh) or 'none'})")

    def _scale_down(self) -> None:
        keep = self._rng.choice(sorted(self._wanted))
        for instance in sorted(self._wanted - {keep}):
            self._wanted.discard(instance)
            if instance in self._fleet.running():
                self._fleet.terminate(instance, "scaled down")
        self.scaled_down = self._clock()
        self.event(f"scale down to 1 replica ({keep}): SIGTERM the others")

    # the loop

    def _triggers(self) -> None:
        progress = self.progress()
        if self.outage_start is None and progress >= self.plan.outage_at:
            self._begin_outage()
        while self._schedule.progress_kills and progress >= self._schedule.progress_kills[0]:
            self._schedule.progress_kills.pop(0)
            self._later(self._rng.uniform(0, KILL_JITTER_SECONDS), "kill")
        if self.outage_end is not None and self.scaled_down is None and progress >= self.plan.scale_down_at:
            if self.scaled_up is None:
                self._scale_up()
            self._scale_down()

    def _due(self) -> None:
        actions: dict[str, Callable[[str], None]] = {
            "kill": lambda _: self._kill(),
            "restart": self._restart,
            "scale up": lambda _: self._scale_up(),
            "end outage": lambda _: self._end_outage(),
        }
        while self._agenda and self._agenda[0][0] <= self._clock():
            _, _, action, argument = heapq.heappop(self._agenda)
            actions[action](argument)

    def _reap(self) -> None:
        for process in self._fleet.reap():
            if process.how is None:
                self.crashes += 1
                tail = process.log.read_text(errors="replace").strip().splitlines()[-3:]
                self.event(f"{process.instance} exited by itself with {process.popen.returncode}: {tail}")
                if process.instance in self._wanted:
                    self._later(1.0, "restart", process.instance)
            else:
                self.event(f"{process.instance} gone ({process.how}, exit {process.popen.returncode})")

    def _sample(self) -> None:
        now = self._clock()
        if now < self._next_sample:
            return
        self._next_sample = now + TIMELINE_SECONDS
        deliveries = dict(self._feed.deliveries)
        answered = self._tap.answered
        waiting = [d.produced for d in deliveries.values() if (d.partition, d.offset) not in answered]
        sample = {
            "t": round(now, 1),
            "produced": self._feed.produced,
            "answered": len(answered),
            "outputs": len(self._tap.outputs),
            "replicas": len(self._fleet.running()),
            "oldest_waiting_seconds": round(now - min(waiting), 1) if waiting else 0.0,
        }
        self.timeline.append(sample)
        if len(self.timeline) % PROGRESS_EVERY == 0:
            _log.info(
                "%7.1f s  produced %d, answered %d (outputs %d), %d replicas running, oldest waiting %.0f s",
                *(sample[k] for k in ("t", "produced", "answered", "outputs", "replicas", "oldest_waiting_seconds")),
            )

    def _finished(self) -> bool:
        return (
            self._feed.done.is_set()
            and len(self._tap.answered) >= self._total
            and not self._schedule.progress_kills
            and not any(action == "kill" for _, _, action, _ in self._agenda)
            and self.outage_end is not None
            and self.scaled_down is not None
            and len(self._fleet.live()) <= 1
        )

    def _stalled(self) -> bool:
        """No outcome for `stall_seconds` outside the outage (and its first minute after), inputs waiting."""
        now, answered = self._clock(), len(self._tap.answered)
        if answered > self._answered or answered >= self._total:
            self._answered, self._progressed = answered, now
            return False
        if self.outage_start is not None and self.outage_end is None:
            return False  # Cesce is down: nothing can be answered
        since = max(self._progressed, self.outage_end or 0.0)
        grace = OUTAGE_GRACE_SECONDS if self.outage_end is not None and since == self.outage_end else 0.0
        if now - since < self.plan.stall_seconds + grace:
            return False
        probes = [self._fleet.probe(instance) for instance in self._fleet.live()]
        self.stalled = {
            "since": round(since, 1),
            "answered": answered,
            "waiting": self._feed.produced - answered,
            "replicas": probes,
        }
        self.event(
            f"stalled: no outcome for {now - since:.0f} s, {self._feed.produced - answered} inputs "
            f"waiting; replicas: {[(p['instance'], p.get('readyz')) for p in probes]}"
        )
        return True

    def _tick(self) -> None:
        for error in (self._feed.error, self._tap.error):
            if error is not None:
                raise RuntimeError(error)
        self._reap()
        self._triggers()
        self._due()
        self._sample()

    def run(self) -> None:
        self._start("chaos-1")
        self.event("chaos-1 started; the ERP feed starts")
        self._feed.start()
        while not self._finished():
            if self._clock() > self.plan.timeout_seconds:
                self.timed_out = True
                self.event(f"timed out after {self.plan.timeout_seconds:.0f} s")
                return
            if self._stalled():
                return
            self._tick()
            time.sleep(TICK_SECONDS)
        self.event(f"every input has its outcome; the replicas run {self.plan.settle_seconds:g} s more")
        settle = self._clock() + self.plan.settle_seconds
        while self._clock() < settle:
            self._tick()
            time.sleep(TICK_SECONDS)
