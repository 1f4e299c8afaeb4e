"""The sandbox's clock: real UTC time plus an offset that the admin API moves.

Tests expire tokens, age movements past 48 hours and put "today" on the dates of the guide's
examples by moving this clock, never by sleeping. Every rule that needs a time asks this clock.

"Today" is the calendar date in Europe/Madrid: Cesce is a Spanish insurer and the guide's rules
(modification windows by month, sales movements "desde dos días antes al de ejecución") are
stated in Spanish calendar days. `set_today` puts the clock at noon, Madrid time, of the given
day, so a few hours either way never changes the date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from workers.cesce.codecs import MADRID

__all__ = ["MADRID", "SandboxClock", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxClock:
    """``now()`` = ``wall()`` + offset. `wall` is injectable so unit tests control time."""

    def __init__(self, wall: Callable[[], datetime] = utc_now) -> None:
        self._wall = wall
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The sandbox's current instant, timezone-aware (UTC)."""
        return self._wall() + self._offset

    def today(self) -> date:
        """The sandbox's current date in Europe/Madrid."""
        return self.now().astimezone(MADRID).date()

    def epoch_seconds(self) -> int:
        return int(self.now().timestamp())

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)

    def set_today(self, day: date) -> None:
        """Move the clock to noon, Madrid time, of `day`; time keeps running from there."""
        target = datetime.combine(day, time(12), MADRID)
        self._offset = target - self._wall()
