"""Finding a debtor the way Cesce does, and showing its classification record.

Guide 3.2.1: a debtor is identified by customerReference, endorsementNo or countryCode + taxCode;
"si se mandan varios campos a la vez ... el orden de prevalencia de Cesce será:
customerReference, endorsementNo, countryCode + taxCode". The first identifier that names a
debtor wins; an identifier that names nobody gives way to the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.cesce.assumptions import ClassificationStatus
from workers.sandbox.clock import MADRID
from workers.sandbox.state import Classification, Debtor, Ledger
from workers.sandbox.wire import amount, wire_date

__all__ = [
    "by_endorsement",
    "by_reference",
    "by_tax_code",
    "classified_abroad",
    "identify",
    "identify_from",
    "record_wire",
]


def by_reference(ledger: Ledger, contract_no: str, customer_reference: str) -> Debtor | None:
    known = ledger.referenced.get((contract_no, customer_reference))
    if known is not None and known.customer_reference == customer_reference and known.contract_no == contract_no:
        return known
    found = next((d for d in ledger.debtors_of(contract_no) if d.customer_reference == customer_reference), None)
    if found is not None:
        ledger.referenced[(contract_no, customer_reference)] = found
    return found


def by_endorsement(ledger: Ledger, contract_no: str, number: int, *, requests: bool = False) -> Debtor | None:
    """The debtor numbered `number`; with `requests`, also the one whose 300xxx request it is."""
    known = ledger.numbered.get((contract_no, number))
    if known is not None and not requests and known.endorsement_no == number and known.contract_no == contract_no:
        return known
    for debtor in ledger.debtors_of(contract_no):
        if debtor.endorsement_no == number:
            ledger.numbered[(contract_no, number)] = debtor
            return debtor
        if requests and (
            number in debtor.former_requests or (debtor.pending is not None and debtor.pending.endorsement_no == number)
        ):
            return debtor
    return None


def by_tax_code(ledger: Ledger, contract_no: str, country_code: str, tax_code: str) -> Debtor | None:
    return next(
        (d for d in ledger.debtors_of(contract_no) if (d.country_code, d.tax_code) == (country_code, tax_code)),
        None,
    )


def identify(
    ledger: Ledger,
    contract_no: str,
    *,
    customer_reference: str | None = None,
    endorsement_no: str | None = None,
    country_code: str | None = None,
    tax_code: str | None = None,
    requests: bool = False,
) -> Debtor | None:
    """The debtor named by the first identifier, in Cesce's order of precedence, that names one."""
    if customer_reference is not None:
        found = by_reference(ledger, contract_no, customer_reference)
        if found is not None:
            return found
    if endorsement_no is not None and endorsement_no.isdigit():
        found = by_endorsement(ledger, contract_no, int(endorsement_no), requests=requests)
        if found is not None:
            return found
    if country_code is not None and tax_code is not None:
        return by_tax_code(ledger, contract_no, country_code, tax_code)
    return None


def identify_from(ledger: Ledger, contract_no: str, fields: Mapping[str, str], *, requests: bool) -> Debtor | None:
    """`identify` with the identifiers read from a request body or query (the wire names)."""
    return identify(
        ledger,
        contract_no,
        customer_reference=fields.get("customerReference"),
        endorsement_no=fields.get("endorsementNo"),
        country_code=fields.get("countryCode"),
        tax_code=fields.get("taxCode"),
        requests=requests,
    )


def classified_abroad(
    ledger: Ledger, contract_no: str, endorsement_no: str | None, customer_reference: str | None
) -> bool:
    """Whether the identifier names a foreign debtor in another contract of this sandbox's insured."""
    for debtor in ledger.debtors:
        if debtor.contract_no == contract_no or debtor.country_code == "ES" or debtor.endorsement_no is None:
            continue
        if customer_reference is not None and debtor.customer_reference == customer_reference:
            return True
        if endorsement_no is not None and endorsement_no.isdigit() and debtor.endorsement_no == int(endorsement_no):
            return True
    return False


def record_wire(debtor: Debtor, record: Classification) -> dict[str, Any]:
    """A classification record in the wire's field order; optional fields only when known."""
    body: dict[str, Any] = {}
    if record.endorsement_no is not None:
        body["endorsementNo"] = str(record.endorsement_no)
    if debtor.customer_reference is not None:
        body["customerReference"] = debtor.customer_reference
    body["countryCode"] = debtor.country_code
    body["taxCode"] = debtor.tax_code
    if debtor.company_name is not None:
        body["companyName"] = debtor.company_name
    body["cesceCode"] = debtor.cesce_code
    body["statusCode"] = record.status.value
    body["reasonStatusCode"] = record.reason
    body["creditLimitRequested"] = amount(record.requested)
    body["creditLimitGranted"] = amount(record.granted)
    body["currencyCode"] = record.currency
    if record.payment_terms_requested is not None:
        body["paymentTermsRequested"] = record.payment_terms_requested
    if record.payment_terms_granted is not None:
        body["paymentTermsGranted"] = record.payment_terms_granted
    body["requestDate"] = wire_date(record.request_date)
    if record.effective_date is not None:
        body["effectiveDate"] = wire_date(record.effective_date)
    body["statusDate"] = wire_date(record.status_at.astimezone(MADRID).date())
    if debtor.ppc and record is debtor.record and record.status is ClassificationStatus.IN_FORCE:
        body["activeInd"] = "N" if debtor.deactivated else "Y"  # assumptions "activate-deactivate"
    if record.premium is not None and record.status is ClassificationStatus.PENDING:
        body["premiumAmount"] = amount(record.premium)  # assumptions "accept-deny-premium"
        body["premiumPendingInd"] = "Y"
    return body
