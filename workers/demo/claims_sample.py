"""The bundled sample of ERP unpaid-invoice changes, for the non-payments worker.

Two unpaid invoices of one debtor (CLI-0005): the first opens a claim file, the second joins it;
the first delivered twice is recognised, not declared again; a row naming its debtor twice is a
validation dead letter; an update that changes nothing Cesce was sent calls nothing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from workers.cesce.codecs import spanish_today
from workers.demo.sample import Change, envelope

__all__ = ["CLAIMS_DEBTOR", "claims_sample"]

CLAIMS_DEBTOR = "CLI-0005"
_TABLE = "unpaid_invoices"


def _row(run: str, n: int, amount: str, **changes: Any) -> dict[str, Any]:
    today = spanish_today()
    return {
        "nonPaymentId": f"IMP-{run}-{n}",
        "contractNo": "34109150331",
        "customerReference": CLAIMS_DEBTOR,
        "invoiceNo": f"F{run}-U{n}",
        "invoiceDate": (today - timedelta(days=120)).isoformat(),
        "maturityDate": (today - timedelta(days=60)).isoformat(),
        "unpaidAmount": str(Decimal(amount)),
        "currencyCode": "EUR",
        **changes,
    }


def claims_sample(run: str) -> list[Change]:
    first, second = _row(run, 1, "4200.00"), _row(run, 2, "1750.50")
    first_once = envelope("c", None, first, _TABLE)
    return [
        Change("a first unpaid invoice: a claim file opens", CLAIMS_DEBTOR, first_once, "DECLARED"),
        Change("the same CDC event delivered twice", CLAIMS_DEBTOR, first_once, "ALREADY_DECLARED"),
        Change(
            "a second unpaid invoice: the same claim file",
            CLAIMS_DEBTOR,
            envelope("c", None, second, _TABLE),
            "DECLARED",
        ),
        Change(
            "an update that changes nothing Cesce was sent",
            CLAIMS_DEBTOR,
            envelope("u", second, second, _TABLE),
            "NO_CHANGE",
        ),
        Change(
            "a row naming its debtor twice",
            CLAIMS_DEBTOR,
            envelope("c", None, _row(run, 3, "99.00", endorsementNo="1"), _TABLE),
            "dlq:validation",
        ),
    ]
