"""Cesce's rate limit, used to the full without a storm of 429s: one pace for every call of the pod.

Without it, each call meets its own 429 and backs off alone: with 64 calls in flight, all 64 hit the
limit. `Throttle` puts every API call (`CesceHttp`) through two gates, a pause and a pace:

1. **A 429 pauses everything.** The first 429 (HTTP 429, errorCode 29) sets a pause of its
   Retry-After (delta-seconds or an HTTP date, capped at `MAX_PAUSE_SECONDS`), or of
   `DEFAULT_PAUSE_SECONDS` (1 s) without one: gateways answer a refusal with the time until the
   next request would be accepted, rarely more than a second for a per-second plan, and one second
   is the shortest wait that does not simply meet the limit again (the sandbox never says less).
   Until the pause ends no new request leaves (a call that was waiting for its slot queues again
   behind the pause); calls already in flight go on. The refused call itself goes back to
   `RetryPolicy`, which already waits at least Retry-After.
2. **A pace.** Requests leave one "next free slot" apart, ``1 / rate`` seconds (GCRA), in the
   order they ask. Only the first caller in line in a process holds a reservation (the others wait
   in a queue served by one task, which lets every slot already due go at once), so a new rate or a
   pause applies from the next slot, not after a queue of slots reserved at the old pace; a turn
   taken up to `CATCH_UP_SECONDS` late (a busy event loop) keeps the schedule, so lateness does not
   lower the pace. The rate is:

   - **configured** (``CESCE_MAX_REQUESTS_PER_SECOND``, a gateway plan whose quota is known): the
     pace starts there and never goes above it; 429s still lower it, and it grows back;
   - **ramping** before any 429: it starts at `INITIAL_RATE` with a burst of `INITIAL_BURST` calls
     and, for every call answered that was sent while the pace was busy (its queue or burst in use),
     grows by one call in the air: ``1 / round trip`` requests per second (TCP's slow start: the
     rate doubles about every round trip, at most every 0.17 s, while the pace is what holds the
     calls back), and the slots already reserved are owed at the new pace (`_grow`). A worker that
     never meets the limit is held back for a few round trips (at 200 ms, 320/s within about a
     second; growing +1/s per answer, in time, took 4 s, most of a short benchmark); a cold worker's
     first burst reaches the server spread out, so the limit is met by about one round trip's
     overshoot, not by 64 calls (with no pace at all, the answers of the first burst sent the next
     calls before its refusals were in: 62 of 64 refused at 50/s);
   - **learned** from the 429s afterwards. At a 429 the server's bucket is empty. At the first, the
     requests it let through in the last second (`RATE_WINDOW_SECONDS`) measure its rate,
     generously (its initial burst is in it); at a later one less than `FRESH_SECONDS` after the one
     before, the bucket was empty at both, so the requests let through between them over the time
     between them measure it exactly, as long as we were above it throughout (an overshoot, or a
     configured limit above the real one: nearly every call waited for its slot). The rate becomes
     `MARGIN` (98 %) of the measure, at the end of the pause once the refusals of the burst are in,
     and at most x0.9 of what it was. A measure over a window with idle time in it (the pace was
     not binding) is too low, so then it cuts by x0.5 at most; with no fresh measure at all (a 429
     after a long stretch at the learned pace) the cut is x0.9, the gentle decrease;
   - growing again by `GROWTH` per call that waited for its slot: +1 % per second compounded. From
     98 % of the limit it crosses the limit in ~2 s, and the server's bucket (about a second's
     worth), full by then, empties ~14 s later, at ~1.14 times the limit; that 429 measures the
     limit again (the window is fresh and saturated). One pause of Retry-After every ~17 s, whose
     refill the next overshoot spends: the calls let through average ~97-100 % of the limit, and
     one call in thousands is refused. An AIMD halving would average 75 % and meet the limit as
     often. Slower growth would pause less often but take minutes to recover from a low measure
     (a quota raised, a window with the client itself slow); at 1 %/s the rate doubles in ~70 s.

**Shared by the pod.** With a configured limit, or when ``CESCE_THROTTLE_DIR`` is set, the whole
state (next free slot, pause, rate, counters) lives in a small file,
``cesce-throttle-v1-<hash>.state`` in that directory (default: the system's temporary directory),
the hash covering the base URL, the client id and the boot id (never a secret). Every process of
the pod that talks to the same Cesce application maps it and changes it under ``fcntl.flock``: the
lock is held for a read, a few additions and a write (microseconds, no await inside), so it does
not block the event loop, and it dies with a process killed while holding it. The processes share
one pace, and one process's 429 pauses them all.
Times are ``time.monotonic()``: CLOCK_MONOTONIC is one clock for all the processes of a machine
(the containers of a pod share the kernel); the boot id in the name keeps a file that survived a
reboot from being read against a restarted clock, and a time implausibly far ahead
(`STALE_AHEAD_SECONDS`) is taken for corruption and reset. Without either setting the state is
this process's own (one worker process per pod, tests).

The decisions are pure functions of a `ThrottleState` and the time (`take`, `commit`, `answered`,
`settle`), tested on their own; `Throttle` adds the waits (injectable clock and sleep, like
`RetryPolicy`), the log lines and the metrics.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import logging
import math
import mmap
import os
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from workers.cesce.retry import Clock, Sleep, parse_retry_after
from workers.observability.metrics import THROTTLE_PAUSES, THROTTLE_RATE, THROTTLE_WAIT

if TYPE_CHECKING:
    from workers.cesce.config import CesceSettings

__all__ = [
    "DEFAULT_PAUSE_SECONDS",
    "FileStore",
    "MemoryStore",
    "Pause",
    "Slot",
    "Throttle",
    "ThrottleState",
    "Turn",
    "answered",
    "commit",
    "fresh_state",
    "settle",
    "shared_state_path",
    "take",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PAUSE_SECONDS: Final = 1.0
"""The pause after a 429 without a (readable) Retry-After."""
MAX_PAUSE_SECONDS: Final = 300.0
"""A longer Retry-After is taken as this: a gateway's slip must not stop the pod for a day."""
INITIAL_RATE: Final = 16.0
"""The pace before any 429 (no configured limit), in requests per second; it ramps up from there."""
INITIAL_BURST: Final = 16.0
"""Calls that may leave at once before any 429 (no configured limit); the pace applies beyond."""
RAMP_GROWTH: Final = 1.0
"""Before any 429, one more call in the air per call answered that waited for its slot: ``1 / round trip``
requests per second added, at least this many."""
RAMP_MIN_ROUND_TRIP: Final = 0.25
"""The shortest round trip the ramp counts with: a faster answer adds 4 requests per second, so the ramp doubles at
most about every 0.17 s. A gateway's bucket hides its limit until it is empty, and the calls sent in the round trip
before the first 429 comes back are refused: at 20 ms against a 100/s limit (a second's worth of bucket), counting
down to 10 ms refused 22 of 2,031 calls of a 20 s run, down to 0.1 s 7-38 in four runs, down to 0.25 s 4-15 in three
(issue 18); at 200 ms the ramp is the same for all three (320/s within about a second)."""
GROWTH: Final = 0.01
"""Requests per second added per call that waited for its slot, once learned: +1 %/s compounded."""
CATCH_UP_SECONDS: Final = 0.025
"""How late a turn may be taken and still keep the schedule: a busy event loop (or a process the CPU
is shared with) wakes sleepers late, and that must not lower the pace. In any window at most
``rate * (window + CATCH_UP_SECONDS) + 1`` requests leave; the long-run pace is exact."""
MARGIN: Final = 0.98
"""The share of a measured server rate the pace is set to."""
DECREASE: Final = 0.9
"""The gentle decrease at a 429 without a fresh measure, and the least any 429 cuts."""
MAX_DECREASE: Final = 0.5
"""The most one 429 may cut when its measure is not trustworthy (idle time in the window)."""
SATURATED: Final = 0.9
"""A window in which at least this share of the calls waited for their slot measures the server."""
MIN_RATE: Final = 1.0
"""The pace never goes below one request per second."""
FRESH_SECONDS: Final = 30.0
"""A window between two 429s longer than this is not a measure of the server's rate."""
RATE_WINDOW_SECONDS: Final = 1.0
"""The window of "requests let through in the last second" at the first 429."""
STALE_AHEAD_SECONDS: Final = 3600.0
"""A stored time further ahead than this is corruption (or another boot's clock): reset."""


@dataclass(slots=True)
class ThrottleState:
    """Everything the pod's processes share; times on the monotonic clock, 0 meaning "never".

    Counts are floats so that the whole state is one array of doubles in the shared file.
    """

    rate: float = INITIAL_RATE
    """The pace, in requests per second."""
    next_slot: float = 0.0
    """The earliest time the next request may leave (the burst aside, before any 429)."""
    paused_until: float = 0.0
    sent: float = 0.0
    """Requests that left, ever."""
    waited: float = 0.0
    """Of which had to wait for their slot (the pace was what held them back)."""
    rejected: float = 0.0
    """429s received, ever."""
    bin_start: float = 0.0
    """Start of the current one-second bin of sends (for `recent_sent`)."""
    bin_sent: float = 0.0
    previous_bin_sent: float = 0.0
    episodes: float = 0.0
    """429 episodes so far: a 429 for a request sent before the last one began belongs to it."""
    episode_at: float = 0.0
    episode_sent: float = 0.0
    """`sent` when the last episode began."""
    episode_waited: float = 0.0
    episode_recent: float = 0.0
    """Requests sent in the second before the last episode began."""
    estimate_due: float = 0.0
    """1 while the rate is to be set when the pause ends (once the episode's refusals are in)."""
    mark_at: float = 0.0
    """When the episode before the last one began: the start of the measuring window."""
    mark_sent: float = 0.0
    mark_waited: float = 0.0
    mark_rejected: float = 0.0
    """`rejected` when the last estimate was made."""


@dataclass(frozen=True, slots=True)
class Pause:
    """No request may leave before `until`."""

    until: float


@dataclass(frozen=True, slots=True)
class Slot:
    """A request may leave at `at` (reserved; already counted as sent when `at` was due at once)."""

    at: float
    waited: bool
    """Whether the pace held it back (the queue or the burst was in use): such answers grow the rate."""


def fresh_state(limit: float | None) -> ThrottleState:
    return ThrottleState(rate=INITIAL_RATE if limit is None else limit)


def _ramping(state: ThrottleState, limit: float | None) -> bool:
    return limit is None and not state.episodes


def _tolerance(state: ThrottleState, limit: float | None) -> float:
    """How far ahead of its slot a call may leave: the initial burst, while ramping."""
    return (INITIAL_BURST - 1) / state.rate if _ramping(state, limit) else 0.0


def recent_sent(state: ThrottleState, now: float) -> float:
    """Requests sent in the last second: the current bin, plus the previous one's share of the window."""
    into = (now - state.bin_start) / RATE_WINDOW_SECONDS
    if into >= 2:
        return 0.0
    if into >= 1:
        return state.bin_sent * (2 - into)
    return state.bin_sent + state.previous_bin_sent * (1 - into)


def _count_send(state: ThrottleState, now: float, waited: bool) -> None:
    into = (now - state.bin_start) / RATE_WINDOW_SECONDS
    if into >= 1:
        state.previous_bin_sent = state.bin_sent if into < 2 else 0.0
        state.bin_start = now
        state.bin_sent = 0.0
    state.bin_sent += 1
    state.sent += 1
    state.waited += waited


def take(state: ThrottleState, now: float, limit: float | None) -> Pause | Slot:
    """Ask for a turn at `now`: a pause to wait out first, or a reserved slot (counted as sent if due now)."""
    if state.paused_until > now:
        return Pause(state.paused_until)
    if state.estimate_due:
        settle(state, limit)
    at = max(now, state.next_slot - _tolerance(state, limit))
    waited = state.next_slot > now
    # A turn taken a little late (a busy event loop wakes sleepers late) keeps the schedule; after an
    # idle stretch the schedule starts again from now, so an idle pod has no burst saved up.
    late = now - CATCH_UP_SECONDS <= state.next_slot
    state.next_slot = (state.next_slot if late else now) + 1 / state.rate
    if at <= now:
        _count_send(state, now, waited)
    return Slot(at, waited)


def commit(state: ThrottleState, now: float, waited: bool = True) -> Pause | None:
    """At a reserved slot: the pause that began meanwhile (ask again after it), or None: go, counted as sent."""
    if state.paused_until > now:
        return Pause(state.paused_until)
    _count_send(state, now, waited)
    return None


def answered(
    state: ThrottleState,
    now: float,
    *,
    sent_at: float,
    waited: bool,
    status: int,
    retry_after: float | None,
    limit: float | None,
) -> float | None:
    """Learn from one answer; the pause when it is a 429 that begins a new episode, else None.

    Any answer but a 429 was let through (a rejection used the quota too). A 429 for a request
    sent before the current episode began is that episode's: it may lengthen the pause but says
    nothing new about the rate.
    """
    if status != 429:
        if waited:
            ramping = _ramping(state, limit)
            growth = max(RAMP_GROWTH, 1 / max(now - sent_at, RAMP_MIN_ROUND_TRIP)) if ramping else GROWTH
            _grow(state, now, _capped(state.rate + growth, limit))
        return None
    state.rejected += 1
    pause = DEFAULT_PAUSE_SECONDS if retry_after is None else min(max(retry_after, 0.0), MAX_PAUSE_SECONDS)
    state.paused_until = max(state.paused_until, now + pause)
    state.next_slot = max(state.next_slot, state.paused_until)
    if state.episodes and sent_at < state.episode_at:
        return None
    if state.episodes:
        state.mark_at, state.mark_sent, state.mark_waited = state.episode_at, state.episode_sent, state.episode_waited
    state.episodes += 1
    state.episode_at = now
    state.episode_sent = state.sent
    state.episode_waited = state.waited
    state.episode_recent = recent_sent(state, now)
    state.estimate_due = 1.0
    return pause


def _grow(state: ThrottleState, now: float, rate: float) -> None:
    """A faster pace, for the slots already reserved too: the calls owed (``(next_slot - now) * rate``, the
    initial burst's among them) are owed at the new pace. Kept at the old one, a burst reserved at 16/s held
    the next call back for most of a second whatever the rate had become."""
    if state.next_slot > now:
        state.next_slot = now + (state.next_slot - now) * state.rate / rate
    state.rate = rate


def settle(state: ThrottleState, limit: float | None) -> float:
    """Set the rate after an episode's pause, when its refusals are all in (see the module docstring)."""
    refused = state.rejected - state.mark_rejected
    window = state.episode_at - state.mark_at
    if state.episodes == 1 and limit is None:
        new = MARGIN * max(state.episode_recent - refused, 0.0) / RATE_WINDOW_SECONDS
    elif state.mark_at > 0 and 0 < window <= FRESH_SECONDS:
        sent = state.episode_sent - state.mark_sent
        saturated = state.episode_waited - state.mark_waited >= SATURATED * sent
        measured = MARGIN * (sent - refused) / window
        new = measured if saturated else max(measured, MAX_DECREASE * state.rate)
    else:
        new = DECREASE * state.rate
    state.rate = _capped(max(min(new, DECREASE * state.rate), MIN_RATE), limit)
    state.mark_rejected = state.rejected
    state.estimate_due = 0.0
    return state.rate


def _capped(rate: float, limit: float | None) -> float:
    return rate if limit is None else min(rate, limit)


def sane(state: ThrottleState, now: float, limit: float | None) -> ThrottleState:
    """`state` if it is plausible at `now`, else a fresh one (a corrupt file, another boot's clock)."""
    values = dataclasses.astuple(state)
    times = (state.next_slot, state.paused_until, state.bin_start, state.episode_at, state.mark_at)
    if (
        not all(math.isfinite(v) and v >= 0 for v in values)
        or state.rate <= 0
        or any(t > now + STALE_AHEAD_SECONDS for t in times)
    ):
        _log.warning("cesce throttle: shared state implausible, starting afresh")
        return fresh_state(limit)
    if limit is not None and state.rate > limit:
        state.rate = limit
    return state


class StateStore(Protocol):
    """Where the state lives: `update` applies a change atomically and returns its result."""

    def update(self, change: Callable[[ThrottleState], T]) -> T: ...

    def close(self) -> None: ...


class MemoryStore:
    """This process's own state."""

    def __init__(self, limit: float | None = None) -> None:
        self.state = fresh_state(limit)

    def update(self, change: Callable[[ThrottleState], T]) -> T:
        return change(self.state)

    def close(self) -> None:
        pass


_MAGIC: Final = b"CTHR"
_VERSION: Final = 1
_HEADER: Final = struct.Struct("<4sI")
_BODY: Final = struct.Struct(f"<{len(dataclasses.fields(ThrottleState))}d")
_SIZE: Final = _HEADER.size + _BODY.size


def boot_id() -> str:
    """This machine's boot id (Linux), so a state file never outlives the clock it was written with."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def shared_state_path(directory: str | Path, base_url: str, client_id: str, boot: str | None = None) -> Path:
    """The state file of one Cesce application on this machine; the name hashes no secret."""
    key = "\n".join((base_url, client_id, boot_id() if boot is None else boot))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return Path(directory) / f"cesce-throttle-v{_VERSION}-{digest}.state"


class FileStore:
    """The state in a small file mapped by every process of the pod, changed under an exclusive flock."""

    def __init__(self, path: Path, *, limit: float | None = None, clock: Clock = time.monotonic) -> None:
        self.path = path
        self._limit = limit
        self._clock = clock
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        self._fd = os.open(path, flags, 0o600)
        try:
            with self._locked():
                if os.fstat(self._fd).st_size < _SIZE:
                    os.ftruncate(self._fd, _SIZE)
            self._map = mmap.mmap(self._fd, _SIZE)
        except BaseException:
            os.close(self._fd)
            raise

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def update(self, change: Callable[[ThrottleState], T]) -> T:
        with self._locked():
            state = sane(self._read(), self._clock(), self._limit)
            result = change(state)
            self._write(state)
        return result

    def _read(self) -> ThrottleState:
        magic, version = _HEADER.unpack_from(self._map, 0)
        if magic != _MAGIC or version != _VERSION:
            return fresh_state(self._limit)
        return ThrottleState(*_BODY.unpack_from(self._map, _HEADER.size))

    def _write(self, state: ThrottleState) -> None:
        _HEADER.pack_into(self._map, 0, _MAGIC, _VERSION)
        _BODY.pack_into(self._map, _HEADER.size, *dataclasses.astuple(state))

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self._fd)


class Turn:
    """One request's turn to leave; tell the throttle how it was answered with `answered`."""

    __slots__ = ("_throttle", "sent_at", "waited")

    def __init__(self, throttle: Throttle, sent_at: float, waited: bool) -> None:
        self._throttle = throttle
        self.sent_at = sent_at
        self.waited = waited

    def answered(self, status: int, retry_after: str | None = None) -> None:
        """The HTTP status of the answer and its Retry-After header (after a transport error: do not call)."""
        self._throttle._answered(self, status, retry_after)


class Throttle:
    """Paces the Cesce API calls of a process (of a pod, with a `FileStore`): ``async with throttle.turn() as t:``."""

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        limit: float | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._limit = limit
        self._store: StateStore = store or MemoryStore(limit)
        self._clock: Clock = clock or time.monotonic
        self._sleep: Sleep = sleep or asyncio.sleep
        self._reported_rate = 0.0
        # Calls that found the pace busy, in the order they came, each waiting for its turn. One task (`_serve`)
        # holds the only reservation of the process, for the first of them: a change of rate (or a pause) applies
        # from the next slot, not after a queue of slots reserved at the old pace.
        self._waiting: collections.deque[tuple[asyncio.Future[Turn], float]] = collections.deque()
        self._server: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: CesceSettings, *, clock: Clock | None = None, sleep: Sleep | None = None
    ) -> Throttle:
        """Shared through a file when a limit is configured or a directory given; else this process's own."""
        limit = settings.max_requests_per_second
        clock = clock or time.monotonic
        if limit is None and settings.throttle_dir is None:
            return cls(MemoryStore(), clock=clock, sleep=sleep)
        path = shared_state_path(settings.throttle_dir or tempfile.gettempdir(), settings.base_url, settings.client_id)
        try:
            store = FileStore(path, limit=limit, clock=clock)
        except OSError as exc:  # a pod-wide limit kept per process would be N times the limit: refuse to start
            raise OSError(f"cesce throttle: cannot open the shared state file {path}: {exc.strerror or exc}") from exc
        return cls(store, limit=limit, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return f"Throttle(limit={self._limit!r}, store={self._store!r})"

    @property
    def rate(self) -> float:
        """The pace now, in requests per second."""
        return self._store.update(lambda state: state.rate)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """Wait for a turn (the pause, then the pace); the request leaves inside the block."""
        yield await self._acquire()

    def close(self) -> None:
        self._store.close()

    async def _acquire(self) -> Turn:
        started = self._clock()
        # Nobody waiting and the slot free: the call leaves without queueing.
        if not self._waiting:
            go = self._store.update(functools.partial(_take_if_due, now=started, limit=self._limit))
            if go is not None:
                THROTTLE_WAIT.record(0.0)
                return Turn(self, started, go.waited)
        turn: asyncio.Future[Turn] = asyncio.get_running_loop().create_future()
        self._waiting.append((turn, started))
        if self._server is None:
            self._server = asyncio.get_running_loop().create_task(self._serve(), name="cesce-throttle")
        return await turn  # a cancelled caller leaves the line; its reserved slot goes to the next one

    async def _serve(self) -> None:
        """Hand out the turns of the calls waiting, in order: every slot already due in one go, then a sleep until
        the next. Through a lock every call took one asyncio hand-off, one per turn of a busy loop, and the slots
        that fell due while the loop was late left one by one: 43 ms a call in the 20 ms benchmark, 50 ms at 200 ms,
        while the pace itself held nothing back (issue 18)."""
        try:
            while self._waiting:
                turn = await self._next_turn()
                while self._waiting:
                    waiter, started = self._waiting.popleft()
                    if not waiter.done():  # a caller cancelled meanwhile lets the next one have the slot
                        THROTTLE_WAIT.record(max(turn.sent_at - started, 0.0))
                        waiter.set_result(turn)
                        break
        except Exception as exc:  # the shared file failed: every call waiting gets the error, none waits forever
            self._release_all(exc)
        finally:
            self._server = None
            self._release_all(None)  # this task cancelled (the loop closing): the calls waiting are cancelled

    def _release_all(self, error: Exception | None) -> None:
        while self._waiting:
            waiter, _ = self._waiting.popleft()
            if waiter.done():
                continue
            if error is None:
                waiter.cancel()
            else:
                waiter.set_exception(error)

    async def _next_turn(self) -> Turn:
        """The next slot of the pace, waited for (behind a pause, if one began)."""
        while True:
            now = self._clock()
            decision, rate, settled = self._store.update(functools.partial(_take, now=now, limit=self._limit))
            self._note_rate(rate, settled=settled)
            if isinstance(decision, Pause):
                await self._sleep(decision.until - now)
                continue
            if decision.at > now:
                await self._sleep(decision.at - now)
                now = self._clock()
                if self._store.update(functools.partial(commit, now=now, waited=decision.waited)) is not None:
                    continue  # a 429 paused everything while this call waited: queue again behind the pause
            return Turn(self, now, decision.waited)

    def _answered(self, turn: Turn, status: int, retry_after_header: str | None) -> None:
        now = self._clock()
        retry_after = parse_retry_after(retry_after_header) if status == 429 else None
        pause = self._store.update(
            functools.partial(
                answered,
                now=now,
                sent_at=turn.sent_at,
                waited=turn.waited,
                status=status,
                retry_after=retry_after,
                limit=self._limit,
            )
        )
        if pause is not None:
            THROTTLE_PAUSES.add(1, {"reason": "default" if retry_after is None else "retry_after"})
            _log.warning("cesce throttle: HTTP 429, every call paused for %.2fs", pause)

    def _note_rate(self, rate: float, *, settled: bool) -> None:
        if settled:
            _log.info("cesce throttle: pace set to %.1f requests/s after the 429", rate)
        if abs(rate - self._reported_rate) >= 0.01 * rate:
            self._reported_rate = rate
            THROTTLE_RATE.set(rate)


def _take_if_due(state: ThrottleState, now: float, limit: float | None) -> Slot | None:
    """`take` when it would let the call leave at once (no pause, no settling due, the slot free); else None,
    with nothing reserved: the call queues behind the first in line."""
    if state.paused_until > now or state.estimate_due or state.next_slot - _tolerance(state, limit) > now:
        return None
    decision = take(state, now, limit)
    return decision if isinstance(decision, Slot) else None


def _take(state: ThrottleState, now: float, limit: float | None) -> tuple[Pause | Slot, float, bool]:
    """`take`, the rate after it, and whether it settled an episode (for the log and the gauge)."""
    settling = bool(state.estimate_due) and state.paused_until <= now
    return take(state, now, limit), state.rate, settling
