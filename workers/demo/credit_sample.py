"""The bundled sample of ERP credit-request changes: one change per path the credit-requests worker knows.

The sandbox grants up to 100.000,00 at once and leaves larger requests EN TRÁMITE; a request that
declares known non-payments is denied; a new foreign debtor on the domestic-only policy is 2809.
On the PPC policy a limit is deactivated, reactivated and cancelled from the ERP (limitAction), a
deactivation on another policy is refused by Cesce, and a request above the PPC policy's premium
threshold waits for its premium, which the ERP accepts (premiumDecision).
`run` makes the new debtors' tax codes, references and request ids unique to one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from workers.cesce.codecs import spanish_today
from workers.demo.sample import Change, envelope

__all__ = ["CreditSample", "credit_sample"]

_TABLE = "credit_requests"
PPC_CONTRACT = "35100000025"
"""The default scenario's PPC-modality policy: activate-deactivate applies, and requests above 20.000,00 wait for
their premium to be accepted."""


@dataclass(frozen=True)
class CreditSample:
    changes: list[Change]
    pending_new_debtor: str
    """requestId of the request on a new debtor left EN TRÁMITE (the sandbox or an admin decides it)."""
    pending_known_debtor: str
    """requestId of the request on a known debtor (CLI-0003) left EN TRÁMITE: a 300xxx number."""
    premium_accepted: str = ""
    """requestId of the request that waits for its premium, accepted by the ERP (its FINAL is GRANTED)."""


def request_row(request_id: str, amount: str, *, contract: str = "34109150331", **fields: Any) -> dict[str, Any]:
    """An ERP credit-request row (JSON form: amounts and dates as strings)."""
    return {
        "requestId": request_id,
        "contractNo": contract,
        "requestDate": spanish_today().isoformat(),
        "creditLimitRequested": str(Decimal(amount)),
        "currencyCode": "EUR",
        "paymentTermsRequested": "60",
        "nonPaymentInd": "N",
        **fields,
    }


def _new_debtor(run: str, n: int, country: str = "ES") -> dict[str, str]:
    return {
        "countryCode": country,
        "taxCode": f"B{run}{n:02d}",
        "customerReference": f"CLI-{run}-{n:02d}",
        "companyName": f"DEUDOR {run} {n:02d} SL",
        "city": "MADRID",
    }


def credit_sample(run: str) -> CreditSample:
    """The sample for one run (`run`: a few letters or digits)."""

    def rid(n: int) -> str:
        return f"SOL-{run}-{n:02d}"

    granted = request_row(rid(1), "40000.00", **_new_debtor(run, 1))
    pending_new = request_row(rid(2), "250000.00", **_new_debtor(run, 2))
    pending_known = request_row(rid(3), "180000.00", customerReference="CLI-0003")
    denied = request_row(rid(4), "20000.00", nonPaymentInd="Y", nonPaymentAmount="3500.00", **_new_debtor(run, 4))
    foreign = request_row(rid(5), "10000.00", contract="38100029218", **_new_debtor(run, 5, "PT"))
    no_amount = request_row(rid(6), "15000.00", nonPaymentInd="Y", **_new_debtor(run, 6))
    long_name = request_row(rid(7), "15000.00", **(_new_debtor(run, 7) | {"companyName": "X" * 200}))
    raised = dict(granted, creditLimitRequested="60000.00")
    renamed = dict(granted, otherInternalNote="called the customer")  # a column Cesce never sees
    created_twice = envelope("c", None, granted, _TABLE)
    ref = granted["customerReference"]
    ppc = request_row(rid(8), "15000.00", contract=PPC_CONTRACT, **_new_debtor(run, 8))
    ppc_off, ppc_on, ppc_cancel = (dict(ppc, limitAction=action) for action in ("DEACTIVATE", "ACTIVATE", "CANCEL"))
    premium = request_row(rid(9), "60000.00", contract=PPC_CONTRACT, **_new_debtor(run, 9))
    premium_accepted = dict(premium, premiumDecision="ACCEPT")
    return CreditSample(
        changes=[
            Change("a new debtor, granted at once", ref, created_twice, "GRANTED"),
            Change("the same CDC event delivered twice", ref, created_twice, "GRANTED"),
            Change(
                "a large limit on a new debtor",
                pending_new["customerReference"],
                envelope("c", None, pending_new, _TABLE),
                "PENDING",
            ),
            Change(
                "a larger limit on a known debtor (300xxx)",
                "CLI-0003",
                envelope("c", None, pending_known, _TABLE),
                "PENDING",
            ),
            Change(
                "a debtor with known non-payments",
                denied["customerReference"],
                envelope("c", None, denied, _TABLE),
                "REJECTED",
            ),
            Change(
                "a new foreign debtor on the domestic-only policy",
                foreign["customerReference"],
                envelope("c", None, foreign, _TABLE),
                "dlq:business",
            ),
            Change(
                "nonPaymentInd Y without nonPaymentAmount",
                no_amount["customerReference"],
                envelope("c", None, no_amount, _TABLE),
                "dlq:validation",
            ),
            Change(
                "a companyName longer than Cesce accepts",
                long_name["customerReference"],
                envelope("c", None, long_name, _TABLE),
                "dlq:validation",
            ),
            Change("an update of a column Cesce never sees", ref, envelope("u", granted, renamed, _TABLE), "NO_CHANGE"),
            Change(
                "an update of the amount of a sent request",
                ref,
                envelope("u", granted, raised, _TABLE),
                "dlq:validation",
            ),
            Change(
                "deactivating a limit on a policy that is not PPC",
                ref,
                envelope("u", granted, dict(granted, limitAction="DEACTIVATE"), _TABLE),
                "dlq:business",
            ),
            Change("a request row deleted in the ERP", ref, envelope("d", granted, None, _TABLE), "DELETED_IN_ERP"),
            Change("a limit on the PPC policy", ppc["customerReference"], envelope("c", None, ppc, _TABLE), "GRANTED"),
            Change(
                "... deactivated from the ERP (limitAction)",
                ppc["customerReference"],
                envelope("u", ppc, ppc_off, _TABLE),
                "DEACTIVATED",
            ),
            Change("... reactivated", ppc["customerReference"], envelope("u", ppc_off, ppc_on, _TABLE), "REACTIVATED"),
            Change(
                "... and cancelled from the ERP",
                ppc["customerReference"],
                envelope("u", ppc_on, ppc_cancel, _TABLE),
                "CANCELLED",
            ),
            Change(
                "a request with a premium to accept",
                premium["customerReference"],
                envelope("c", None, premium, _TABLE),
                "PENDING",
            ),
            Change(
                "... the premium accepted from the ERP",
                premium["customerReference"],
                envelope("u", premium, premium_accepted, _TABLE),
                "PREMIUM_ACCEPTED",
            ),
        ],
        pending_new_debtor=rid(2),
        pending_known_debtor=rid(3),
        premium_accepted=rid(9),
    )
