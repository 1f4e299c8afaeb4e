"""How to reach Cesce: URLs, credentials, scopes, timeouts and retry budget, read once from ``CESCE_*``.

The settings are frozen and typed so a worker cannot change them halfway through a run, and the
two secrets are `SecretStr` so neither `repr()` nor a validation error ever prints them. Tests build
them in code (`CesceSettings(base_url=..., ...)`); production reads the environment.

Username and password are optional: Cesce's sandbox does not require them (000: "Si estás
trabajando en Sandbox, no se proporcionan las credenciales USERNAME y PASSWORD al no ser
obligatorias"); PRE and PRO do, and refuse a token request without them ("Resource owner denied
or not found"). Both or neither.

``scope`` is what the token is asked for (guide 2: "read, update, delete, create"); `check_scope`
refuses, before anything is sent, an operation whose scope (`required_scope`) was not asked for.

Every API hangs under one base URL (``{base}/oauth2/v1/token``, ``{base}/sales/v1``, ...), as in
the sandbox; Cesce's own environments put the token endpoint on another host, hence one optional
override per API.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

import httpx
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from workers.cesce.assumptions import DEFAULT_LANGUAGE_CODE, WRITE_SCOPES
from workers.cesce.catalogue import SCOPES
from workers.cesce.errors import CesceAuthError
from workers.settings import Settings

__all__ = ["CesceApi", "CesceSettings", "required_scope"]


class CesceApi(StrEnum):
    """The Cesce APIs the client calls; the value is the path segment under the base URL."""

    SALES = "sales"
    CLASSIFICATIONS = "classifications"
    CLAIMS = "claims"


_FALSE = frozenset({"false", "0", "no", "off"})
_TRUE = frozenset({"", "true", "1", "yes", "on"})


def _explicit_false(value: Any) -> Any:
    """TLS verification stays on unless the setting says false in so many words.

    An empty variable means "not set"; a typo is an error rather than a silent downgrade.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _FALSE:
            return False
        if text in _TRUE:
            return True
        raise ValueError("must be true or false")
    return value


def _url(value: str) -> str:
    url = httpx.URL(value.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http(s) URL")
    return str(url).rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_url)]

_READ_METHODS = frozenset({"GET", "HEAD"})
_OTHER_METHODS = {"PUT": "update", "PATCH": "update", "DELETE": "delete"}


def required_scope(method: str, path: str) -> str:
    """The scope an operation needs (assumption operation-scopes): read for a GET, else its path's.

    `path` is the operation's path under its API root (``/contracts/{contractNo}/sales``); a POST
    the assumptions do not name needs create.
    """
    verb = method.upper()
    if verb in _READ_METHODS:
        return "read"
    return WRITE_SCOPES.get(path, _OTHER_METHODS.get(verb, "create"))


def _scopes(value: str) -> str:
    words = value.split()
    unknown = sorted(set(words) - set(SCOPES))
    if not words or unknown:
        raise ValueError(f"must be scopes among {' '.join(SCOPES)}, separated by spaces")
    return " ".join(dict.fromkeys(words))


ScopeList = Annotated[str, AfterValidator(_scopes)]


class CesceSettings(Settings):
    """Everything the Cesce client needs, from ``CESCE_*`` variables (`from_env`) or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="CESCE_", extra="forbid")  # frozen, no input echoed: `Settings`

    base_url: HttpUrl
    """The root of the Cesce APIs: ``{base_url}/oauth2/v1/token``, ``{base_url}/sales/v1``, ..."""
    oauth_url: HttpUrl | None = None
    """The full token URL, when it is not ``{base_url}/oauth2/v1/token``."""
    sales_url: HttpUrl | None = None
    """The Sales API's root, when it is not ``{base_url}/sales/v1``."""
    classifications_url: HttpUrl | None = None
    """The Classifications API's root, when it is not ``{base_url}/classifications/v1``."""
    claims_url: HttpUrl | None = None
    """The Claims API's root, when it is not ``{base_url}/claims/v1``."""

    client_id: str = Field(min_length=1)
    """The application's client_id (also sent as ``X-IBM-Client-Id``)."""
    client_secret: SecretStr = Field(min_length=1)
    """The application's client_secret."""
    username: str | None = Field(default=None, min_length=1)
    """Not required by Cesce's sandbox; PRE and PRO need it (with `password`)."""
    password: SecretStr | None = Field(default=None, min_length=1)
    """The environment user's password: set with `username` or not at all."""
    scope: ScopeList = "read create update delete"
    """The scopes the token is asked for, separated by spaces; by default what the worker's operations need.
    Each worker asks for its own (`from_env`'s `scope`; ``cesce-worker run --help`` shows it); the client alone
    asks for all four (read: every GET; create: sales, limit requests, non-payments; update: sale
    modifications, activate/deactivate, premiums; delete: annulling a limit)."""

    verify_tls: Annotated[bool, BeforeValidator(_explicit_false)] = True
    """TLS verification: only an explicit ``false`` turns it off, a typo is an error."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Per-request timeout."""
    max_connections: int = Field(default=64, ge=1)
    """Connections to Cesce at most, all kept alive: at least the calls a process has in flight (its share of
    WORKER_MAX_IN_FLIGHT)."""
    keepalive_seconds: float = Field(default=30.0, gt=0)
    """How long an idle connection is kept: below the server's idle timeout (gateways close after 60-75 s), so
    a connection is never reused just as the server closes it."""
    language_code: str = Field(default=DEFAULT_LANGUAGE_CODE, min_length=2, max_length=2)
    """The ``languageCode`` sent with every call."""
    token_refresh_margin_seconds: float = Field(default=60.0, ge=0)
    """Renew the access token this long before Cesce says it expires."""

    retry_attempts: int = Field(default=5, ge=1)
    """Tries per call, the first included."""
    retry_max_seconds: float = Field(default=120.0, gt=0)
    """Total time a call may spend, waits included, before its last error is raised."""
    retry_backoff_base_seconds: float = Field(default=0.5, gt=0)
    """First backoff ceiling between a call's tries; it doubles per try (full jitter)."""
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)
    """Highest backoff ceiling between a call's tries."""

    max_requests_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """The gateway plan's quota, when known: the processes of a pod together stay under it
    (`workers.cesce.throttle`). Unset, the pace is learned from the 429s."""
    throttle_dir: str | None = Field(default=None, min_length=1)
    """Where the throttle state shared by a pod's processes lives (default: the temporary directory).
    Setting it shares the learned pace even without `max_requests_per_second`."""

    @model_validator(mode="after")
    def _owner_pair(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both (PRE, PRO) or neither (Cesce's sandbox)")
        return self

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.retry_backoff_max_seconds < self.retry_backoff_base_seconds:
            raise ValueError("retry_backoff_max_seconds must not be below retry_backoff_base_seconds")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, scope: str | None = None) -> CesceSettings:
        """The settings from an environment mapping: only the client's own ``CESCE_*`` variables
        (the sandbox's ``CESCE_SANDBOX_*`` are not ours), empty ones left out (an unset Helm value).

        `scope` is what the caller's operations need, asked for when ``CESCE_SCOPE`` is not set (a worker
        that only reads asks for ``read``); without it, all four."""
        named = {name: env.get(f"CESCE_{name.upper()}") for name in cls.model_fields}
        values = {name: value for name, value in named.items() if value}
        if scope is not None:
            values.setdefault("scope", scope)
        return cls.model_validate(values)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def check_scope(self, method: str, path: str, operation: str) -> None:
        """Refuse, before sending, an operation whose scope the token is not asked for (`CesceAuthError`)."""
        needed = required_scope(method, path)
        if needed not in self.scopes:
            raise CesceAuthError(
                f"{operation} needs the scope {needed!r}, which CESCE_SCOPE ({self.scope!r}) does not ask for",
                operation=operation,
            )

    @property
    def token_url(self) -> str:
        return self.oauth_url or f"{self.base_url}/oauth2/v1/token"

    def api_url(self, api: CesceApi) -> str:
        """The root of one API (``.../sales/v1``); operation paths are appended to it."""
        override = {
            CesceApi.SALES: self.sales_url,
            CesceApi.CLASSIFICATIONS: self.classifications_url,
            CesceApi.CLAIMS: self.claims_url,
        }[api]
        return override or f"{self.base_url}/{api.value}/v1"
