"""Issue 20, "Commands that fail in one clear line": "`--version`; `--bootstrap-servers` on every command that talks
to Kafka", and "A broker that cannot be reached gives one line naming the address". Through `workers.cli.main`,
with the probe replaced (no sockets) except where librdkafka refuses settings before any connection."""

from __future__ import annotations

import argparse
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import libversion

from workers import cli
from workers.ops import kafka_options
from workers.ops.kafka_options import apply_bootstrap_servers, ensure_reached, kafka_command
from workers.runtime.kafka_reach import KafkaUnreachable
from workers.runtime.settings import DEFAULT_REACH_SECONDS, RuntimeSettings
from workers.settings import from_env

KAFKA_COMMANDS = {
    # argv -> (the name its one line starts with, Kafka asked first, exit status when Kafka does not answer)
    ("consume", "--topic", "t"): ("consume", True, 1),
    ("produce", "--topic", "t", "--file", "-"): ("produce", True, 1),
    ("dlq", "list", "--topic", "t.dlq"): ("dlq list", True, 1),
    ("dlq", "show", "--topic", "t.dlq", "--offset", "0"): ("dlq show", True, 1),
    ("dlq", "replay", "--topic", "t.dlq"): ("dlq replay", True, 1),
    ("reconcile", "sales", "--contract", "34109150331", "--month", "203001"): ("reconcile sales", True, 2),
    ("run", "invoices"): ("run", False, 1),  # the worker waits for Kafka instead (workers.runtime.kafka_reach)
}


class Asked:
    """A stand-in for the probe: records each (bootstrap servers, timeout), then fails or answers."""

    def __init__(self, reason: str | None = "Connection refused") -> None:
        self.reason = reason
        self.calls: list[tuple[str, float]] = []

    def __call__(self, config: Mapping[str, Any], timeout: float) -> str:
        self.calls.append((config["bootstrap.servers"], timeout))
        if self.reason is not None:
            raise KafkaUnreachable(config["bootstrap.servers"], self.reason)
        return "cluster"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Asked:
    probe = Asked()
    monkeypatch.setattr(kafka_options, "reach", probe)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "mock://kafka-options")
    monkeypatch.delenv("WORKER_KAFKA_REACH_SECONDS", raising=False)
    return probe


@pytest.mark.parametrize("argv", list(KAFKA_COMMANDS))
def test_every_command_that_talks_to_kafka_takes_bootstrap_servers(argv: tuple[str, ...]) -> None:
    args = cli._parser().parse_args([*argv, "--bootstrap-servers", "flag-1:9092,flag-2:9092"])
    name, reach_first, status = KAFKA_COMMANDS[argv]
    assert args.bootstrap_servers == "flag-1:9092,flag-2:9092"
    assert args.kafka_reach is reach_first
    assert args.kafka_unreachable_status == status
    assert args.kafka_command == f"cesce-worker {name}"
    environ = {"KAFKA_BOOTSTRAP_SERVERS": "env:9092"}
    apply_bootstrap_servers(args, environ)
    assert from_env(RuntimeSettings, environ).bootstrap_servers == "flag-1:9092,flag-2:9092"


def test_without_the_flag_the_variable_stands() -> None:
    args = cli._parser().parse_args(["consume", "--topic", "t"])
    environ = {"KAFKA_BOOTSTRAP_SERVERS": "env:9092"}
    apply_bootstrap_servers(args, environ)
    assert environ == {"KAFKA_BOOTSTRAP_SERVERS": "env:9092"}
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["consume", "--topic", "t", "--bootstrap-servers", " "])


def test_the_flag_reaches_the_commands_kafka_settings_and_an_unreachable_cluster_is_one_line(
    asked: Asked, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["consume", "--topic", "t", "--bootstrap-servers", "flag:9092"]) == 1
    assert asked.calls == [("flag:9092", DEFAULT_REACH_SECONDS)]
    out, err = capsys.readouterr()
    assert (out, err) == ("", "cesce-worker consume: cannot reach Kafka at flag:9092 (Connection refused)\n")


def test_the_wait_is_the_setting_never_longer_than_the_commands_timeout(
    asked: Asked, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["consume", "--topic", "t", "--timeout", "3"]) == 1
    monkeypatch.setenv("WORKER_KAFKA_REACH_SECONDS", "2")
    assert cli.main(["dlq", "list", "--topic", "t.dlq"]) == 1
    assert asked.calls == [("env:9092", 3.0), ("env:9092", 2.0)]
    assert capsys.readouterr().err.splitlines() == [
        "cesce-worker consume: cannot reach Kafka at env:9092 (Connection refused)",
        "cesce-worker dlq list: cannot reach Kafka at env:9092 (Connection refused)",
    ]


def test_reconcile_exits_two_for_kafka_it_cannot_read(
    asked: Asked, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """reconcile's own rule: "2 bad input [...] or Cesce, Kafka or the registry unreachable: one line on stderr"."""
    for name, value in {"BASE_URL": "http://127.0.0.1:9", "CLIENT_ID": "c", "CLIENT_SECRET": "s"}.items():
        monkeypatch.setenv(f"CESCE_{name}", value)
    monkeypatch.setenv("CESCE_USERNAME", "u")
    monkeypatch.setenv("CESCE_PASSWORD", "p")
    assert cli.main(["reconcile", "sales", "--contract", "34109150331", "--month", "203001"]) == 2
    assert capsys.readouterr().err == (
        "cesce-worker reconcile sales: cannot reach Kafka at env:9092 (Connection refused)\n"
    )


def test_a_command_checks_its_own_input_before_it_asks_kafka(
    asked: Asked, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{\n", encoding="utf-8")
    assert cli.main(["produce", "--topic", "t", "--file", str(bad)]) == 1
    assert asked.calls == []
    assert "cannot reach Kafka" not in capsys.readouterr().err


def test_settings_that_prevent_the_probe_are_one_line_and_exit_two(
    asked: Asked, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKER_KAFKA_REACH_SECONDS", "soon")
    assert cli.main(["consume", "--topic", "t"]) == 2
    assert capsys.readouterr().err == (
        "cesce-worker consume: configuration error: WORKER_KAFKA_REACH_SECONDS: "
        "Input should be a valid number, unable to parse string as a number\n"
    )
    monkeypatch.delenv("WORKER_KAFKA_REACH_SECONDS")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    assert cli.main(["dlq", "list", "--topic", "t.dlq"]) == 2
    assert capsys.readouterr().err == (
        "cesce-worker dlq list: set KAFKA_BOOTSTRAP_SERVERS or give --bootstrap-servers\n"
    )
    assert asked.calls == []


def test_settings_librdkafka_refuses_are_one_line_without_secret_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real probe: librdkafka refuses the settings when the client is built, before any connection."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "mock://kafka-options")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "hunter2")  # librdkafka quotes the bad value
    assert cli.main(["consume", "--topic", "t"]) == 2
    err = capsys.readouterr().err
    assert err == (
        'cesce-worker consume: configuration error: Invalid value "***" for configuration property '
        '"security.protocol"\n'
    )


def test_a_command_asks_once_per_address_and_nothing_outside_the_cli(asked: Asked) -> None:
    asked.reason = None
    ensure_reached({"bootstrap.servers": "a:1"})  # no command running: nothing asked
    assert asked.calls == []

    def handler(args: argparse.Namespace) -> int:
        for address in ("a:1", "a:1", "b:2"):
            ensure_reached({"bootstrap.servers": address})
        return 0

    args = argparse.Namespace(kafka_reach=True, kafka_command="cesce-worker x", kafka_unreachable_status=1)
    assert kafka_command(args, {"KAFKA_BOOTSTRAP_SERVERS": "a:1"}, handler, ask=asked) == 0
    assert asked.calls == [("a:1", DEFAULT_REACH_SECONDS), ("b:2", DEFAULT_REACH_SECONDS)]
    ensure_reached({"bootstrap.servers": "c:3"})  # the command is over
    assert len(asked.calls) == 2


def test_version_names_the_package_and_what_talks_to_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == (
        f"cesce-worker {metadata.version('cesce-workers')} (confluent-kafka {metadata.version('confluent-kafka')}, "
        f"librdkafka {libversion()[0]}, Python {platform.python_version()})\n"
    )
    assert metadata.version("cesce-workers") != "unknown"
