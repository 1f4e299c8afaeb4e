"""The Sales API's requests and answers, field for field the seed 002 JSON schemas.

Requests dump to exactly the schemas' ``GeneralDataRequest``, ``SaleRequest`` and
``NewDataRequest`` (``additionalProperties: false``; a unit test validates them); answers follow
``GeneralDataResponse``, ``GeneralDataGetResponse``, ``ResultListSalesResponse``,
``ResultResponse`` and ``ResultListSubsidiariesResponse``, with the schemas' required fields
required.
"""

from __future__ import annotations

from datetime import date

from workers.cesce.catalogue import SALE_REJECTED, SALE_TARIFFED
from workers.cesce.codecs import WireAmount, WireDate, WireRate
from workers.cesce.models import AnswerModel, RequestModel

__all__ = [
    "Sale",
    "SaleChanges",
    "SaleDeclaration",
    "SaleDeclared",
    "SaleListItem",
    "SaleModified",
    "SaleRef",
    "Subsidiary",
]


class SaleDeclaration(RequestModel):
    """POST /contracts/{contractNo}/sales ``generalData``: one invoice (or credit note, amount < 0)."""

    subsidiaryNo: str | None = None
    endorsementNo: str | None = None
    customerReference: str | None = None
    invoiceNo: str
    invoiceDate: WireDate
    acquisitionDate: WireDate | None = None
    maturityDate: WireDate
    currencyAmount: WireAmount
    currencyCode: str | None = None
    taxCodeTransferor: str | None = None


class _Tariff(AnswerModel):
    """What every sale answer says: the status, the countervalue and the tariff (cover, rate, premium)."""

    statusCode: str
    reasonStatusCode: str | None = None
    countervalueAmount: WireAmount
    currencyContractCode: str
    commercialRiskCoverPct: WireAmount | None = None  # "95,00": two decimals, like an amount
    commercialRiskRate: WireRate | None = None
    commercialRiskPremium: WireAmount | None = None
    politicalRiskCoverPct: WireAmount | None = None
    politicalRiskRate: WireRate | None = None
    politicalRiskPremium: WireAmount | None = None

    @property
    def tariffed(self) -> bool:
        """TARIFICADA: the sale is covered."""
        return self.statusCode == SALE_TARIFFED

    @property
    def rejected(self) -> bool:
        """RECHAZADA: recorded but not covered; reasonStatusCode says why."""
        return self.statusCode == SALE_REJECTED


class SaleDeclared(_Tariff):
    """The answer to a declaration (``GeneralDataResponse``)."""

    saleCesceReferenceNo: str
    entryDate: WireDate


class Sale(_Tariff):
    """A declared sale as GET /contracts/{contractNo}/sale returns it (``GeneralDataGetResponse``)."""

    financeStatus: str | None = None
    endorsementNo: str | None = None
    customerReference: str | None = None
    taxCodeTransferor: str | None = None
    subsidiaryNo: str | None = None
    invoiceNo: str | None = None
    invoiceDate: WireDate
    acquisitionDate: WireDate | None = None
    maturityDate: WireDate
    entryDate: WireDate
    currencyAmount: WireAmount
    currencyCode: str | None = None
    collectedAmount: WireAmount | None = None
    maturityAmount: WireAmount | None = None  # an extended sale only (000, "Prórrogas y Modificación de Ventas")
    saleCesceReferenceNo: str


class SaleListItem(Sale):
    """One row of GET /contracts/{contractNo}/sales (``ResultListSalesResponse``)."""

    currencyCode: str
    cesceCode: str | None = None
    statusDate: WireDate | None = None


class SaleRef(RequestModel):
    """Which declared sale to modify or read: saleCesceReferenceNo, or invoiceNo + maturityDate."""

    saleCesceReferenceNo: str | None = None
    invoiceNo: str | None = None
    maturityDate: WireDate | None = None

    @classmethod
    def by_reference(cls, sale_cesce_reference_no: str) -> SaleRef:
        return cls(saleCesceReferenceNo=sale_cesce_reference_no)

    @classmethod
    def by_invoice(cls, invoice_no: str, maturity_date: date) -> SaleRef:
        return cls(invoiceNo=invoice_no, maturityDate=maturity_date)


class SaleChanges(RequestModel):
    """POST /contracts/{contractNo}/sale ``newData``: only the fields that change."""

    endorsementNo: str | None = None
    customerReference: str | None = None
    invoiceNo: str | None = None
    invoiceDate: WireDate | None = None
    acquisitionDate: WireDate | None = None
    maturityDate: WireDate | None = None
    currencyAmount: WireAmount | None = None
    currencyCode: str | None = None
    taxCodeTransferor: str | None = None


class SaleModified(_Tariff):
    """The answer to a modification (``ResultResponse``); the sale keeps its saleCesceReferenceNo."""


class Subsidiary(AnswerModel):
    """One row of GET /contracts/{contractNo}/subsidiaries; the head office is subsidiaryNo 0."""

    subsidiaryNo: str
    subsidiaryName: str
