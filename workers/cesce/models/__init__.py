"""The conventions every Cesce model follows, and the debtor identification all APIs share.

Field names are the wire names (camelCase), so a model reads like the Cesce documents and its JSON
dump is the request body with no alias table in between. Amounts are `Decimal` (`WireAmount`),
rates `WireRate`, dates `date` (`WireDate`); every model is frozen.

- `RequestModel` refuses an unknown field, a float amount, an amount with more than two decimals
  or an impossible date the moment it is built, and says so with `CesceValidationError` naming the
  field, so a bad request cannot even be handed to the client.
- `AnswerModel` ignores fields it does not know (Cesce may add some) and accepts numbers where a
  code is documented as a string; the client turns any other mismatch into `CesceProtocolError`.

The models of each API are in `.sales`, `.classifications` and `.claims`.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import PydanticSerializationError

from workers.cesce.errors import CesceValidationError

__all__ = ["AnswerModel", "DebtorId", "RequestModel", "YesNo"]

YesNo = Literal["Y", "N"]


class RequestModel(BaseModel):
    """Something we send: strict, frozen, typed errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or cls.__name__
            raise CesceValidationError(field, first["msg"]) from exc

    def to_wire(self) -> dict[str, Any]:
        """The JSON object Cesce receives: wire strings, and absent fields left out rather than null."""
        try:
            return self.model_dump(mode="json", exclude_none=True)
        except PydanticSerializationError as exc:  # only a model_construct()-ed model gets here
            raise CesceValidationError(type(self).__name__, str(exc)) from exc


class AnswerModel(BaseModel):
    """Something Cesce sends back: frozen, tolerant of additions."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class DebtorId(RequestModel):
    """Which debtor a request is about.

    Cesce finds a debtor by customerReference, endorsementNo or countryCode + taxCode; when
    several are given it trusts them in that order (guide 3.2.1).
    """

    customerReference: str | None = None
    endorsementNo: str | None = None
    countryCode: str | None = None
    taxCode: str | None = None

    @classmethod
    def by_customer_reference(cls, customer_reference: str) -> DebtorId:
        return cls(customerReference=customer_reference)

    @classmethod
    def by_endorsement(cls, endorsement_no: str) -> DebtorId:
        return cls(endorsementNo=endorsement_no)

    @classmethod
    def by_tax_code(cls, country_code: str, tax_code: str) -> DebtorId:
        return cls(countryCode=country_code, taxCode=tax_code)
