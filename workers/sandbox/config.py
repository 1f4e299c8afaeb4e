"""How a sandbox is configured: where it listens, what it knows, which faults it injects.

Everything is a frozen dataclass so a configuration can be shared between threads and compared
in tests. The faults are the one part that changes at run time (``PUT /sandbox-admin/faults``):
the running sandbox keeps a current `Faults` value and replaces it whole, never mutates it.
The wire names of the faults (``latencyMs``...) are translated here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

__all__ = [
    "FAULT_WIRE_NAMES",
    "Credentials",
    "Faults",
    "SandboxConfig",
    "faults_from_wire",
    "faults_to_wire",
]


@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviour injected on the Cesce API paths (never on OAuth or the admin API).

    Rates are probabilities in [0, 1] drawn from the sandbox's seeded random generator, so a
    test with a fixed seed sees the same sequence every run. ``rate_limit`` is requests per
    second through a token bucket (``None``: unlimited).
    """

    latency_ms: float = 0
    jitter_ms: float = 0
    error_rate: float = 0
    rate_limit: float | None = None
    hang_rate: float = 0
    hang_seconds: float = 30
    drop_rate: float = 0
    maintenance: bool = False

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "hang_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("error_rate", "hang_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.rate_limit is not None and (not math.isfinite(self.rate_limit) or self.rate_limit <= 0):
            raise ValueError(f"rate_limit must be > 0 requests per second or None, got {self.rate_limit!r}")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The only credentials the sandbox accepts; without them it accepts any non-empty ones."""

    client_id: str
    client_secret: SecretStr
    username: str
    password: SecretStr

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, username={self.username!r}, secrets=**********)"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox needs; the defaults give a sandbox on an ephemeral loopback port.

    ``scenario`` is a JSON file in the format of ``workers/sandbox/scenarios/default.json``
    (``None``: that default). ``seed`` fixes the random generator of the faults (``None``: a
    random seed).
    """

    host: str = "127.0.0.1"
    port: int = 0
    scenario: Path | None = None
    token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 2592000
    credentials: Credentials | None = None
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None


# Python attribute -> the admin API's JSON name
FAULT_WIRE_NAMES: Final[Mapping[str, str]] = {
    "latency_ms": "latencyMs",
    "jitter_ms": "jitterMs",
    "error_rate": "errorRate",
    "rate_limit": "rateLimit",
    "hang_rate": "hangRate",
    "hang_seconds": "hangSeconds",
    "drop_rate": "dropRate",
    "maintenance": "maintenance",
}
_FROM_WIRE: Final = {wire: attr for attr, wire in FAULT_WIRE_NAMES.items()}


def faults_to_wire(faults: Faults) -> dict[str, Any]:
    return {wire: getattr(faults, attr) for attr, wire in FAULT_WIRE_NAMES.items()}


def faults_from_wire(current: Faults, changes: Mapping[str, Any]) -> Faults:
    """Merge the given wire keys into `current`. Raises ValueError on an unknown key or a bad value."""
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        attr = _FROM_WIRE.get(key)
        if attr is None:
            raise ValueError(f"unknown fault {key!r}; known: {sorted(_FROM_WIRE)}")
        if attr == "maintenance":
            if not isinstance(value, bool):
                raise ValueError("maintenance must be true or false")
        elif attr == "rate_limit" and value is None:
            pass
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        updates[attr] = value
    return dataclasses.replace(current, **updates)
