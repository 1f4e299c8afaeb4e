"""The dead-letter topic's suffix is a setting, ``WORKER_DLQ_SUFFIX`` (issue 20: "The dead-letter topic's suffix is
a setting (`.dlq` by default)"), honoured wherever a dead-letter topic is named: the specs the runtime runs, the
re-keying companion, `cesce-worker run`'s start, the ``dlq`` and ``reconcile`` commands."""

from __future__ import annotations

import argparse
from contextlib import nullcontext

import pytest
from pydantic import ValidationError

from tests.unit.ops.test_dlq_tools import run_dlq
from workers.cli import main
from workers.ops import dlq, reconcile_command
from workers.ops.run_command import WORKERS, configuration_errors
from workers.runtime.rekey import REKEY_ROLE
from workers.runtime.settings import DEFAULT_DLQ_SUFFIX, DeadLetterSettings, RuntimeSettings
from workers.runtime.spec import WorkerSpec, dlq_problems, with_dlq_suffix
from workers.settings import from_env

ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "CESCE_BASE_URL": "https://api.cesce.es/sandbox",
    "CESCE_CLIENT_ID": "client",
    "CESCE_CLIENT_SECRET": "client-secret",
    "RISK_CONTRACTS": "34100012345",
    "SALES_FOLLOWUP_CONTRACTS": "34100012345",
}


def _spec(name: str, inputs: list[str], outputs: list[str]) -> WorkerSpec:
    def no_handler(_context: object) -> object:
        raise AssertionError("not run")

    return WorkerSpec(name, inputs, outputs, decoder=lambda _registry: lambda value, topic: value, handler=no_handler)  # type: ignore[arg-type]


# --- the setting ---------------------------------------------------------------------------------------------------


def test_the_suffix_is_dlq_unless_set() -> None:
    assert from_env(DeadLetterSettings, {}).dlq_suffix == DEFAULT_DLQ_SUFFIX == ".dlq"
    assert from_env(RuntimeSettings, {**ENV, "WORKER_DLQ_SUFFIX": ".dead"}).dlq_suffix == ".dead"
    assert from_env(DeadLetterSettings, {"WORKER_DLQ_SUFFIX": "-DLT_1"}).dlq_suffix == "-DLT_1"


@pytest.mark.parametrize(("given", "shown"), [("", "empty"), (".dead letters", "'.dead letters'"), ("/dlq", "'/dlq'")])
def test_a_suffix_kafka_would_refuse_in_a_topic_name_is_one_line_naming_the_variable(given: str, shown: str) -> None:
    with pytest.raises(ValidationError) as raised:
        from_env(RuntimeSettings, {**ENV, "WORKER_DLQ_SUFFIX": given})
    assert configuration_errors(raised.value) == (
        "WORKER_DLQ_SUFFIX: Value error, must be letters, digits, '.', '_' or '-' "
        f"(what Kafka allows in a topic name), got {shown}"
    )


# --- the specs -----------------------------------------------------------------------------------------------------


def test_a_spec_dead_letters_an_input_to_the_input_and_its_suffix() -> None:
    spec = _spec("invoices", ["erp.invoices"], ["cesce.sale-results"])
    assert spec.dlq_topic("erp.invoices") == "erp.invoices.dlq"
    (dead,) = with_dlq_suffix([spec], ".dead")
    assert dead.dlq_topic("erp.invoices") == "erp.invoices.dead"
    assert with_dlq_suffix([dead], ".dead")[0] is dead  # applied twice: the same


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_every_worker_dead_letters_each_input_to_its_topic_and_the_suffix(worker: str) -> None:
    """The re-keying companion's input and the re-keyed topic both dead-letter to ``<source><suffix>``: where the
    operator looks for the source's records (a re-keyed input's dead letters go where its source's do)."""
    specs = WORKERS[worker]({**ENV, "WORKER_DLQ_SUFFIX": ".dead"})
    assert specs
    rekeyed = {spec.output_topics[0]: spec.input_topics[0] for spec in specs if spec.role == REKEY_ROLE}
    for spec in specs:
        assert spec.dlq_suffix == ".dead"
        for topic in spec.input_topics:
            assert spec.dlq_topic(topic) == rekeyed.get(topic, topic) + ".dead", (spec.label, topic)
    assert dlq_problems(specs) == []


def test_invoices_rekeyed_dead_letters_go_to_the_erp_topic_with_the_suffix() -> None:
    specs = WORKERS["invoices"]({**ENV, "INVOICES_TOPIC": "erp.facturas", "WORKER_DLQ_SUFFIX": "-dlt"})
    assert [spec.role for spec in specs] == [REKEY_ROLE, None]
    assert {spec.dlq_topic(spec.input_topics[0]) for spec in specs} == {"erp.facturas-dlt"}


def test_a_suffix_that_names_a_topic_the_worker_uses_or_a_name_too_long_stops_the_start() -> None:
    specs = WORKERS["invoices"]({**ENV, "WORKER_DLQ_SUFFIX": ".by-debtor"})
    assert dlq_problems(specs) == [
        "WORKER_DLQ_SUFFIX: the dead-letter topic of erp.invoices would be erp.invoices.by-debtor, which invoices "
        "also reads or writes"
    ]
    long = _spec("invoices", ["e" * 240], ["r"])
    (problem,) = dlq_problems(with_dlq_suffix([long], ".dead-letters"))
    assert problem == (
        f"WORKER_DLQ_SUFFIX: the dead-letter topic of {'e' * 240} would be 253 characters long (Kafka allows 249)"
    )


# --- the commands --------------------------------------------------------------------------------------------------


def test_run_refuses_a_bad_suffix_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORKER_DLQ_SUFFIX", "")
    assert main(["run", "invoices"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "cesce-worker run invoices: configuration error: WORKER_DLQ_SUFFIX: Value error, must be letters, digits, "
        "'.', '_' or '-' (what Kafka allows in a topic name), got empty\n"
    )
    monkeypatch.setenv("WORKER_DLQ_SUFFIX", ".by-debtor")
    assert main(["run", "invoices"]) == 2
    assert capsys.readouterr().err == (
        "cesce-worker run invoices: configuration error: WORKER_DLQ_SUFFIX: the dead-letter topic of erp.invoices "
        "would be erp.invoices.by-debtor, which invoices also reads or writes\n"
    )


def test_the_dlq_commands_refuse_a_bad_suffix_before_reading(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: the suffix is checked first
    monkeypatch.setenv("WORKER_DLQ_SUFFIX", "dead letters")
    assert run_dlq("list", "--topic", "erp.invoices.dlq") == 2
    assert capsys.readouterr().err == (
        "cesce-worker dlq list: WORKER_DLQ_SUFFIX: Value error, must be letters, digits, '.', '_' or '-' "
        "(what Kafka allows in a topic name), got 'dead letters'\n"
    )


def test_the_dlq_commands_note_a_topic_not_named_like_a_dead_letter_topic(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An input topic given by mistake (``--topic erp.invoices``) is read, with a note saying why it looks wrong."""
    monkeypatch.setenv("WORKER_DLQ_SUFFIX", ".dead")
    monkeypatch.setattr(dlq, "_settings", lambda: {"bootstrap.servers": "fake:9092"})
    read: list[str] = []

    def reading(args: argparse.Namespace, _settings: object, *, single: bool = False) -> None:
        read.append(args.topic)  # stands for the read; None: "not read to its end", exit 1

    monkeypatch.setattr(dlq, "_read", reading)
    assert run_dlq("list", "--topic", "erp.invoices.dead") == 1
    assert capsys.readouterr().err == ""
    assert run_dlq("list", "--topic", "erp.invoices.dlq") == 1
    assert capsys.readouterr().err == (
        "cesce-worker dlq: note: erp.invoices.dlq does not end with the dead-letter suffix .dead (WORKER_DLQ_SUFFIX); "
        "reading it anyway\n"
    )
    assert read == ["erp.invoices.dead", "erp.invoices.dlq"]


class _Stop(Exception):
    """Where the fake stops `read_books`: the dead-letter topic is named, nothing further is needed."""


def test_reconcile_reads_the_invoices_dead_letters_under_the_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**ENV, "INVOICES_TOPIC": "erp.facturas", "WORKER_DLQ_SUFFIX": "bad suffix"}
    with pytest.raises(reconcile_command._Unavailable, match=r"^WORKER_DLQ_SUFFIX: Value error, must be letters"):
        reconcile_command.read_books("34100012345", "203001", env, timeout=1)
    read: list[str] = []

    def dead_letters(_settings: object, topic: str, *_args: object, **_kwargs: object) -> None:
        read.append(topic)
        raise _Stop

    monkeypatch.setattr(reconcile_command, "registry_from_env", lambda *args: nullcontext())
    monkeypatch.setattr(reconcile_command, "AvroReader", lambda registry: None)
    monkeypatch.setattr(reconcile_command, "_our_sales", lambda *args, **kwargs: [])
    monkeypatch.setattr(reconcile_command, "EnvelopeDecoder", lambda *args: None)
    monkeypatch.setattr(reconcile_command, "_dead_letters", dead_letters)
    with pytest.raises(_Stop):
        reconcile_command.read_books("34100012345", "203001", {**env, "WORKER_DLQ_SUFFIX": ".dead"}, timeout=1)
    assert read == ["erp.facturas.dead"]
