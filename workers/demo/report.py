"""The demo's summary: one checked row per step; a failed check makes the demo exit non-zero."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Report"]


@dataclass
class Report:
    """The rows of the summary; a row whose check failed makes the demo fail."""

    rows: list[tuple[bool, str, str]] = field(default_factory=list)

    def add(self, ok: bool, rule: str, outcome: str) -> None:
        self.rows.append((ok, rule, outcome))
        print(f"  {'ok  ' if ok else 'FAIL'} {rule:<50} {outcome}", flush=True)

    @property
    def failures(self) -> int:
        return sum(not ok for ok, _, _ in self.rows)
