"""Where the Cesce documents are silent: every choice we made, in one place.

The client and the sandbox both read these constants, so a choice is changed here or nowhere.
Each choice is also an entry of `ASSUMPTIONS`, which docs/assumptions.md lists (a test keeps the two
in step). The documented facts are in `workers.cesce.catalogue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "ASSUMPTIONS",
    "CLAIMS_PATHS",
    "CLIENT_ID_HEADER",
    "DEFAULT_LANGUAGE_CODE",
    "DUPLICATE_SALE_DESCRIPTION",
    "DUPLICATE_SALE_MARKER",
    "ERROR_CODE_IDENTIFICATION",
    "ERROR_CODE_VALIDATION",
    "MSG_BOTH_IDENTIFIERS",
    "MSG_CLASSIFICATION_NOT_CANCELLABLE",
    "MSG_INVALID_FIELD",
    "MSG_LIMIT_NOT_IN_FORCE",
    "MSG_MAINTENANCE",
    "MSG_MODIFICATION_NOT_ALLOWED",
    "MSG_MODIFICATION_WINDOW",
    "MSG_NO_IDENTIFIER",
    "MSG_NO_PREMIUM_PENDING",
    "MSG_SALE_NOT_FOUND",
    "MSG_ZERO_AMOUNT",
    "PAGE_CURSOR_ALIASES",
    "PAGE_CURSOR_REFUSED",
    "PPC_MODALITY",
    "SALES_LIST_PARAMS",
    "WRITE_SCOPES",
    "Assumption",
    "ClassificationStatus",
    "DocumentStatus",
    "SaleRejectionReason",
    "SaleStatus",
    "SettlementStatus",
]


@dataclass(frozen=True, slots=True)
class Assumption:
    key: str
    text: str


# --- errors the catalogue names without a code or without a text -------------------------------

# "Ventas duplicadas ... El API devuelve error y la venta no se da de alta": no code is given.
# The sandbox answers HTTP 400, errorCode 1522 (the "venta errónea" family) with this text. The
# marker in a text is only a hint: the invoices worker decides by reading the sale back and
# comparing the guide's duplicate key (`workers.invoices.duplicates`), whatever the words.
DUPLICATE_SALE_DESCRIPTION: Final = "venta errónea - Venta duplicada"
DUPLICATE_SALE_MARKER: Final = "DUPLICAD"

# The date error, the credit-note errors and the modification refusals carry only a text in the
# catalogue; we answer them as HTTP 400 with errorCode 1522, like the other "venta errónea" cases.
MSG_MODIFICATION_WINDOW: Final = "venta errónea - Modificación fuera de plazo"
MSG_MODIFICATION_NOT_ALLOWED: Final = "venta errónea - Venta no modificable"

# Sending both or neither of endorsementNo / customerReference "devuelve error": HTTP 400 with the
# Sales API's own Bad Request example code 2.
ERROR_CODE_IDENTIFICATION: Final = "2"
MSG_NO_IDENTIFIER: Final = "SOME DATA IS MANDATORY TO IDENTIFY THE LIMIT"
MSG_BOTH_IDENTIFIERS: Final = "ONLY ONE OF endorsementNo OR customerReference MAY IDENTIFY THE DEBTOR"

# 422 answers: the catalogue quotes the text ("'nonPaymentInd' is missing.") but no errorCode; we
# send the HTTP status as the code. A field present but malformed gets the counterpart text.
ERROR_CODE_VALIDATION: Final = "422"
MSG_INVALID_FIELD: Final = "'{field}' is invalid."
# A sale of 0,00: the documents give currencyAmount as "Amount of bill" and a negative amount as a
# credit note (abono), and say nothing of zero. A sale of nothing is neither, so we take it to be
# invalid: the sandbox answers it 422 "'currencyAmount' is invalid." and the client refuses it
# before sending, whatever its sign or notation (0, -0, -0.00, -0E+2 all encode as "0,00").
MSG_ZERO_AMOUNT: Final = "is zero: a sale of nothing is neither a sale nor a credit note (Cesce answers 422)"
# errorCode 18 comes with no text in the catalogue.
MSG_MAINTENANCE: Final = "Servicio en mantenimiento"

# A sale that GET .../sale cannot find: HTTP 404, errorCode 4 (the catalogue's 404 case).
MSG_SALE_NOT_FOUND: Final = "NO EXISTE LA VENTA"
# Cancelling a classification that has no limit in force: HTTP 400, errorCode 2.
MSG_CLASSIFICATION_NOT_CANCELLABLE: Final = "NO EXISTE LÍMITE EN VIGOR QUE ANULAR"
# Activating or deactivating a debtor with no limit in force: HTTP 400, errorCode 2.
MSG_LIMIT_NOT_IN_FORCE: Final = "NO EXISTE LÍMITE EN VIGOR"
# Accepting or denying a premium where none awaits an answer: HTTP 400, errorCode 2.
MSG_NO_PREMIUM_PENDING: Final = "NO EXISTE PRIMA PENDIENTE DE ACEPTACIÓN"

# --- status codes the documents do not tabulate ---------------------------------------------------


class ClassificationStatus(StrEnum):
    """statusCode of a classification. Only 1 (EN TRÁMITE) is documented."""

    PENDING = "1"  # EN TRÁMITE (documented)
    IN_FORCE = "2"  # EN VIGOR: a limit is granted
    REJECTED = "3"  # DENEGADA: no limit, no endorsement supplement
    CANCELLED = "4"  # ANULADA: a limit that was in force and is no more


class SaleRejectionReason(StrEnum):
    """reasonStatusCode of a sale with statusCode 9 (the Sandbox Model tables are not in our documents)."""

    NONE = "0"
    NO_LIMIT_IN_FORCE = "1"  # "rechazada porque el deudor no tiene crédito en vigor"


class SaleStatus(StrEnum):
    """statusCode of a sale. Only 5 and 9 are documented (guide 4.1); the guide names the other situations
    (4.2 points 4 and 6) without their codes, which are in Cesce's Sandbox Model tables, not in our documents."""

    PENDING = "1"  # EN TRÁMITE ("en trámite", point 4)
    PENDING_RETARIFF = "2"  # PENDIENTE DE RETARIFICAR (point 6)
    CERTIFIED = "3"  # CERTIFICADA (point 4)
    SECURITISED = "4"  # TITULIZADA (point 4)
    TARIFFED = "5"  # TARIFICADA (documented)
    CANCELLED = "6"  # BAJA (point 6)
    EXTENDED = "7"  # PRORROGADA (point 6): an extension replaced it with a new sale
    REJECTED = "9"  # RECHAZADA (documented)


class DocumentStatus(StrEnum):
    """statusCode of a claim-file document ("Solicitado, reclamado, recibido, validado")."""

    REQUESTED = "1"
    CLAIMED = "2"
    RECEIVED = "3"
    VALIDATED = "4"


class SettlementStatus(StrEnum):
    """settlementStatusCode: "si la liquidación se ha pagado o está en curso"."""

    IN_PROGRESS = "1"
    PAID = "2"


# --- wire details ----------------------------------------------------------------------------------

DEFAULT_LANGUAGE_CODE: Final = "ES"

# IBM API Connect (Cesce's gateway) identifies the subscribed application by this header; its
# absence is what "Cannot find valid subscription for the incoming API request." answers.
CLIENT_ID_HEADER: Final = "X-IBM-Client-Id"

# The guide names PPC policies ("Solo se utiliza para pólizas de modalidad PPC") without their modality code; 000
# gives 341 and 381 as examples only. The sandbox's PPC policies are those whose contractNo starts with this.
PPC_MODALITY: Final = "351"

# GET /contracts/{contractNo}/sales: the reference describes the filters but not all their names.
SALES_LIST_PARAMS: Final = {
    "page": "initialValue",  # documented
    "recent_movements": "recentMovementsInd",  # "Recent movements": Y/N
    "endorsement_no": "endorsementNo",
    "customer_reference": "customerReference",
    "invoice_year_month": "invoiceYearMonth",  # "Year/month of invoice date": YYYYMM
    "status_code": "statusCode",
}

# The portfolio and movements cursor (guide 3.2.2): documented as nextEndorsementNo, spelled by the
# same guide "nextEndorsmentNo" (the field's heading) and "nextEndorsment" (its example). The sandbox
# takes all three, in any letter case, as the cursor; initialValue, the Sales list's cursor (guide
# 4.3.2), is refused 422 "'initialValue' is invalid." on these reads rather than silently ignored.
PAGE_CURSOR_ALIASES: Final = ("nextEndorsementNo", "nextEndorsmentNo", "nextEndorsment")
PAGE_CURSOR_REFUSED: Final = ("initialValue",)

# Scopes (guide 2: "read, update, delete, create"): no document says which operation needs which.
# A GET needs read; each POST the scope named here, by its path under the API root.
WRITE_SCOPES: Final = {
    "/contracts/{contractNo}/sales": "create",  # declare a sale
    "/contracts/{contractNo}/sale": "update",  # modify a sale
    "/contracts/{contractNo}/classifications": "create",  # request a limit
    "/contracts/{contractNo}/classifications/cancel": "delete",  # annul a limit
    "/contracts/{contractNo}/classifications/activate-deactivate": "update",
    "/contracts/{contractNo}/classifications/accept-deny-premium": "update",
    "/contracts/{contractNo}/non-payment-declaration": "create",
}

# Claims API: only the operation names are documented ("non-payment-declaration", "documents",
# "settlements"). claim-files is our name for the read that lets a worker look a declaration up.
CLAIMS_PATHS: Final = {
    "declare": "/contracts/{contractNo}/non-payment-declaration",
    "claim_files": "/contracts/{contractNo}/claim-files",
    "documents": "/contracts/{contractNo}/documents",
    "settlements": "/contracts/{contractNo}/settlements",
}

ASSUMPTIONS: Final[tuple[Assumption, ...]] = (
    Assumption(
        "operation-scopes",
        "The documents list the scopes (create, read, update, delete) but not which operation needs which: every "
        "GET needs read; declaring a sale, requesting a limit and declaring a non-payment need create; modifying a "
        "sale, activating/deactivating a limit and accepting/denying a premium need update; annulling a limit "
        "needs delete. The sandbox refuses a call whose token lacks the scope with 000's 401 errorCode 21 \""
        "Cannot pass the security checks that are required by the target API or operation, Enable debug headers "
        "for more details.\" (002's error bodies give no other text); a token asked for with no scope gets all "
        "four. The client asks for CESCE_SCOPE (default: what the worker's operations need; all four for the client "
        "alone) and refuses locally, before sending, an operation whose scope it did not ask for.",
    ),
    Assumption(
        "sandbox-owner-credentials",
        "Cesce's sandbox does not require username and password (000); the sandbox accepts a password grant "
        "without them, and any non-empty values when given. Started with fixed credentials (cesce-worker sandbox "
        "--fixed-credentials) it acts as PRE/PRO do: both are required and checked, their absence answered "
        '400 invalid_grant "Resource owner denied or not found". The client omits both from the token request '
        "when CESCE_USERNAME and CESCE_PASSWORD are unset (one without the other is a configuration error).",
    ),
    Assumption(
        "page-cursor-spellings",
        "The portfolio and movements cursor is documented as nextEndorsementNo, and the guide also writes "
        "nextEndorsmentNo and nextEndorsment: the sandbox takes any of the three, in any letter case, as the "
        "cursor (two spellings with different values: 422 naming one). initialValue, the Sales list's cursor, is "
        "refused there with 422 \"'initialValue' is invalid.\", never silently ignored. A first movements page "
        "holds the denials (which have no endorsementNo to page by) inside its 500 records, oldest first.",
    ),
    Assumption(
        "duplicate-sale",
        "The sandbox answers a duplicate sale HTTP 400, errorCode 1522, errorDescription "
        f'"{DUPLICATE_SALE_DESCRIPTION}" (the documents give no wording). No decision rests on the words: '
        "after a business rejection of a declaration whose earlier attempt's outcome is unknown (the client resent "
        "it after a lost answer, the record is retried after one, it predates its partition's stay, or the row "
        "state already holds it), the invoices worker reads the sale back by invoiceNo + maturityDate and compares "
        "the guide's duplicate key (invoiceNo, invoiceDate, maturityDate, endorsementNo or customerReference, "
        "currencyAmount): the same sale is ALREADY_DECLARED, another sale or none keeps the rejection. "
        f"'{DUPLICATE_SALE_MARKER}' in the text is a hint that earns the same read, never more.",
    ),
    Assumption(
        "sale-read-latest",
        "Two sales at Cesce may share invoiceNo + maturityDate (another invoiceDate, debtor or amount is another "
        "sale); GET .../sale by invoiceNo + maturityDate then answers the latest declared, and a read-back "
        "compares with that one: the latest sale wins an ambiguous invoiceNo + maturityDate.",
    ),
    Assumption(
        "sale-error-codes",
        "The date error, the credit-note errors and modification refusals (outside the window, a sale "
        "that may not change) are HTTP 400 with errorCode 1522 and the catalogue's text (or ours: "
        f'"{MSG_MODIFICATION_WINDOW}", "{MSG_MODIFICATION_NOT_ALLOWED}").',
    ),
    Assumption(
        "identification-errors",
        "Neither or both of endorsementNo / customerReference on a sale or non-payment: HTTP 400, errorCode 2.",
    ),
    Assumption(
        "sale-not-found",
        f'GET .../sale for an unknown sale: HTTP 404, errorCode 4, "{MSG_SALE_NOT_FOUND}".',
    ),
    Assumption(
        "unknown-contract",
        "A well-formed contractNo the user holds no authorisation for: HTTP 403, errorCode 6; a missing or "
        'malformed one: HTTP 400, errorCode 1522 "ES OBLIGATORIO INTRODUCIR EL CONTRATO".',
    ),
    Assumption(
        "maintenance",
        "errorCode 18 (maintenance) is transient whatever the HTTP status; the sandbox answers it as HTTP 400.",
    ),
    Assumption(
        "classification-status",
        "Classification statusCode: 1 EN TRÁMITE (documented), 2 EN VIGOR, 3 DENEGADA, 4 ANULADA.",
    ),
    Assumption(
        "classification-wire",
        "Classification requests are {client:{languageCode}, generalData:{...guide's field names...}}; "
        "answers are {error, generalData} for create/read/cancel and {error, paginationData:"
        "{nextEndorsementNo}, result:[...]} for portfolio and movements. A classification record has "
        "endorsementNo, customerReference, countryCode, taxCode, companyName, statusCode, reasonStatusCode, "
        "creditLimitRequested, creditLimitGranted, currencyCode, paymentTermsRequested, paymentTermsGranted, "
        "requestDate, effectiveDate, statusDate, and where they apply activeInd, premiumAmount and "
        "premiumPendingInd (assumptions activate-deactivate and accept-deny-premium).",
    ),
    Assumption(
        "contract-modality",
        "A contractNo is 11 ASCII digits, no spaces; its first three, the modality, may be any: 000's 341 and 381 "
        "are examples. The client refuses only the format; the sandbox answers a well-formed number it does not "
        "hold as any contract it does not authorise (403, errorCode 6). The sandbox's PPC modality is "
        f"{PPC_MODALITY} (the documents give no code for it); its default scenario has the PPC contract "
        f"{PPC_MODALITY}00000025.",
    ),
    Assumption(
        "activate-deactivate",
        "POST .../classifications/activate-deactivate takes {client:{languageCode}, generalData:{the debtor as "
        "cancel names it, activeInd}}: activeInd N deactivates the limit in force, Y activates it again; the "
        "answer is {error, generalData} with the record. A limit in force on a PPC-modality policy shows activeInd "
        "Y or N in every read (individual, portfolio, movements), statusCode staying 2 EN VIGOR; each change is a "
        "movement (its statusDate), asking for the state the limit already has changes nothing. On any other "
        "policy the sandbox refuses it as outside the policy's conditions: HTTP 400, errorCode 1522, "
        '"venta errónea: Erróneas – No contemplado en condiciones póliza" (the catalogue\'s text for it). No limit '
        f'in force: HTTP 400, errorCode 2, "{MSG_LIMIT_NOT_IN_FORCE}". A deactivated limit covers no sale: a '
        "sale on it is RECHAZADA with reasonStatusCode 1, as with no limit in force; the limit is still a "
        "supplement, so a cancellation annuls it.",
    ),
    Assumption(
        "accept-deny-premium",
        "POST .../classifications/accept-deny-premium takes {client:{languageCode}, generalData:{the debtor as "
        "cancel names it, acceptPremiumInd}}: Y accepts, N denies; the answer is {error, generalData} with the "
        "record. A classification waiting for its premium is EN TRÁMITE (statusCode 1) with premiumPendingInd Y, "
        "premiumAmount (the premium asked) and creditLimitGranted 0,00; accepted, creditLimitRequested is granted "
        "in force (statusCode 2, a movement); denied, it is not granted (statusCode 3 reason 1, a movement, no "
        "supplement). The sandbox asks for a premium on contracts whose scenario sets premiumAcceptanceThreshold, "
        "for requests above it that it would otherwise grant at once: premiumAmount is creditLimitRequested x "
        "commercialRiskRate / 100, to the cent (half to even). It never resolves them on its own "
        f'(pendingResolveSeconds). Nothing waiting: HTTP 400, errorCode 2, "{MSG_NO_PREMIUM_PENDING}".',
    ),
    Assumption(
        "classification-request-number",
        "Every classification request is numbered (000): a new debtor's request takes a new endorsementNo, "
        "a known debtor's a 300xxx number, also when it is denied at once: the denial's record carries that "
        "number (it names the request; no supplement is generated and a new debtor's denial stays out of the "
        "portfolio). A new debtor's later request after a denial takes a new number; the denied one keeps naming "
        "the debtor.",
    ),
    Assumption(
        "classification-rejection",
        "The sandbox denies (statusCode 3) a classification sent with nonPaymentInd Y, the guide's example of a "
        "debtor 'que ya tiene incidencias en pagos'.",
    ),
    Assumption(
        "sale-rejection-reason",
        "A sale for a debtor with no limit in force is answered statusCode 9 (RECHAZADA) with reasonStatusCode 1.",
    ),
    Assumption(
        "credit-note-balance",
        "A credit note (negative currencyAmount) is tariffed when the debtor's TARIFICADA positive sales not yet "
        "matured, less the credit notes already declared against them, cover its amount.",
    ),
    Assumption(
        "foreign-debtor-sale",
        "A sale on a domestic-only policy for a debtor whose customerReference is classified abroad under "
        "another of the insured's policies is refused with 2809.",
    ),
    Assumption(
        "sales-list-params",
        "Sales list filters are named recentMovementsInd (Y/N), endorsementNo, customerReference, "
        "invoiceYearMonth (YYYYMM) and statusCode; pages follow paginationData.initialValue until it is empty.",
    ),
    Assumption(
        "claims-wire",
        "Claims paths are /claims/v1/contracts/{contractNo}/non-payment-declaration (POST), /claim-files, "
        "/documents and /settlements (GET, filtered by claimFileNo). A declaration names the debtor like a "
        "sale and carries invoiceNo, invoiceDate, maturityDate, unpaidAmount, currencyCode; its answer has "
        "claimFileNo, nonPaymentNo, newClaimFileInd (Y/N) and the documents requested.",
    ),
    Assumption(
        "document-settlement-status",
        "Document statusCode 1 SOLICITADO, 2 RECLAMADO, 3 RECIBIDO, 4 VALIDADO; settlementStatusCode 1 EN CURSO, "
        "2 PAGADA.",
    ),
    Assumption(
        "premium-rate",
        "commercialRiskRate and politicalRiskRate are per cent: a premium is countervalueAmount x rate / 100, rounded "
        "half to even to the cent (0,13752 on 12.500,00 is 17,19). Political risk is charged on foreign debtors only.",
    ),
    Assumption(
        "validation-answers",
        f"A 422 carries errorCode {ERROR_CODE_VALIDATION} and the catalogue's \"'field' is missing.\", or "
        f'"{MSG_INVALID_FIELD}" for a malformed value; sales bodies refuse unknown properties '
        "(the schemas' additionalProperties false) the same way. A blank value anywhere is the documented 500.",
    ),
    Assumption(
        "zero-amount",
        'A sale, credit note or modification whose currencyAmount is zero (0, -0, -0.00, -0E+2: all "0,00" on '
        f'the wire) is invalid: Cesce answers 422 "{MSG_INVALID_FIELD.format(field="currencyAmount")}", and the '
        "client refuses it before sending (a validation dead letter naming currencyAmount).",
    ),
    Assumption(
        "duplicate-key-debtor",
        "The debtor of the duplicate-sale key is the debtor an identifier resolves to: the same invoice sent once by "
        "endorsementNo and once by customerReference is a duplicate.",
    ),
    Assumption(
        "factoring",
        "acquisitionDate is accepted only, and required, on factoring policies; taxCodeTransferor only, and "
        "required, on factoring policies with recourse (guide 4.1). The sandbox's policies are not factoring.",
    ),
    Assumption(
        "second-pending-request",
        "A new request for a debtor whose earlier request is still EN TRÁMITE replaces it under the same 300xxx "
        "number; a denial of a debtor that holds a limit leaves that limit in force.",
    ),
    Assumption(
        "oauth-errors",
        "Token refusals follow RFC 6749: invalid_request (a parameter missing), invalid_grant (wrong or blank "
        "credentials, a spent or expired refresh token), unsupported_grant_type, invalid_scope. Tokens are bound "
        "to the client_id that obtained them.",
    ),
    Assumption(
        "sandbox-today",
        'The sandbox\'s "today" (modification windows, 48-hour movements, policy validity) is the date in '
        "Europe/Madrid.",
    ),
    Assumption(
        "client-id-header",
        f"API calls carry the application's client_id in {CLIENT_ID_HEADER} (IBM API Connect); the sandbox "
        "answers 401 with the catalogue's subscription message without it.",
    ),
    Assumption(
        "outcome-unknown",
        "A read timeout, a dropped connection or a 502/504 after a request was sent leaves its outcome unknown. "
        "The client repeats such a request only where repeating is harmless: reads, and sale declarations "
        "(Cesce refuses the duplicate). Classification, cancellation, modification and non-payment POSTs are "
        "reported to the caller, which looks the request up before sending it again.",
    ),
    Assumption(
        "credit-request-identity",
        "A credit request names its debtor by endorsementNo alone when the ERP row has one (customerReference can "
        "only be attached at a debtor's first classification); otherwise by what the row has: countryCode + "
        "taxCode for a new debtor, with its customerReference, or customerReference alone for a known one.",
    ),
    Assumption(
        "credit-request-update",
        "A credit request is sent once, when its row is created (c) or first read (r). An update (u) that changes "
        "a field Cesce was sent is a validation dead letter naming the field (a registered request cannot be "
        "edited; the ERP asks again with a new request row); one that changes nothing Cesce was sent is NO_CHANGE. "
        "Deleting a request row calls nothing: it does not cancel a limit Cesce granted.",
    ),
    Assumption(
        "credit-request-actions",
        "A credit-request row drives 003's other classification operations through two optional columns: limitAction "
        "CANCEL (POST .../classifications/cancel), DEACTIVATE or ACTIVATE (POST .../activate-deactivate, PPC-modality "
        "policies only) and premiumDecision ACCEPT or DENY (POST .../accept-deny-premium). A new row carrying one asks "
        "for it and for no limit (its amount is not sent); an update sends a value other than the one last sent for the"
        " row (the row state, else the before-image), once: the same value again, or the column cleared, is NO_CHANGE; "
        "a premium already answered cannot be answered otherwise (a validation dead letter naming premiumDecision), and"
        " a change carrying both columns is refused naming limitAction. The debtor is named as a limit request names "
        "it. Before sending, Cesce's record is read (for a limit action the debtor's; for a premium decision the row's "
        "own request, looked up as a limit request is): an operation it already shows (statusCode 4 for CANCEL; a limit"
        " in force with activeInd N for DEACTIVATE, Y for ACTIVATE; the request no longer waiting for its premium and "
        "in force for ACCEPT, denied for DENY) is published from that record with alreadyRegistered true, not sent "
        "again. Results: CANCELLED, DEACTIVATED, REACTIVATED, PREMIUM_ACCEPTED or PREMIUM_DENIED, with action; Cesce's "
        "refusal (activate-deactivate on a policy that is not PPC) is a business dead letter with its errorCode. A "
        "classification waiting for its premium to be accepted is published with premiumDecisionNeeded true and its "
        "premiumAmount. Deleting a request row never cancels: a row deleted for housekeeping must not void a cover; "
        "cancelling is the explicit CANCEL.",
    ),
    Assumption(
        "classification-lookup",
        "Before every classification POST the worker reads the debtor back: a record of the same debtor asking "
        "for the same creditLimitRequested, with a requestDate on or after the ERP row's requestDate, is this "
        "request already registered (a redelivery, or a first attempt whose answer was lost) and is published "
        "with alreadyRegistered true instead of being sent again. The individual read shows it for a new debtor "
        "and once unified; a known debtor's request EN TRÁMITE is its 300xxx record in the portfolio (a record EN "
        "TRÁMITE beside another of the same debtor), found by walking the pages from the first, sending back each "
        "nextEndorsementNo; a known debtor's denial is in the "
        "movements. So a second identical request for one debtor on one day is taken for the first. A record of the "
        "debtor requested on a later day than the row's requestDate means the row is an old request read again (a "
        "snapshot, a replay): it is not sent (that would replace the later limit) and is published SUPERSEDED.",
    ),
    Assumption(
        "classification-followup",
        "A request EN TRÁMITE is read again by its endorsementNo (a new debtor's number, or the 300xxx one, which "
        "keeps naming the debtor once unified) every CLASSIFICATION_FOLLOWUP_SECONDS. Decided means the record "
        "for the same amount is no longer statusCode 1: 2 GRANTED (creditLimitGranted may be less than asked), "
        "3 REJECTED (found in the movements for a known debtor), 4 CANCELLED. A request found nowhere any more ends "
        "REJECTED when the debtor's record is older than the request (a denial leaves no trace once out of the "
        "movements' 48 hours), else SUPERSEDED (another request for the debtor replaced it).",
    ),
    Assumption(
        "non-payment-lookup",
        "Cesce never refuses a repeated non-payment declaration: it adds a further non-payment to the claim file "
        "(guide 5). So before every declaration the worker reads the debtor's claim files (by the identifier the "
        "ERP row uses); a non-payment there with the same invoiceNo, maturityDate and unpaidAmount is this one, "
        "already declared, and is read back (ALREADY_DECLARED) rather than posted. The same invoiceNo and "
        "maturityDate with another unpaidAmount is a validation dead letter (unpaidAmount), never a second "
        "declaration. No claim files is an empty result; a 404 is not read as 'none' (it is a business dead letter).",
    ),
    Assumption(
        "non-payment-immutable",
        "The Claims API documents no way to modify or withdraw a declared non-payment: an ERP update of a field "
        "Cesce was sent is a validation dead letter naming it; an update of other columns is NO_CHANGE; a delete "
        "calls nothing (DELETED_IN_ERP) and the declaration stands.",
    ),
    Assumption(
        "first-non-payment",
        "Read back, a non-payment opened its claim file (newClaimFile true) when it is the file's first: the "
        "earliest declarationDate, then the lowest nonPaymentNo as a number. Its documents are then those of "
        "that non-payment as read now (GET documents of the file, by nonPaymentNo).",
    ),
    Assumption(
        "claim-file-changes",
        "In a claim file a document is nonPaymentNo + documentCode and a settlement its settlementNo. A claim "
        "update is published when a document is new or its statusCode changed (statusDate alone is no change), "
        "and when a settlement is new or its settlementStatusCode changed, with amtPrinIndemnified + "
        "amtIntIndemnified. Only the declaration that opened a file starts following it, from the documents of "
        "its answer; later non-payments' documents appear as new documents.",
    ),
    Assumption(
        "claim-file-followed-until",
        "No documented field says a claim file is closed: one is followed (two GETs every "
        "CLAIMS_POLL_INTERVAL_SECONDS) until a settlement is paid (2), none is in progress (1) and every document is "
        "received (3) or validated (4); an unknown status keeps it followed, and a file that never gets there is "
        "followed indefinitely. A non-payment Cesce attaches to a file no longer followed does not restart it.",
    ),
    Assumption(
        "risk-state-keys",
        "A classification record is identified by contractNo + endorsementNo (a supplement, or a 300xxx request EN "
        "TRÁMITE). A denial that generated no supplement has no number: it is identified by contractNo, countryCode, "
        "taxCode, requestDate and creditLimitRequested, and forgotten three days after its statusDate (the movements "
        "show 48 hours). Risk changes are keyed by contractNo/countryCode/taxCode, the identity every record has.",
    ),
    Assumption(
        "risk-change-kinds",
        "A record unknown to the poller in force is NEW_LIMIT (so the first reconciliation publishes the whole "
        "portfolio), cancelled is CANCELLED, denied is REJECTED. A known limit in force whose creditLimitGranted "
        "rises or falls is INCREASED or REDUCED; one that changes in other fields only (payment terms, dates) is "
        "remembered without an event. A known record EN TRÁMITE that leaves statusCode 1 is PENDING_DECIDED. A "
        "record whose statusDate is older than the known one is ignored; statusCodes beyond 1-4 are remembered "
        "and logged, not published.",
    ),
    Assumption(
        "risk-pending-requests",
        "The 300xxx request EN TRÁMITE of a known debtor (guide 3.2.2) is not a second debtor. The poller walks "
        "the portfolio's pages from the first at every tick to know them (a record EN TRÁMITE beside another of "
        "the same debtor). Its decision shows as the "
        "supplement taking the request's creditLimitRequested and requestDate (granted) or as a denial of that "
        "amount and date (movements only): one PENDING_DECIDED naming the request (requestEndorsementNo). A "
        "request EN TRÁMITE missing from a whole-portfolio read with no decision seen was denied while the "
        "movements were not read in time: PENDING_DECIDED with statusCode 3, inferred true. A new debtor's first "
        "request EN TRÁMITE (its own number, not 300xxx) shows only in whole-portfolio reads; decided before one "
        "saw it, it is NEW_LIMIT or REJECTED.",
    ),
    Assumption(
        "risk-reconciliation",
        "The 48-hour window of the movements is counted on Cesce's clock; the poller reads the whole portfolio "
        "(with the movements) at a contract's first read, every RISK_PORTFOLIO_INTERVAL_SECONDS, and whenever 47 "
        "hours or more passed since its last successful read. A portfolio read is not atomic: a change during it "
        "is found by the next movements read.",
    ),
    Assumption(
        "sale-status",
        "Sale statusCode: 5 TARIFICADA and 9 RECHAZADA (documented); for the situations guide 4.2 names without a "
        "code: 1 EN TRÁMITE, 2 PENDIENTE DE RETARIFICAR, 3 CERTIFICADA, 4 TITULIZADA, 6 BAJA, 7 PRORROGADA. A sale "
        "in any of these six may not be modified (points 4 and 6): the sandbox answers 1522 "
        f'"{MSG_MODIFICATION_NOT_ALLOWED}".',
    ),
    Assumption(
        "sale-extension",
        "An extension (prórroga) is declared outside the Sales API (002 documents no path for it): it creates a new "
        "TARIFICADA sale with its own saleCesceReferenceNo and the original's invoiceNo, invoiceDate and debtor, a "
        "later maturityDate, and maturityAmount (by default the original's countervalue less its collectedAmount, "
        "never more than the original invoice); its premium is the contract's rates on maturityAmount. The "
        "original becomes PRORROGADA (7). maturityAmount is shown on the extended sale only (GET sale and the "
        "sales list), a field the 002 schemas predate.",
    ),
    Assumption(
        "sale-collection",
        "collectedAmount (contract currency) is what Cesce recorded as collected of the invoice, cumulative: 0,00 "
        "until a collection is recorded, never more than the countervalue; credit notes collect nothing.",
    ),
    Assumption(
        "endorsed-sale",
        "A venta endosada (a sale on a cancelled supplement) is TARIFICADA with reasonStatusCode 0 on a policy with "
        "the Endosos supplement (scenario flag endorsementsSupplement), RECHAZADA reason 1 otherwise. The sandbox's "
        "supplements carry no expiry date, so the other case of the definition (a supplement past its date) is not "
        "emulated.",
    ),
    Assumption(
        "sales-followup",
        "The sales follow-up knows a sale from the first time it reads it (the first read of a contract is its "
        "whole sales list, again every SALES_FOLLOWUP_FULL_INTERVAL_SECONDS and after a gap of 47 hours or more; "
        "the others read recentMovementsInd Y). A sale first seen is remembered without an event, except an "
        "extended sale (maturityAmount), which is an EXTENDED change naming the sale it extends (the latest other "
        "sale of the contract with its invoiceNo). A change of statusCode or reasonStatusCode is STATUS; of "
        "collectedAmount, COLLECTED; of rates or premiums with the declared data unchanged, RETARIFFED; of the "
        "declared data (invoiceNo, dates, amount, currency, debtor), MODIFIED. A record whose statusDate is older "
        "than the known one is ignored. A sale's state is forgotten 400 days after the later of its maturityDate "
        "and statusDate.",
    ),
    Assumption(
        "reconcile-sales",
        "The month-end check (cesce-worker reconcile sales) counts a sale in the month of its invoiceDate, at both "
        "sides: Cesce's list is read with invoiceYearMonth and narrowed to that month again, our results by their "
        "invoiceDate. Sales pair by the guide's duplicate key (invoiceNo, invoiceDate, maturityDate, the "
        "supplement as we named it, currencyAmount), the latest result per key winning; DECLARED, "
        "REJECTED_BY_POLICY, ALREADY_DECLARED and MODIFIED count as declared (credit notes too), DELETED_IN_ERP "
        "withdraws the key, and a MODIFIED result retires the earlier results of its contract and invoiceNo. Left "
        "over, a sale of ours and one of Cesce's with the same debtor and invoiceNo (the same maturityDate "
        "preferred) are one sale whose amount, dates or currency differ. An extension (a sale with maturityAmount) "
        "is Cesce's own and left out. A dead letter of the invoices worker is unresolved until the replay ledger "
        "records its replay; one whose value is not an invoice change is listed but does not make the books "
        "differ.",
    ),
    Assumption(
        "modification-sign-flip",
        "A modification that changes the sign of currencyAmount (a sale becoming a credit note, or a credit note a "
        'sale) is refused like a sale that may not change: HTTP 400, errorCode 1522, "venta errónea - Venta no '
        'modificable". A negative sale is its own declaration with its own premium (001 lines 862-864, the Abonos '
        "supplement), not a correction of a positive one: the ERP declares a credit note and, if needed, a new sale.",
    ),
)
