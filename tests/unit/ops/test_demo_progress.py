"""The demo shows progress while it waits for results: a line a second on stderr, none for a short wait.

Issue 20: "The demo shows progress while it waits for results (its sections are silent for several seconds)."
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from workers.demo.progress import Progress, progress_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_says_what_is_awaited_how_many_came_and_for_how_long() -> None:
    assert progress_line("answers (cesce.sale-results)", 3, 14, 2.4) == (
        "    ... waiting for answers (cesce.sale-results): 3 of 14 (2 s)"
    )
    assert progress_line("cesce.risk-limits", 12, None, 1.0) == "    ... waiting for cesce.risk-limits: 12 so far (1 s)"


def test_one_line_per_second_of_waiting_counted_as_asked() -> None:
    clock, out = Clock(), io.StringIO()

    def answers(found: Sequence[str]) -> int:
        return sum(item == "answer" for item in found)

    progress = Progress("answers", 3, count=answers, out=out, clock=clock)
    found: list[str] = []
    progress(found)  # the wait begins
    for step in range(12):  # 12 turns of the loop, a quarter of a second each: three seconds
        clock.now += 0.25
        if step in (2, 9):
            found += ["answer", "final"]
        progress(found)
    assert out.getvalue().splitlines() == [
        "    ... waiting for answers: 1 of 3 (1 s)",
        "    ... waiting for answers: 1 of 3 (2 s)",
        "    ... waiting for answers: 2 of 3 (3 s)",
    ]
    assert progress.lines == 3


def test_a_wait_shorter_than_a_second_prints_nothing() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("records", 1, out=out, clock=clock)
    progress([])
    clock.now += 0.9
    progress(["record"])
    assert out.getvalue() == ""
    assert progress.lines == 0
