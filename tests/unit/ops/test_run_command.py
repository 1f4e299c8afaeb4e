"""`cesce-worker run`: a configuration error is one clear line naming the variables, never their values."""

from __future__ import annotations

import pytest

from workers.cli import main


def test_a_missing_setting_is_named_and_no_value_is_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CESCE_PASSWORD", "s3cr3t-password-value")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    assert main(["run", "risk-poller"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "cesce-worker run risk-poller: configuration error: RISK_CONTRACTS: Field required"
    monkeypatch.setenv("RISK_CONTRACTS", "34109150331")
    assert main(["run", "risk-poller"]) == 2
    err = capsys.readouterr().err
    assert "CESCE_BASE_URL: Field required" in err
    assert "s3cr3t" not in err


def test_a_wrong_contract_number_says_why(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RISK_CONTRACTS", "34109150331,123")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    assert main(["run", "risk-poller"]) == 2
    assert "RISK_CONTRACTS: Value error, contractNo must be 11 digits, got '123'" in capsys.readouterr().err


def test_a_missing_broker_is_a_configuration_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "CESCE_BASE_URL": "https://api.cesce.es/sandbox",
        "CESCE_CLIENT_ID": "client",
        "CESCE_CLIENT_SECRET": "s3cr3t-client-secret",
        "CESCE_USERNAME": "user",
        "CESCE_PASSWORD": "s3cr3t-password-value",
        "WORKER_MAX_IN_FLIGHT": "many",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["run", "invoices"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cesce-worker run invoices: configuration error: KAFKA_BOOTSTRAP_SERVERS: Field required")
    assert "WORKER_MAX_IN_FLIGHT: Input should be a valid integer" in err
    assert "s3cr3t" not in err
    assert "Traceback" not in err
