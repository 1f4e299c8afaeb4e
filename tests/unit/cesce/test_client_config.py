"""CesceSettings: read from CESCE_*, frozen, URLs derived from one base, secrets never shown."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from tests.unit.cesce.fakes import CLIENT_SECRET, PASSWORD, make_settings
from workers.cesce.config import CesceApi, CesceSettings

_REQUIRED_ENV = {
    "CESCE_BASE_URL": "https://sandbox.example/cesce/",
    "CESCE_CLIENT_ID": "the-app",
    "CESCE_CLIENT_SECRET": CLIENT_SECRET,
    "CESCE_USERNAME": "erp",
    "CESCE_PASSWORD": PASSWORD,
}


@pytest.fixture
def cesce_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in _REQUIRED_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_reads_the_environment_with_documented_defaults(cesce_env: pytest.MonkeyPatch) -> None:
    settings = CesceSettings.from_env(os.environ)

    assert settings.base_url == "https://sandbox.example/cesce"
    assert settings.client_id == "the-app"
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
    assert settings.password.get_secret_value() == PASSWORD
    assert settings.scope == "read create update delete"
    assert settings.verify_tls is True
    assert settings.language_code == "ES"
    assert settings.retry_attempts >= 1
    assert settings.retry_backoff_base_seconds <= settings.retry_backoff_max_seconds


def test_reads_retry_and_timeout_settings(cesce_env: pytest.MonkeyPatch) -> None:
    cesce_env.setenv("CESCE_RETRY_ATTEMPTS", "7")
    cesce_env.setenv("CESCE_RETRY_MAX_SECONDS", "90")
    cesce_env.setenv("CESCE_RETRY_BACKOFF_BASE_SECONDS", "0.25")
    cesce_env.setenv("CESCE_RETRY_BACKOFF_MAX_SECONDS", "4")
    cesce_env.setenv("CESCE_TIMEOUT_SECONDS", "12.5")
    cesce_env.setenv("CESCE_TOKEN_REFRESH_MARGIN_SECONDS", "30")
    cesce_env.setenv("CESCE_LANGUAGE_CODE", "EN")

    settings = CesceSettings.from_env(os.environ)

    assert (settings.retry_attempts, settings.retry_max_seconds) == (7, 90.0)
    assert (settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds) == (0.25, 4.0)
    assert (settings.timeout_seconds, settings.token_refresh_margin_seconds) == (12.5, 30.0)
    assert settings.language_code == "EN"


def test_every_api_hangs_under_the_base_url() -> None:
    settings = make_settings(base_url="https://cesce.test/root/")

    assert settings.token_url == "https://cesce.test/root/oauth2/v1/token"
    assert settings.api_url(CesceApi.SALES) == "https://cesce.test/root/sales/v1"
    assert settings.api_url(CesceApi.CLASSIFICATIONS) == "https://cesce.test/root/classifications/v1"
    assert settings.api_url(CesceApi.CLAIMS) == "https://cesce.test/root/claims/v1"


def test_each_api_url_can_be_overridden() -> None:
    settings = make_settings(
        oauth_url="https://api.cesce.es/sandbox/oauth2/v1/token",
        sales_url="https://gw.example/sales/v1/",
        classifications_url="https://gw.example/classifications/v2",
        claims_url="https://gw.example/claims/v1",
    )

    assert settings.token_url == "https://api.cesce.es/sandbox/oauth2/v1/token"
    assert settings.api_url(CesceApi.SALES) == "https://gw.example/sales/v1"
    assert settings.api_url(CesceApi.CLASSIFICATIONS) == "https://gw.example/classifications/v2"
    assert settings.api_url(CesceApi.CLAIMS) == "https://gw.example/claims/v1"


@pytest.mark.parametrize("url", ["cesce.test", "ftp://cesce.test", "https://", ""])
def test_refuses_a_url_that_is_not_absolute_http(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        make_settings(base_url=url)


@pytest.mark.parametrize("text", ["false", "FALSE", " False ", "0", "no", "off"])
def test_only_an_explicit_false_disables_tls_verification(cesce_env: pytest.MonkeyPatch, text: str) -> None:
    cesce_env.setenv("CESCE_VERIFY_TLS", text)

    assert CesceSettings.from_env(os.environ).verify_tls is False


@pytest.mark.parametrize("text", ["true", "1", "yes", ""])
def test_tls_verification_stays_on_otherwise(cesce_env: pytest.MonkeyPatch, text: str) -> None:
    cesce_env.setenv("CESCE_VERIFY_TLS", text)

    assert CesceSettings.from_env(os.environ).verify_tls is True


def test_a_mistyped_tls_setting_is_an_error_not_a_downgrade(cesce_env: pytest.MonkeyPatch) -> None:
    cesce_env.setenv("CESCE_VERIFY_TLS", "flase")

    with pytest.raises(ValidationError, match="verify_tls"):
        CesceSettings.from_env(os.environ)


def test_settings_are_frozen() -> None:
    settings = make_settings()

    with pytest.raises(ValidationError, match="frozen"):
        settings.retry_attempts = 99  # type: ignore[misc]


@pytest.mark.parametrize(
    "overrides",
    [
        {"retry_attempts": 0},
        {"retry_max_seconds": 0},
        {"timeout_seconds": -1},
        {"retry_backoff_base_seconds": 5, "retry_backoff_max_seconds": 1},
        {"client_secret": ""},
        {"language_code": "ESP"},
    ],
)
def test_refuses_settings_that_cannot_work(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make_settings(**overrides)


def test_secrets_do_not_show_in_repr_str_or_validation_errors() -> None:
    settings = make_settings()
    with pytest.raises(ValidationError) as refused:
        CesceSettings(
            base_url="https://cesce.test",
            client_id="app",
            client_secret=CLIENT_SECRET,
            username="u",
            password=PASSWORD,
            unknown_option=PASSWORD,  # an unknown key's value is echoed unless inputs are hidden
        )

    for text in (repr(settings), str(settings), str(refused.value), repr(refused.value)):
        assert CLIENT_SECRET not in text
        assert PASSWORD not in text
    assert "**********" in repr(settings)
