"""What the sandbox's OpenAPI document says about each Cesce operation.

The Sales API bodies and every error body are the seed reference's JSON Schemas, kept verbatim
in ``contract/*.json``. The Classifications and Claims APIs have no published schema in our
documents; theirs are built here from the same field lists the sandbox validates with, so the
document cannot drift from the behaviour.

Handlers read their input themselves (to answer in Cesce's error format), so parameters and
request bodies are declared through ``openapi_extra`` and answers through ``responses=``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Final

from workers.sandbox.fields import CLIENT_FIELDS, Field, Kind

__all__ = [
    "CONTRACT_FILES",
    "envelope",
    "error_responses",
    "object_schema",
    "operation",
    "request_envelope",
    "schema",
    "success",
]

CONTRACT_FILES: Final = (
    "sale_request",
    "sale_response",
    "sale_get_response",
    "sales_list_response",
    "subsidiaries_response",
    "sale_modification_request",
    "sale_modification_response",
    "error_400_bad_request",
    "error_401_unauthorized",
    "error_403_forbidden",
    "error_404_not_found",
    "error_405_method_not_allowed",
    "error_429_too_many_requests",
    "error_500_service_unavailable",
)
_ERRORS: Final = {
    400: ("error_400_bad_request", "Bad Request."),
    401: ("error_401_unauthorized", "Unauthorized."),
    403: ("error_403_forbidden", "Forbidden."),
    404: ("error_404_not_found", "Not Found."),
    405: ("error_405_method_not_allowed", "Method Not Allowed."),
    422: ("error_400_bad_request", "Unprocessable Entity: a field is missing or invalid."),
    429: ("error_429_too_many_requests", "Too Many Requests (Retry-After header)."),
    500: ("error_500_service_unavailable", "Internal Server Error."),
}
_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["errorCode", "errorDescription"],
    "properties": {"errorCode": {"type": "string"}, "errorDescription": {"type": "string"}},
}


@functools.cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("workers.sandbox").joinpath("contract").joinpath(f"{name}.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema(name: str) -> dict[str, Any]:
    """A seed schema from ``contract/<name>.json`` (a copy: callers may not change the original)."""
    return copy.deepcopy(_load(name))


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: _json(_ERRORS[status][1], schema(_ERRORS[status][0])) for status in statuses}


def success(status: int, description: str, body: Mapping[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {status: _json(description, dict(body))}


def object_schema(fields: Iterable[Field], *, closed: bool = False, title: str | None = None) -> dict[str, Any]:
    listed = list(fields)
    result: dict[str, Any] = {"type": "object"}
    if title is not None:
        result["title"] = title
    required = [f.name for f in listed if f.required]
    if required:
        result["required"] = required
    result["properties"] = {f.name: _string(f) for f in listed}
    if closed:
        result["additionalProperties"] = False
    return result


def envelope(**sections: Mapping[str, Any]) -> dict[str, Any]:
    """A Cesce answer: the error object beside the given sections."""
    return {
        "type": "object",
        "required": ["error", *sections],
        "properties": {"error": _ERROR_SCHEMA, **{name: dict(body) for name, body in sections.items()}},
    }


def request_envelope(section: str, fields: Sequence[Field], *, title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["client", section],
        "properties": {
            "client": object_schema(CLIENT_FIELDS, closed=True, title="ClientRequest"),
            section: object_schema(fields, title=title),
        },
    }


def operation(
    *,
    query: Sequence[Field] = (),
    body: Mapping[str, Any] | None = None,
    path: Sequence[str] = ("contractNo",),
) -> dict[str, Any]:
    """``openapi_extra`` for a route: its path and query parameters and its JSON request body."""
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": _PATH_DOCS.get(name, name),
        }
        for name in path
    ]
    parameters += [{"name": f.name, "in": "query", "required": f.required, "schema": _string(f)} for f in query]
    extra: dict[str, Any] = {"parameters": parameters} if parameters else {}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": dict(body)}}}
    return extra


_PATH_DOCS: Final = {
    "contractNo": "Policy or Contract number: 11 digits, no spaces, the 3-digit modality (e.g. 341, 381) and the "
    "policy number",
    "claimFileNo": "Claim file number",
    "documentCode": "Document code",
}


_KIND_DOCS: Final = {
    Kind.AMOUNT: "Amount with a decimal comma and at most two decimals, e.g. -1234,50",
    Kind.DATE: "Date YYYYMMDD",
    Kind.FLAG: "Y or N",
    Kind.DIGITS: "Digits only",
    Kind.LANGUAGE: "Language ISO CODE 3166-1 ALPHA-2",
    Kind.COUNTRY: "Country ISO 3166-1 alpha-2, capital letters",
    Kind.YEAR_MONTH: "Year and month YYYYMM",
}


def _string(f: Field) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "string"}
    limit = f.limit()
    if limit is not None:
        result["maxLength"] = limit
    if f.exact_length is not None:
        result["minLength"] = result["maxLength"] = f.exact_length
    if f.kind in _KIND_DOCS:
        result["description"] = _KIND_DOCS[f.kind]
    return result


def _json(description: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": body}}}
