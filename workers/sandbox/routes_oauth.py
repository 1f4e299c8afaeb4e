"""The token endpoint (``POST /oauth2/v1/token``, form-encoded), guide section 2."""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from workers.sandbox.oauth import OAuthError
from workers.sandbox.runtime import runtime_of

__all__ = ["router"]

router = APIRouter(prefix="/oauth2/v1", tags=["OAuth"])

_FORM_FIELDS: Final = ("grant_type", "client_id", "client_secret", "username", "password", "scope", "refresh_token")
_TOKEN_ANSWER: Final = {
    "type": "object",
    "properties": {
        "token_type": {"type": "string", "example": "Bearer"},
        "access_token": {"type": "string"},
        "expires_in": {"type": "integer", "example": 3600},
        "consented_on": {"type": "integer", "example": 1605085323},
        "scope": {"type": "string", "example": "create read update delete"},
        "refresh_token": {"type": "string"},
        "refresh_token_expires_in": {"type": "integer", "example": 2592000},
    },
}
_REFUSAL: Final = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "example": "invalid_grant"},
        "error_description": {"type": "string", "example": "Resource owner denied or not found"},
    },
}


@router.post(
    "/token",
    summary="Token",
    description="grant_type=password (client_id, client_secret, scope; username and password optional, as on "
    "Cesce's sandbox, unless the sandbox runs with fixed credentials) or grant_type=refresh_token (client_id, "
    "client_secret, refresh_token). A refresh token is single-use. The token carries the scopes asked for "
    "(create read update delete when none): a GET needs read, each POST its operation's scope.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_id", "client_secret"],
                        "properties": {name: {"type": "string"} for name in _FORM_FIELDS},
                    }
                }
            },
        }
    },
    responses={
        200: {"description": "OK.", "content": {"application/json": {"schema": _TOKEN_ANSWER}}},
        400: {"description": "Refused.", "content": {"application/json": {"schema": _REFUSAL}}},
    },
)
async def token(request: Request) -> JSONResponse:
    raw = await request.body()
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        form = {}
    try:
        issued = runtime_of(request).tokens.token(form)
    except OAuthError as refusal:
        return JSONResponse(refusal.body(), status_code=400, headers={"Cache-Control": "no-store"})
    return JSONResponse(issued, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
