"""The decisions every worker's plan shares, whatever its Cesce call: no call, a delete, a refusal; and the
debtor's name on a sale or a non-payment row.

Each worker's ``plan()`` maps one ERP change (op, before, after) to its own call (declare a sale,
ask for a limit, declare a non-payment) or to one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from workers.cesce import CesceValidationError

__all__ = ["Deleted", "NoChange", "Refuse", "by_op", "debtor_of"]

Row = Mapping[str, Any]
P = TypeVar("P")


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


def by_op(
    op: str, before: Row | None, after: Row | None, *, create: Callable[[Row], P], update: Callable[[Row, Row], P]
) -> P | Deleted | Refuse:
    """What every worker does with an operation: ``c`` / ``r`` -> `create(after)` (a `CesceValidationError` it
    raises is a refusal naming the field), ``d`` -> `Deleted`, ``u`` -> `update(before, after)`; an update with
    nothing to compare with, or any other operation, is refused.

    `before` is what the change is compared with: what the worker last sent to Cesce for the row when it knows,
    else Debezium's before-image (`workers.cesce_handling.carry_change`)."""
    if op in ("c", "r") and after is not None:
        try:
            return create(after)
        except CesceValidationError as exc:
            return Refuse(exc.field, str(exc))
    if op == "d":
        return Deleted()
    if op != "u" or after is None:
        return Refuse("op", f"unsupported change {op!r}")
    if before is None:
        return Refuse(
            "before",
            "an update without its before-image (PostgreSQL's default REPLICA IDENTITY) of a row this worker has no "
            "record of sending to Cesce cannot say what changed (its identity may have changed, or it was never sent)",
        )
    return update(before, after)
