"""One running sandbox's state: clock, ledger, tokens, faults, counters; and the checks every
Cesce call starts with.

The app keeps a single `SandboxRuntime` in ``app.state.sandbox``. Every route reads and changes
it synchronously on the server's one event loop; `begin_post` is the only place a route awaits
(the request body), and it does so before touching the ledger.

Every API call is checked in this order: X-IBM-Client-Id (401, subscription) -> bearer token
(401, security checks) -> contractNo well-formed (400, 1522) -> contract known (403, 6) ->
body or query (422, 500) -> for a POST, the policy in force today (400, 1522 "No existe
periodo de seguro") -> the operation's own rules.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from starlette.requests import Request

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import CLIENT_ID_HEADER
from workers.cesce.codecs import CodecError, check_contract_no
from workers.sandbox.classifications import resolve_due
from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import SandboxConfig
from workers.sandbox.faults import FaultInjector
from workers.sandbox.fields import Field, parse_body, read_query
from workers.sandbox.oauth import TokenStore
from workers.sandbox.scenario import load_ledger, read_scenario
from workers.sandbox.state import Contract, Ledger
from workers.sandbox.wire import ApiError

__all__ = ["SandboxRuntime", "Stats", "begin_get", "begin_post", "runtime_of"]


@dataclass(slots=True)
class Stats:
    """Requests by "METHOD /path-template" and by HTTP status (the admin API is not counted)."""

    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)


class SandboxRuntime:
    def __init__(self, config: SandboxConfig, clock: SandboxClock | None = None) -> None:
        self.config = config
        self.clock = clock or SandboxClock()
        self.ledger: Ledger = load_ledger(read_scenario(config.scenario))
        self.tokens = TokenStore(
            self.clock,
            access_ttl_seconds=config.token_ttl_seconds,
            refresh_ttl_seconds=config.refresh_token_ttl_seconds,
            credentials=config.credentials,
        )
        self.faults = FaultInjector(config.faults, config.seed)
        self.stats = Stats()
        self.stopping = asyncio.Event()  # set on shutdown: held (hung) answers stop waiting

    def reset(self) -> None:
        """Reload the scenario. The clock, the faults, the tokens and the counters of requests stay."""
        self.ledger = load_ledger(read_scenario(self.config.scenario))

    def tick(self) -> None:
        """Let time act on the ledger: pending classifications that fell due are resolved."""
        resolve_due(self.ledger, self.clock.now())

    def authenticate(self, headers: Mapping[str, str]) -> None:
        client_id = headers.get(CLIENT_ID_HEADER)
        if client_id is None or not self.tokens.client_subscribed(client_id):
            raise ApiError(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SUBSCRIPTION)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or not self.tokens.check(token.strip(), client_id):
            raise ApiError(401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS)

    def contract(self, contract_no: str) -> Contract:
        try:
            check_contract_no(contract_no)
        except CodecError as exc:
            raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_CONTRACT_REQUIRED) from exc
        found = self.ledger.contracts.get(contract_no)
        if found is None:
            raise ApiError(403, cat.ERROR_CODE_UNAUTHORIZED_CONTRACT, cat.MSG_UNAUTHORIZED_CONTRACT)
        return found

    def require_in_force(self, contract: Contract) -> None:
        if not contract.in_force(self.clock.today()):
            raise ApiError(400, cat.ERROR_CODE_SALE_REJECTED, cat.MSG_EXPIRED_POLICY)


def runtime_of(request: Request) -> SandboxRuntime:
    return cast(SandboxRuntime, request.app.state.sandbox)


async def begin_post(request: Request) -> tuple[SandboxRuntime, Contract, dict[str, Any]]:
    """The checks every Cesce POST starts with; returns the parsed (not yet validated) body."""
    sandbox = runtime_of(request)
    sandbox.authenticate(request.headers)
    contract = sandbox.contract(request.path_params["contractNo"])
    body = parse_body(await request.body())
    # From here on nothing awaits: reading and changing the ledger happen in one step.
    sandbox.tick()
    return sandbox, contract, body


def begin_get(
    request: Request, fields: Sequence[Field], *, cursors: Sequence[str] = ()
) -> tuple[SandboxRuntime, Contract, dict[str, str]]:
    """The checks every Cesce GET starts with; returns the validated query."""
    sandbox = runtime_of(request)
    sandbox.authenticate(request.headers)
    contract = sandbox.contract(request.path_params["contractNo"])
    query = read_query(request.query_params, fields, cursors=cursors)
    sandbox.tick()
    return sandbox, contract, query
