"""The Classifications API's request and record (guide section 3; spec "Classifications").

The request carries the guide's field names ("Longitud máxima de campos en POST Clasificación");
the record is our reading of the answers (assumptions "classification-wire"), shared by create,
read, cancel, activate-deactivate, accept-deny-premium, portfolio and movements.
"""

from __future__ import annotations

from workers.cesce.assumptions import ClassificationStatus
from workers.cesce.codecs import WireAmount, WireDate
from workers.cesce.models import AnswerModel, RequestModel, YesNo

__all__ = ["Classification", "ClassificationRequest"]


class ClassificationRequest(RequestModel):
    """POST /contracts/{contractNo}/classifications ``generalData``: a credit limit asked for a debtor.

    A new debtor needs countryCode + taxCode; an existing one may be named by customerReference or
    endorsementNo instead. customerReference is stored only with a debtor's first classification.
    """

    countryCode: str | None = None
    taxCode: str | None = None
    customerReference: str | None = None
    endorsementNo: str | None = None
    companyName: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    phoneNo: str | None = None
    email: str | None = None
    pdfInd: YesNo | None = None
    creditLimitRequested: WireAmount
    currencyCode: str | None = None
    paymentTermsRequested: str | None = None
    paymentMethodRequestedCode: str | None = None
    nonPaymentInd: YesNo
    """Y when the insured knows of unpaid invoices of this debtor, with nonPaymentAmount."""
    nonPaymentAmount: WireAmount | None = None
    otherPartiesInvolved: str | None = None
    otherPaymentTerms: str | None = None
    otherComments: str | None = None
    additionalInformationInd: YesNo | None = None
    additionalInformation: str | None = None
    durationCoverage: str | None = None
    takerCode: str | None = None
    policyHolderTaxCode: str | None = None
    coverDuration: str | None = None
    coverCost: WireAmount | None = None
    operationExpenses: WireAmount | None = None


class Classification(AnswerModel):
    """A debtor's classification record: what was asked, what is granted, and since when.

    endorsementNo names the request (000: every request is numbered), also a denied one; a request on
    an existing debtor has its own 300xxx number until it is resolved. activeInd shows on a limit in
    force of a PPC-modality policy (N: deactivated); premiumPendingInd Y with premiumAmount on a
    classification waiting for the insured to accept or deny its premium (assumptions
    "activate-deactivate", "accept-deny-premium").
    """

    endorsementNo: str | None = None
    customerReference: str | None = None
    countryCode: str
    taxCode: str
    companyName: str | None = None
    cesceCode: str | None = None
    statusCode: str
    reasonStatusCode: str | None = None
    creditLimitRequested: WireAmount
    creditLimitGranted: WireAmount
    currencyCode: str
    paymentTermsRequested: str | None = None
    paymentTermsGranted: str | None = None
    requestDate: WireDate
    effectiveDate: WireDate | None = None
    statusDate: WireDate
    activeInd: YesNo | None = None
    premiumAmount: WireAmount | None = None
    premiumPendingInd: YesNo | None = None

    @property
    def status(self) -> ClassificationStatus | None:
        """statusCode as a `ClassificationStatus`; None for a code the documents do not list."""
        try:
            return ClassificationStatus(self.statusCode)
        except ValueError:
            return None

    @property
    def pending(self) -> bool:
        """EN TRÁMITE: Cesce has not decided yet; read it again later."""
        return self.statusCode == ClassificationStatus.PENDING

    @property
    def premium_pending(self) -> bool:
        """A premium waits for the insured's answer (POST .../accept-deny-premium); the limit is not in force yet."""
        return self.premiumPendingInd == "Y"

    @property
    def deactivated(self) -> bool:
        """A limit in force that the insured deactivated (PPC-modality policies): it covers no sale until activated."""
        return self.activeInd == "N"
