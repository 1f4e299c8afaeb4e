"""The decisions every worker's plan shares, whatever its Cesce call: no call, a delete, a refusal.

Each worker's ``plan()`` maps one ERP change (op, before, after) to its own call (declare a sale,
ask for a limit, declare a non-payment) or to one of these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Deleted", "NoChange", "Refuse"]


@dataclass(frozen=True, slots=True)
class NoChange:
    """The row changed in nothing Cesce was sent: no call."""


@dataclass(frozen=True, slots=True)
class Deleted:
    """The row was deleted in the ERP: no call; the result says so."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """The change cannot be carried to Cesce; `field` names why (a validation dead letter)."""

    field: str
    reason: str
