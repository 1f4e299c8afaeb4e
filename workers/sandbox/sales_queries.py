"""Reading sales back: one sale (GET .../sale), the sales list (GET .../sales), subsidiaries.

A sale is found by its saleCesceReferenceNo or by invoiceNo + maturityDate; when several sales
share those two (another debtor or amount), the latest declared is the answer, which is the one
a worker that was just told "duplicate" is looking for.

The list is in declaration order; its opaque cursor (``initialValue``) is the
saleCesceReferenceNo the next page starts at, "" on the last page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import MSG_SALE_NOT_FOUND
from workers.cesce.codecs import decode_date
from workers.sandbox import sales_rules as rules
from workers.sandbox.debtors import by_endorsement
from workers.sandbox.fields import Field, Kind
from workers.sandbox.sales import SALE_ID_FIELDS, premiums_wire, resolve
from workers.sandbox.state import Contract, Ledger, Sale
from workers.sandbox.wire import ApiError, amount, missing, wire_date

__all__ = [
    "LIST_QUERY_FIELDS",
    "SALE_QUERY_FIELDS",
    "SUBSIDIARIES_QUERY_FIELDS",
    "find_sale",
    "list_sales",
    "sale_detail",
    "subsidiaries_page",
]

_LANGUAGE: Final = Field("languageCode", Kind.LANGUAGE, required=True)
SALE_QUERY_FIELDS: Final = (_LANGUAGE, *SALE_ID_FIELDS)
LIST_QUERY_FIELDS: Final = (
    _LANGUAGE,
    Field("initialValue", Kind.DIGITS),
    Field("recentMovementsInd", Kind.FLAG),
    Field("endorsementNo", Kind.DIGITS),
    Field("customerReference"),
    Field("invoiceYearMonth", Kind.YEAR_MONTH),
    Field("statusCode", Kind.DIGITS),
)
SUBSIDIARIES_QUERY_FIELDS: Final = (_LANGUAGE, Field("initialValue"))


def find_sale(ledger: Ledger, contract_no: str, ids: Mapping[str, str]) -> Sale:
    """By saleCesceReferenceNo, else the latest declared with this invoiceNo + maturityDate."""
    if "saleCesceReferenceNo" in ids:
        by_reference = ledger.sale_by_reference(ids["saleCesceReferenceNo"])
        found = by_reference if by_reference is not None and by_reference.contract_no == contract_no else None
    elif "invoiceNo" in ids:
        if "maturityDate" not in ids:
            raise missing("maturityDate")
        maturity = decode_date(ids["maturityDate"])
        matches = [
            s
            for s in ledger.sales_with_invoice(ids["invoiceNo"])
            if (s.contract_no, s.maturity_date) == (contract_no, maturity)
        ]
        found = matches[-1] if matches else None
    else:
        raise missing("saleCesceReferenceNo")
    if found is None:
        raise ApiError(404, cat.ERROR_CODE_NOT_FOUND, MSG_SALE_NOT_FOUND)
    return found


def sale_detail(contract: Contract, sale: Sale) -> dict[str, Any]:
    """GeneralDataGetResponse: the identifier as declared, optional fields only when present."""
    body: dict[str, Any] = {"statusCode": sale.status, "reasonStatusCode": sale.reason}
    if sale.endorsement_no is not None:
        body["endorsementNo"] = sale.endorsement_no
    if sale.customer_reference is not None:
        body["customerReference"] = sale.customer_reference
    if sale.tax_code_transferor is not None:
        body["taxCodeTransferor"] = sale.tax_code_transferor
    if sale.subsidiary_no is not None:
        body["subsidiaryNo"] = sale.subsidiary_no
    body["invoiceNo"] = sale.invoice_no
    body["invoiceDate"] = wire_date(sale.invoice_date)
    if sale.acquisition_date is not None:
        body["acquisitionDate"] = wire_date(sale.acquisition_date)
    body["maturityDate"] = wire_date(sale.maturity_date)
    body["entryDate"] = wire_date(sale.entry_date)
    body["currencyAmount"] = amount(sale.amount)
    body["currencyCode"] = sale.currency
    body["countervalueAmount"] = amount(sale.countervalue)
    body["currencyContractCode"] = contract.currency
    body["collectedAmount"] = amount(sale.collected)
    body.update(premiums_wire(sale))
    body["saleCesceReferenceNo"] = sale.reference
    if sale.maturity_amount is not None:  # an extended sale (assumptions "sale-extension")
        body["maturityAmount"] = amount(sale.maturity_amount)
    return body


def list_sales(
    ledger: Ledger, contract: Contract, query: Mapping[str, str], today: date
) -> tuple[list[dict[str, Any]], str]:
    """One page of ResultListSalesResponse items and the next page's initialValue."""
    wanted = [
        resolve(ledger, contract.contract_no, *pair).key
        for pair in (
            (query.get("endorsementNo"), None),
            (None, query.get("customerReference")),
        )
        if pair != (None, None)
    ]
    start = int(query.get("initialValue", "0"))
    selected = [
        s
        for s in ledger.sales_of(contract.contract_no)
        if int(s.reference) >= start and _matches(s, query, wanted, today)
    ]
    size = ledger.settings.sales_page_size
    items = []
    for sale in selected[:size]:
        item = sale_detail(contract, sale)
        debtor = by_endorsement(ledger, contract.contract_no, sale.debtor_no) if sale.debtor_no is not None else None
        if debtor is not None:
            item["cesceCode"] = debtor.cesce_code
        item["statusDate"] = wire_date(sale.status_date)
        items.append(item)
    return items, (selected[size].reference if len(selected) > size else "")


def subsidiaries_page(contract: Contract) -> list[dict[str, str]]:
    return [{"subsidiaryNo": s.number, "subsidiaryName": s.name} for s in contract.subsidiaries]


def _matches(sale: Sale, query: Mapping[str, str], debtor_keys: list[str], today: date) -> bool:
    if query.get("recentMovementsInd") == "Y" and not rules.is_recent(sale.status_date, today):
        return False
    if "statusCode" in query and sale.status != query["statusCode"]:
        return False
    if "invoiceYearMonth" in query and sale.invoice_date.strftime("%Y%m") != query["invoiceYearMonth"]:
        return False
    key = rules.debtor_key(sale.debtor_no, sale.endorsement_no, sale.customer_reference)
    return all(key == wanted for wanted in debtor_keys)
