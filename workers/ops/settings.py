"""The operator commands' own settings, read through models like every other setting (`workers.settings`).

An empty variable counts as unset (an unset Helm value renders as ``""``), as for the Cesce client's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import Field, field_validator

from workers.ops.dlq_replay import DEFAULT_MAX_REPLAYS, DEFAULT_REPLAYS_TOPIC
from workers.settings import Settings, from_env

__all__ = ["DlqSettings", "LoggingSettings", "ops_settings"]

S = TypeVar("S", bound=Settings)


def ops_settings(model: type[S], env: Mapping[str, str]) -> S:
    """`model` from `env`, empty variables left out."""
    return from_env(model, {name: value for name, value in env.items() if value.strip()})


class LoggingSettings(Settings):
    """How `cesce-worker run` logs."""

    log_format: Literal["json", "text"] = Field(default="json", alias="LOG_FORMAT")
    """``json``: one JSON object per line on stderr; ``text``: plain lines."""

    @field_validator("log_format", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class DlqSettings(Settings):
    """`cesce-worker dlq`: where replays are recorded, and how often one record may be replayed."""

    replays_topic: str = Field(default=DEFAULT_REPLAYS_TOPIC, min_length=1, alias="DLQ_REPLAYS_TOPIC")
    max_replays: int = Field(default=DEFAULT_MAX_REPLAYS, ge=1, alias="DLQ_MAX_REPLAYS")

    @field_validator("replays_topic", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value
