"""Declaring and modifying sales (POST .../sales, POST .../sale) on the ledger.

Each function takes fields already read by `workers.sandbox.fields` (strings in the wire's
formats), applies the rules of `sales_rules` in a fixed order, changes the ledger only once
every rule has passed, and returns the wire body. A refusal is an `ApiError`.

Declaration order: identifier (400/2) -> foreign debtor on a domestic policy (2809) ->
factoring fields (422) -> invoiceDate <= maturityDate (1522) -> amount, currency, subsidiary
(422) -> duplicate (1522) -> credit-note supplement, then balance (1522) -> TARIFICADA, or
RECHAZADA (reason 1) when the debtor has no limit in force. A RECHAZADA sale is recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import (
    DUPLICATE_SALE_DESCRIPTION,
    ERROR_CODE_IDENTIFICATION,
    MSG_BOTH_IDENTIFIERS,
    MSG_MODIFICATION_WINDOW,
    MSG_NO_IDENTIFIER,
    ClassificationStatus,
    SaleRejectionReason,
    SaleStatus,
)
from workers.cesce.codecs import decode_amount
from workers.sandbox import sales_rules as rules
from workers.sandbox.debtors import by_endorsement, by_reference, classified_abroad
from workers.sandbox.fields import Field, Kind, read_date
from workers.sandbox.state import Contract, Debtor, Factoring, Ledger, Sale
from workers.sandbox.wire import ApiError, amount, cover, invalid, missing, money, rate, wire_date

__all__ = [
    "GENERAL_DATA_FIELDS",
    "NEW_DATA_FIELDS",
    "SALE_ID_FIELDS",
    "Named",
    "SaleActionRefused",
    "declare_sale",
    "extend_sale",
    "modify_sale",
    "premiums_wire",
    "record_collection",
    "resolve",
    "retariff_sale",
    "set_sale_status",
]

GENERAL_DATA_FIELDS: Final = (
    Field("subsidiaryNo", Kind.DIGITS),
    Field("endorsementNo", Kind.DIGITS),
    Field("customerReference"),
    Field("invoiceNo", required=True),
    Field("invoiceDate", Kind.DATE, required=True),
    Field("acquisitionDate", Kind.DATE),
    Field("maturityDate", Kind.DATE, required=True),
    Field("currencyAmount", Kind.AMOUNT, required=True),
    Field("currencyCode"),
    Field("taxCodeTransferor"),
)
SALE_ID_FIELDS: Final = (
    Field("saleCesceReferenceNo", Kind.DIGITS, exact_length=12),
    Field("invoiceNo"),
    Field("maturityDate", Kind.DATE),
)
NEW_DATA_FIELDS: Final = tuple(
    dataclasses.replace(f, required=False) for f in GENERAL_DATA_FIELDS if f.name != "subsidiaryNo"
)
_DATE_ATTRIBUTES: Final = {
    "invoiceDate": "invoice_date",
    "acquisitionDate": "acquisition_date",
    "maturityDate": "maturity_date",
}


@dataclass(frozen=True, slots=True)
class Named:
    """Who a sale names: the identifier as sent and the debtor of the contract it resolves to."""

    endorsement_no: str | None
    customer_reference: str | None
    debtor: Debtor | None

    @property
    def key(self) -> str:
        return rules.debtor_key(self.debtor_no, self.endorsement_no, self.customer_reference)

    @property
    def debtor_no(self) -> int | None:
        return self.debtor.endorsement_no if self.debtor is not None else None


def resolve(ledger: Ledger, contract_no: str, endorsement_no: str | None, customer_reference: str | None) -> Named:
    """The debtor an endorsementNo or a customerReference names in the contract (None: nobody)."""
    if endorsement_no is not None:
        debtor = by_endorsement(ledger, contract_no, int(endorsement_no))
    elif customer_reference is not None:
        debtor = by_reference(ledger, contract_no, customer_reference)
    else:
        debtor = None
    return Named(endorsement_no, customer_reference, debtor)


def declare_sale(ledger: Ledger, contract: Contract, data: Mapping[str, str], today: date) -> dict[str, Any]:
    """POST /contracts/{contractNo}/sales -> the 201 body's generalData."""
    named = _named(ledger, contract, data.get("endorsementNo"), data.get("customerReference"))
    _check_factoring(contract, data)
    if contract.factoring is not Factoring.NONE and "acquisitionDate" not in data:
        raise missing("acquisitionDate")
    if contract.factoring is Factoring.WITH_RECOURSE and "taxCodeTransferor" not in data:
        raise missing("taxCodeTransferor")
    invoice_date = read_date(data["invoiceDate"])
    maturity_date = read_date(data["maturityDate"])
    if invoice_date > maturity_date:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_DATE_ORDER)
    value = _amount(data["currencyAmount"])
    currency = data.get("currencyCode", contract.currency)
    subsidiary = data.get("subsidiaryNo")
    if subsidiary is not None and subsidiary not in {s.number for s in contract.subsidiaries} | {"0"}:
        raise invalid("subsidiaryNo")
    sale = Sale(
        contract_no=contract.contract_no,
        reference="",
        endorsement_no=named.endorsement_no,
        customer_reference=named.customer_reference,
        debtor_no=named.debtor_no,
        subsidiary_no=subsidiary,
        invoice_no=data["invoiceNo"],
        invoice_date=invoice_date,
        acquisition_date=read_date(data["acquisitionDate"]) if "acquisitionDate" in data else None,
        maturity_date=maturity_date,
        amount=value,
        currency=currency,
        countervalue=money(value * _exchange_rate(ledger, contract, currency)),
        tax_code_transferor=data.get("taxCodeTransferor"),
        status="",
        reason="",
        commercial_cover_pct=contract.commercial_cover_pct,
        commercial_rate=contract.commercial_rate,
        commercial_premium=Decimal(0),
        political_cover_pct=Decimal(0),
        political_rate=Decimal(0),
        political_premium=Decimal(0),
        entry_date=today,
        status_date=today,
    )
    _check_duplicate(ledger, sale)
    if value < 0:
        if not contract.credit_note_supplement:
            raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NOT_IN_POLICY_CONDITIONS)
        debtor_sales = ledger.sales_of_debtor(contract.contract_no, sale.debtor_no)
        balance = rules.credit_note_balance(debtor_sales, contract.contract_no, sale.debtor_no, today)
        if balance < -sale.countervalue:
            raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_NO_PENDING_SALES)
    _tariff(sale, contract, named.debtor)
    sale.reference = ledger.new_sale_reference()
    ledger.add_sale(sale)
    return {
        "statusCode": sale.status,
        "reasonStatusCode": sale.reason,
        "countervalueAmount": amount(sale.countervalue),
        "currencyContractCode": contract.currency,
        **premiums_wire(sale),
        "saleCesceReferenceNo": sale.reference,
        "entryDate": wire_date(sale.entry_date),
    }


def modify_sale(
    ledger: Ledger, contract: Contract, sale: Sale, new: Mapping[str, str], today: date, *, has_claim_file: bool
) -> dict[str, Any]:
    """POST /contracts/{contractNo}/sale -> the 200 body's result.

    Guide 4.2: the window first (points 1-3), then a claim file on the debtor (point 5), a
    maturityDate change in the extra-days window (point 2), a date moved to another month
    (point 7); all the changes or none (point 8). The sale keeps its saleCesceReferenceNo and is
    tariffed again. Sending the values it already has changes nothing and is answered as is.
    """
    if "endorsementNo" in new and "customerReference" in new:
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_BOTH_IDENTIFIERS)
    window = rules.modification_window(
        today, sale.acquisition_date or sale.invoice_date, contract.modification_extra_days
    )
    if window is rules.Window.CLOSED:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, MSG_MODIFICATION_WINDOW)
    _check_factoring(contract, new)
    changes = _changes(sale, new)
    refusal = rules.modification_refusal(window, sale, changes, has_claim_file=has_claim_file)
    if refusal is not None:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, refusal)
    if changes:
        candidate = _changed(ledger, contract, sale, new, changes)
        _check_duplicate(ledger, candidate, ignore=sale)
        candidate.modifications += 1
        candidate.status_date = today
        ledger.replace_sale(sale, candidate)
        sale = candidate
    return {
        "statusCode": sale.status,
        "reasonStatusCode": sale.reason,
        "countervalueAmount": amount(sale.countervalue),
        "currencyContractCode": contract.currency,
        **premiums_wire(sale),
    }


# --- what Cesce changes on its side (the admin API's sale actions) ----------------------------------------------


class SaleActionRefused(ValueError):
    """Cesce could not make this change to the sale (the admin API answers it 409)."""


def set_sale_status(ledger: Ledger, sale: Sale, status: SaleStatus, reason: str, today: date) -> Sale:
    """Cesce moves a sale to another situation (certified, cancelled, pending re-tariffing...): a movement."""
    changed = dataclasses.replace(sale, status=status.value, reason=reason, status_date=today)
    ledger.replace_sale(sale, changed)
    return changed


def retariff_sale(
    ledger: Ledger,
    sale: Sale,
    today: date,
    *,
    commercial_rate: Decimal | None = None,
    political_rate: Decimal | None = None,
) -> Sale:
    """Cesce tariffs a sale again at new rates (per cent): new premiums, TARIFICADA, a movement."""
    if sale.status in {SaleStatus.REJECTED, SaleStatus.CANCELLED, SaleStatus.EXTENDED}:
        raise SaleActionRefused(f"sale {sale.reference} is not tariffed (statusCode {sale.status})")
    changed = dataclasses.replace(sale, status=SaleStatus.TARIFFED.value, reason="0", status_date=today)
    if commercial_rate is not None:
        changed.commercial_rate = commercial_rate
    if political_rate is not None:
        changed.political_rate = political_rate
    changed.commercial_premium = rules.premium(changed.countervalue, changed.commercial_rate)
    changed.political_premium = rules.premium(changed.countervalue, changed.political_rate)
    ledger.replace_sale(sale, changed)
    return changed


def record_collection(ledger: Ledger, sale: Sale, collected: Decimal, today: date) -> Sale:
    """Cesce records `collected` (contract currency) as collected of the invoice: collectedAmount grows."""
    refusal = rules.collection_refusal(sale, collected)
    if refusal is not None:
        raise SaleActionRefused(refusal)
    changed = dataclasses.replace(sale, collected=sale.collected + collected, status_date=today)
    ledger.replace_sale(sale, changed)
    return changed


def extend_sale(
    ledger: Ledger,
    contract: Contract,
    sale: Sale,
    maturity_date: date,
    today: date,
    *,
    maturity_amount: Decimal | None = None,
) -> Sale:
    """An extension (prórroga) of `sale`: the new extended sale, recorded; the original becomes PRORROGADA.

    000: "genera una nueva venta prorrogada con un número saleCesceReferenceNo distinto, prima diferenciada y un
    nuevo campo maturityAmount, que recogerá el importe impagado de la factura inicial y no podrá ser en cualquier
    caso mayor a esa factura original". maturityAmount defaults to what is unpaid; the premium is the contract's
    rates on it (assumptions "sale-extension").
    """
    amount_due = rules.unpaid(sale) if maturity_amount is None else maturity_amount
    refusal = rules.extension_refusal(sale, maturity_date, amount_due)
    if refusal is not None:
        raise SaleActionRefused(refusal)
    extended = dataclasses.replace(
        sale,
        reference=ledger.new_sale_reference(),
        maturity_date=maturity_date,
        status=SaleStatus.TARIFFED.value,
        reason=SaleRejectionReason.NONE.value,
        commercial_rate=contract.commercial_rate,
        commercial_premium=rules.premium(amount_due, contract.commercial_rate),
        political_premium=rules.premium(amount_due, sale.political_rate),
        entry_date=today,
        status_date=today,
        modifications=0,
        collected=Decimal(0),
        maturity_amount=amount_due,
        extends=sale.reference,
    )
    set_sale_status(ledger, sale, SaleStatus.EXTENDED, sale.reason, today)
    ledger.add_sale(extended)
    return extended


def premiums_wire(sale: Sale) -> dict[str, str]:
    return {
        "commercialRiskCoverPct": cover(sale.commercial_cover_pct),
        "commercialRiskRate": rate(sale.commercial_rate),
        "commercialRiskPremium": amount(sale.commercial_premium),
        "politicalRiskCoverPct": cover(sale.political_cover_pct),
        "politicalRiskRate": rate(sale.political_rate),
        "politicalRiskPremium": amount(sale.political_premium),
    }


def _named(ledger: Ledger, contract: Contract, endorsement_no: str | None, customer_reference: str | None) -> Named:
    """Exactly one identifier (guide 4.1), and 2809 for a debtor classified abroad on a domestic policy."""
    if endorsement_no is None and customer_reference is None:
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_NO_IDENTIFIER)
    if endorsement_no is not None and customer_reference is not None:
        raise ApiError(400, ERROR_CODE_IDENTIFICATION, MSG_BOTH_IDENTIFIERS)
    named = resolve(ledger, contract.contract_no, endorsement_no, customer_reference)
    if (
        named.debtor is None
        and not contract.foreign_debtors
        and classified_abroad(ledger, contract.contract_no, endorsement_no, customer_reference)
    ):
        raise ApiError(400, cat.ERROR_CODE_POLICY_EXCLUDED, cat.MSG_POLICY_EXCLUDED)
    return named


def _check_factoring(contract: Contract, data: Mapping[str, str]) -> None:
    """Guide 4.1: acquisitionDate only on factoring policies ("si no son factoring no debe rellenarse"),
    taxCodeTransferor only on factoring policies with recourse ("para el resto ... sin informar")."""
    if "acquisitionDate" in data and contract.factoring is Factoring.NONE:
        raise invalid("acquisitionDate")
    if "taxCodeTransferor" in data and contract.factoring is not Factoring.WITH_RECOURSE:
        raise invalid("taxCodeTransferor")


def _amount(text: str) -> Decimal:
    value = decode_amount(text)
    if value == 0:
        raise invalid("currencyAmount")
    return value


def _exchange_rate(ledger: Ledger, contract: Contract, currency: str) -> Decimal:
    if currency == contract.currency:
        return Decimal(1)
    found = ledger.settings.exchange_rates.get(currency)
    if found is None:
        raise invalid("currencyCode")
    return found


def _check_duplicate(ledger: Ledger, sale: Sale, ignore: Sale | None = None) -> None:
    same_invoice = ledger.sales_with_invoice(sale.invoice_no)
    # a sale whose invoiceNo no recorded sale has (the usual case) cannot be a duplicate: its key is not built
    if same_invoice and rules.find_duplicate(same_invoice, rules.duplicate_key(sale), ignore=ignore) is not None:
        ledger.duplicate_attempts += 1
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, DUPLICATE_SALE_DESCRIPTION)


def _tariff(sale: Sale, contract: Contract, debtor: Debtor | None) -> None:
    """Status and premiums. Political risk applies to foreign debtors only; RECHAZADA earns no premium."""
    foreign = debtor is not None and debtor.country_code != "ES"
    sale.political_cover_pct = contract.political_cover_pct if foreign else Decimal(0)
    sale.political_rate = contract.political_rate if foreign else Decimal(0)
    if debtor is not None and (
        (debtor.record.status is ClassificationStatus.IN_FORCE and not debtor.deactivated)  # "activate-deactivate"
        or _endorsed(contract, debtor.record.status)
    ):
        sale.status, sale.reason = cat.SALE_TARIFFED, SaleRejectionReason.NONE.value
        sale.commercial_premium = rules.premium(sale.countervalue, sale.commercial_rate)
        sale.political_premium = rules.premium(sale.countervalue, sale.political_rate)
    else:
        sale.status, sale.reason = cat.SALE_REJECTED, SaleRejectionReason.NO_LIMIT_IN_FORCE.value
        sale.commercial_premium = sale.political_premium = Decimal(0)


def _endorsed(contract: Contract, status: ClassificationStatus) -> bool:
    """000 "Venta endosada": "una venta contra un suplemento anulado ... se permite igualmente la tarificación.
    Sólo se permite en pólizas que tengan contratado el suplemento de Endosos." (assumptions "endorsed-sale")."""
    return contract.endorsements_supplement and status is ClassificationStatus.CANCELLED


def _changes(sale: Sale, new: Mapping[str, str]) -> dict[str, object]:
    """The fields of `new` whose value differs from the sale's, decoded."""
    current: dict[str, object] = {
        "endorsementNo": sale.endorsement_no,
        "customerReference": sale.customer_reference,
        "invoiceNo": sale.invoice_no,
        "currencyAmount": sale.amount,
        "currencyCode": sale.currency,
        "taxCodeTransferor": sale.tax_code_transferor,
        **{name: getattr(sale, attribute) for name, attribute in _DATE_ATTRIBUTES.items()},
    }
    changes: dict[str, object] = {}
    for name, text in new.items():
        value: object = text
        if name in _DATE_ATTRIBUTES:
            value = read_date(text)
        elif name == "currencyAmount":
            value = _amount(text)
        if value != current[name]:
            changes[name] = value
    return changes


def _changed(
    ledger: Ledger, contract: Contract, sale: Sale, new: Mapping[str, str], changes: Mapping[str, object]
) -> Sale:
    """A copy of `sale` with the changes, tariffed again; the ledger is not touched."""
    candidate = dataclasses.replace(sale)
    debtor = by_endorsement(ledger, contract.contract_no, sale.debtor_no) if sale.debtor_no is not None else None
    if "endorsementNo" in changes or "customerReference" in changes:
        named = _named(ledger, contract, new.get("endorsementNo"), new.get("customerReference"))
        candidate.endorsement_no, candidate.customer_reference = named.endorsement_no, named.customer_reference
        candidate.debtor_no, debtor = named.debtor_no, named.debtor
    candidate.invoice_no = new.get("invoiceNo", sale.invoice_no)
    for name, attribute in _DATE_ATTRIBUTES.items():
        if name in changes:
            setattr(candidate, attribute, changes[name])
    if candidate.invoice_date > candidate.maturity_date:
        raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_DATE_ORDER)
    if "currencyAmount" in changes:
        candidate.amount = _amount(new["currencyAmount"])
    candidate.currency = new.get("currencyCode", sale.currency)
    candidate.countervalue = money(candidate.amount * _exchange_rate(ledger, contract, candidate.currency))
    candidate.tax_code_transferor = new.get("taxCodeTransferor", sale.tax_code_transferor)
    _tariff(candidate, contract, debtor)
    return candidate
