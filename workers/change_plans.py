"""The decisions every worker's plan shares, whatever its Cesce call: no call, a delete, a refusal; and the
debtor's name on a sale or a non-payment row.

Each worker's ``plan()`` maps one ERP change (op, before, after) to its own call (declare a sale,
ask for a limit, declare a non-payment) or to one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Deleted", "NoChange", "Refuse", "debtor_of"]


def debtor_of(row: Mapping[str, Any]) -> str:
    """The debtor as the ERP names it on a sale or a non-payment: customerReference, else endorsementNo (the key)."""
    return str(row.get("customerReference") or row.get("endorsementNo") or "")


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
