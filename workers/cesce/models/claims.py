"""The Claims API's declaration and reads (guide section 5; assumptions "claims-wire").

A non-payment declaration opens a claim file on the first unpaid invoice of a debtor and joins the
next ones to it; Cesce then asks for documents and, in time, pays settlements.
"""

from __future__ import annotations

from decimal import Decimal

from workers.cesce.assumptions import DocumentStatus, SettlementStatus
from workers.cesce.codecs import WireAmount, WireDate
from workers.cesce.models import AnswerModel, RequestModel, YesNo

__all__ = [
    "ClaimDocument",
    "ClaimFile",
    "NonPayment",
    "NonPaymentDeclaration",
    "NonPaymentDeclared",
    "RequestedDocument",
    "Settlement",
]


class NonPaymentDeclaration(RequestModel):
    """POST /contracts/{contractNo}/non-payment-declaration ``generalData``: one unpaid invoice."""

    endorsementNo: str | None = None
    customerReference: str | None = None
    invoiceNo: str
    invoiceDate: WireDate
    maturityDate: WireDate
    unpaidAmount: WireAmount
    currencyCode: str


class RequestedDocument(AnswerModel):
    """A document Cesce asks for to process the claim."""

    documentCode: str
    documentDescription: str
    statusCode: str
    statusDate: WireDate

    @property
    def status(self) -> DocumentStatus | None:
        try:
            return DocumentStatus(self.statusCode)
        except ValueError:
            return None


class NonPaymentDeclared(AnswerModel):
    """The answer to a declaration: where it was filed and what Cesce needs next."""

    claimFileNo: str
    nonPaymentNo: str
    newClaimFileInd: YesNo
    """Y when this declaration opened the claim file."""
    endorsementNo: str
    documents: tuple[RequestedDocument, ...] = ()


class NonPayment(AnswerModel):
    """One declared unpaid invoice inside a claim file."""

    nonPaymentNo: str
    invoiceNo: str
    invoiceDate: WireDate
    maturityDate: WireDate
    unpaidAmount: WireAmount
    currencyCode: str
    declarationDate: WireDate


class ClaimFile(AnswerModel):
    """A claim file (expediente) of one debtor, with its non-payments."""

    claimFileNo: str
    endorsementNo: str
    customerReference: str | None = None
    openingDate: WireDate
    nonPayments: tuple[NonPayment, ...] = ()


class ClaimDocument(RequestedDocument):
    """A document of a claim file, with the non-payment it belongs to."""

    claimFileNo: str
    nonPaymentNo: str


class Settlement(AnswerModel):
    """A payment Cesce made or is making on a claim file."""

    settlementNo: str
    claimFileNo: str
    settlementStatusCode: str
    paymentDate: WireDate | None = None
    amtPrinIndemnified: WireAmount
    amtIntIndemnified: WireAmount
    currencyCode: str

    @property
    def status(self) -> SettlementStatus | None:
        try:
            return SettlementStatus(self.settlementStatusCode)
        except ValueError:
            return None

    @property
    def total(self) -> Decimal:
        """Principal plus interest indemnified."""
        return self.amtPrinIndemnified + self.amtIntIndemnified
