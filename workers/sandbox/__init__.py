"""An emulator of the Cesce APIs, served over real HTTP on loopback, for development, demos and tests.

It speaks the wire of ``spec/issue2-wire.md``: OAuth2 (password and refresh grants), Sales,
Classifications and Claims, each rule of the Cesce documents answered with Cesce's codes and
texts, plus an admin API (``/sandbox-admin``) that moves its clock, injects faults and shows its
ledger.

    with serve_in_thread(SandboxConfig(seed=7)) as sandbox:
        httpx.post(f"{sandbox.base_url}/oauth2/v1/token", data={...})
        sandbox.admin().advance_clock(3600)

Modules:
    config, clock            what a sandbox is given; its movable clock
    scenario, state          the scenario file and the ledger it loads
    fields, wire             reading requests and writing answers in Cesce's formats
    debtors, classifications, portfolio
                             identification precedence, classification requests, portfolio/movements
    sales_rules, sales, sales_queries
                             duplicate rule, credit notes, modification windows; declare/modify/read
    claims                   non-payments, claim files, documents, settlements
    oauth                    tokens that expire against the sandbox clock
    faults, middleware       fault decisions (pure) and their ASGI application; request counters
    runtime                  one sandbox's state and the checks every call starts with
    routes_*, admin, openapi the HTTP surface and its OpenAPI description
    app, server, admin_client
                             create_app(config), serve_in_thread/run, a client of the admin API
"""

from __future__ import annotations

from workers.sandbox.admin_client import SandboxAdmin
from workers.sandbox.app import create_app
from workers.sandbox.clock import SandboxClock
from workers.sandbox.config import Credentials, Faults, SandboxConfig
from workers.sandbox.scenario import ScenarioError
from workers.sandbox.server import RunningSandbox, run, serve_in_thread

__all__ = [
    "Credentials",
    "Faults",
    "RunningSandbox",
    "SandboxAdmin",
    "SandboxClock",
    "SandboxConfig",
    "ScenarioError",
    "create_app",
    "run",
    "serve_in_thread",
]
