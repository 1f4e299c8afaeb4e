"""The bundled sample of ERP invoice changes: one change per path the invoices worker knows.

Dates are relative to today, so the sample is always inside the policies' periods and the
modification windows. Each change is a Debezium-style JSON envelope keyed by the debtor, with what
the demo expects to become of it; one record is deliberately neither an envelope nor an invoice row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from workers.cesce.codecs import spanish_today

__all__ = ["Change", "envelope", "sample_changes"]


@dataclass(frozen=True)
class Change:
    story: str
    key: str
    value: bytes
    expect: str
    """The outcome (DECLARED, ...) or ``dlq:<category>`` the demo expects."""


def _row(invoice: str, debtor: str, amount: str, *, contract: str = "34109150331", **dates: date) -> dict[str, Any]:
    today = spanish_today()
    return {
        "contractNo": contract,
        "invoiceNo": invoice,
        "invoiceDate": dates.get("invoice", today).isoformat(),
        "maturityDate": dates.get("maturity", today + timedelta(days=60)).isoformat(),
        "amount": str(Decimal(amount)),
        "currencyCode": "EUR",
        "customerReference": debtor,
    }


def envelope(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None, table: str = "invoices") -> bytes:
    """A Debezium-style JSON change record of one row of the ERP's `table`."""
    source = {"connector": "demo", "db": "erp", "table": table}
    return json.dumps({"before": before, "after": after, "op": op, "ts_ms": 1763600000000, "source": source}).encode()


def sample_changes(run: str) -> list[Change]:
    """The sample; `run` makes invoice numbers unique to this run."""
    today = spanish_today()

    def inv(n: str) -> str:
        return f"F{run}-{n}"

    a1 = _row(inv("0001"), "CLI-0001", "12500.00")
    a1_more = dict(a1, amount="13100.00")
    a2 = _row(inv("0002"), "CLI-0002", "8400.50")
    a3 = _row(inv("0003"), "CLI-0002", "990.00")
    b1 = _row(inv("0004"), "CLI-0004", "5000.00")
    b1_credit = _row(inv("0004-A"), "CLI-0004", "-1500.00")
    created_twice = envelope("c", None, a2)
    return [
        Change("a new invoice", "CLI-0001", envelope("c", None, a1), "DECLARED"),
        Change("another invoice", "CLI-0002", created_twice, "DECLARED"),
        Change("the same CDC event delivered twice", "CLI-0002", created_twice, "ALREADY_DECLARED"),
        Change("the amount of a declared invoice corrected", "CLI-0001", envelope("u", a1, a1_more), "MODIFIED"),
        Change("an update that changes nothing Cesce stores", "CLI-0002", envelope("u", a2, a2), "NO_CHANGE"),
        Change("an invoice deleted in the ERP", "CLI-0002", envelope("d", a3, None), "DELETED_IN_ERP"),
        Change("a sale, then its credit note", "CLI-0004", envelope("c", None, b1), "DECLARED"),
        Change("... the credit note (abono)", "CLI-0004", envelope("c", None, b1_credit), "DECLARED"),
        Change(
            "a credit note with no sale before it",
            "CLI-0003",
            envelope("c", None, _row(inv("0005-A"), "CLI-0003", "-300.00")),
            "dlq:business",
        ),
        Change(
            "an invoice dated after its maturity",
            "CLI-0005",
            envelope("c", None, _row(inv("0006"), "CLI-0005", "100.00", maturity=today - timedelta(days=1))),
            "dlq:business",
        ),
        Change(
            "an invoice on the expired policy",
            "CLI-X-0001",
            envelope("c", None, _row(inv("0007"), "CLI-X-0001", "100.00", contract="34100000017")),
            "dlq:business",
        ),
        Change(
            "a foreign debtor on the domestic-only policy",
            "CLI-FR-01",
            envelope("c", None, _row(inv("0008"), "CLI-FR-01", "100.00", contract="38100029218")),
            "dlq:business",
        ),
        Change(
            "a debtor whose limit was cancelled",
            "CLI-BAJA-01",
            envelope("c", None, _row(inv("0009"), "CLI-BAJA-01", "700.00")),
            "REJECTED_BY_POLICY",
        ),
        Change("a record that is neither a change nor a row", "CLI-0005", b'{"hello": "world"}', "dlq:deserialization"),
    ]
