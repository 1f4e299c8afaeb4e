"""One base for every settings model: typed, frozen, secrets as `SecretStr`, read from the mapping given.

Every model (the runtime's, the Cesce client's, each worker's topics) is a `Settings`: frozen,
populated by its upper-case variable names (aliases, or a prefix plus the field name for the Cesce
client's ``CESCE_*``), and quiet about its input when validation fails (a mistyped secret must not
be echoed). The environment is read once, at the entry point, and passed down: a model reads only
the mapping it is given (`from_env`), never the process environment behind the caller's back, so a
test that passes a dict is sealed off from the shell it runs in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["Settings", "from_env"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: no environment variables, ``.env`` files or secret files of their own."""
        return (init_settings,)


S = TypeVar("S", bound=Settings)


def from_env(model: type[S], env: Mapping[str, str]) -> S:
    """`model` from the environment's variables, by their (upper-case) aliases only: the models also accept
    field names (``populate_by_name``), which a stray lower-case variable such as ``input`` must not set."""
    return model.model_validate({name: value for name, value in env.items() if name.isupper()})
