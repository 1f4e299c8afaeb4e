"""`cesce-worker schemas`: the subjects the workers write under each strategy, registering and checking them.

No sockets: registration runs against a mock client, compatibility against a stand-in for the registry's
answers (`tests/integration/ops/test_schemas_command.py` asks a registry over HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from workers.cli import main
from workers.ops import schemas
from workers.ops.schemas import Status, Subject, check_subjects, register_subjects, written_subjects
from workers.runtime.catalog import SchemaCatalog
from workers.runtime.errors import RegistryUnavailable
from workers.runtime.registry import RegistrySettings, SubjectStrategy, expected_mock_ids, schema_registry_client

CATALOG = SchemaCatalog.load()
WRITTEN = {"cesce.sale-results": "cesce.results.SaleResult", "cesce.risk-limits": "cesce.state.RiskLimit"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A shell without any setting of ours but a process-private registry: each test sets what it needs."""
    for name in (
        "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY",
        "RISK_CONTRACTS",
        "SALE_RESULTS_TOPIC",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "mock://cesce")
    return monkeypatch


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    assert main(["schemas", "list", "--json", *argv]) == 0
    document = json.loads(capsys.readouterr().out)
    return {entry["subject"]: entry for entry in document["subjects"]}


def mock(strategy: SubjectStrategy = SubjectStrategy.TOPIC) -> SchemaRegistryClient:
    return schema_registry_client("mock://schemas", settings=RegistrySettings(subject_name_strategy=strategy))


# --- list ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "subjects"),
    [
        (SubjectStrategy.TOPIC, ["cesce.risk-limits-value", "cesce.sale-results-value"]),
        (SubjectStrategy.RECORD, ["cesce.state.RiskLimit", "cesce.results.SaleResult"]),
        (
            SubjectStrategy.TOPIC_RECORD,
            ["cesce.risk-limits-cesce.state.RiskLimit", "cesce.sale-results-cesce.results.SaleResult"],
        ),
    ],
)
def test_each_strategy_names_the_subjects_of_what_is_written(strategy: SubjectStrategy, subjects: list[str]) -> None:
    found = written_subjects(WRITTEN, mock(strategy), CATALOG)
    assert [s.subject for s in found] == subjects
    assert [s.record for s in found] == ["cesce.state.RiskLimit", "cesce.results.SaleResult"]
    assert found[1].file.endswith("cesce.results.SaleResult.avsc")


def test_under_the_record_strategy_topics_sharing_a_record_share_its_subject() -> None:
    written = {"b.results": "cesce.results.SaleResult", "a.results": "cesce.results.SaleResult"}
    found = written_subjects(written, mock(SubjectStrategy.RECORD), CATALOG)
    path = str(CATALOG.path("cesce.results.SaleResult"))
    shared = Subject("cesce.results.SaleResult", "cesce.results.SaleResult", ("a.results", "b.results"), path)
    assert found == [shared]


def test_list_follows_the_topics_and_the_strategy_the_workers_are_configured_with(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    subjects = listed(capsys)
    assert subjects["cesce.sale-results-value"]["record"] == "cesce.results.SaleResult"
    assert subjects["cesce.classification-followups-value"]["record"] == "cesce.state.PendingClassification"
    assert not any(name.startswith("cesce.risk-") for name in subjects)  # the risk poller runs only with contracts
    assert not any(name.startswith("erp.") for name in subjects)  # Debezium writes the ERP topics

    env.setenv("SALE_RESULTS_TOPIC", "finance.sales")
    env.setenv("RISK_CONTRACTS", "34100012345")
    env.setenv("SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY", "topic_record")
    subjects = listed(capsys)
    assert subjects["finance.sales-cesce.results.SaleResult"]["topics"] == ["finance.sales"]
    assert "cesce.risk-changes-cesce.results.RiskChange" in subjects


def test_worker_narrows_the_list(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "list", "--worker", "invoices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ["cesce.sale-results-value", "cesce.results.SaleResult", "cesce.sale-results"] in [
        line.split() for line in lines
    ]
    assert lines[-1] == f"list: {len(lines) - 1} subjects (topic strategy)"
    assert not any("classification" in line for line in lines)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY", "TopicNameStrategy", "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY: Input"),
        ("RISK_CONTRACTS", "12", "RISK_CONTRACTS"),
    ],
)
def test_a_setting_it_cannot_use_is_one_line_and_exit_2(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, says: str
) -> None:
    env.setenv(variable, value)
    assert main(["schemas", "list"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("cesce-worker schemas list: configuration error: ")
    assert says in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("action", ["register", "check"])
def test_a_mock_registry_has_nothing_to_register_or_check(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    assert main(["schemas", action]) == 2
    assert "mock://cesce, a registry private to each process" in capsys.readouterr().err


def test_no_registry_named_is_one_line_and_exit_2(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.delenv("SCHEMA_REGISTRY_URL")
    assert main(["schemas", "list"]) == 2
    err = capsys.readouterr().err
    assert "SCHEMA_REGISTRY_URL is not set" in err
    assert err.count("\n") == 1


# --- register ------------------------------------------------------------------------------------


def test_register_is_idempotent_and_each_schema_keeps_its_id() -> None:
    client = mock()
    subjects = written_subjects(WRITTEN, client, CATALOG)
    ids = expected_mock_ids(CATALOG)
    first = register_subjects(client, subjects, CATALOG)
    assert [(s.status, s.schema_id) for s in first] == [
        (Status.REGISTERED, ids["cesce.state.RiskLimit"]),
        (Status.REGISTERED, ids["cesce.results.SaleResult"]),
    ]
    again = register_subjects(client, subjects, CATALOG)
    assert [s.status for s in again] == [Status.UNCHANGED, Status.UNCHANGED]
    assert [s.schema_id for s in again] == [s.schema_id for s in first]


def test_a_refusal_is_named_and_an_unanswered_registry_stops_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    client = mock()
    subjects = written_subjects(WRITTEN, client, CATALOG)

    def incompatible(subject: str, schema: Schema) -> int:
        raise SchemaRegistryError(
            409, 409, f"Schema being registered is incompatible with an earlier schema ({subject})"
        )

    monkeypatch.setattr(client, "register_schema", incompatible)
    refused = register_subjects(client, subjects, CATALOG)
    assert [s.status for s in refused] == [Status.REFUSED, Status.REFUSED]
    assert refused[0].messages == (
        "HTTP 409: Schema being registered is incompatible with an earlier schema (cesce.risk-limits-value)",
    )

    def down(subject: str, schema: Schema) -> int:
        raise SchemaRegistryError(503, 50003, "Error while forwarding the request to the leader")

    monkeypatch.setattr(client, "register_schema", down)
    with pytest.raises(RegistryUnavailable, match="HTTP 503"):
        register_subjects(client, subjects, CATALOG)


# --- check ---------------------------------------------------------------------------------------


def answers(by_subject: Mapping[str, tuple[bool, list[str]] | SchemaRegistryError]) -> schemas.Compatibility:
    def compatible(subject: str, schema: Schema) -> tuple[bool, list[str]]:
        assert schema.schema_str == CATALOG.schema_str(
            "cesce.state.RiskLimit" if "risk" in subject else "cesce.results.SaleResult"
        )
        answer = by_subject[subject]
        if isinstance(answer, SchemaRegistryError):
            raise answer
        return answer

    return compatible


def test_check_says_compatible_new_or_incompatible_with_the_registrys_reasons() -> None:
    subjects = written_subjects(WRITTEN, mock(), CATALOG)
    reason = "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'debtor' ...'}"
    checked = check_subjects(
        answers(
            {
                "cesce.risk-limits-value": SchemaRegistryError(
                    404, 40401, "Subject 'cesce.risk-limits-value' not found."
                ),
                "cesce.sale-results-value": (False, [reason]),
            }
        ),
        subjects,
        CATALOG,
    )
    assert [(s.status, s.messages) for s in checked] == [(Status.NEW, ()), (Status.INCOMPATIBLE, (reason,))]
    assert checked[1].as_json()["messages"] == [reason]

    everything_fine: dict[str, tuple[bool, list[str]] | SchemaRegistryError] = dict.fromkeys(
        ["cesce.risk-limits-value", "cesce.sale-results-value"], (True, [])
    )
    checked = check_subjects(answers(everything_fine), subjects, CATALOG)
    assert [s.status for s in checked] == [Status.COMPATIBLE, Status.COMPATIBLE]


def test_check_exits_1_naming_each_incompatible_subject(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("SCHEMA_REGISTRY_URL", "https://registry.example:8081")
    env.setattr(
        schemas,
        "registry_compatibility",
        lambda client: (
            lambda subject, schema: (subject != "cesce.sale-results-value", ["field 'debtor' has no default"])
        ),
    )
    assert main(["schemas", "check", "--worker", "invoices"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [n for n, line in enumerate(lines) if line.startswith("incompatible")]
    assert len(failed) == 1
    assert lines[failed[0]].split()[1] == "cesce.sale-results-value"
    assert lines[failed[0] + 1] == "    field 'debtor' has no default"
    assert lines[-1].endswith("at https://registry.example:8081, 1 incompatible")


def test_a_server_error_while_checking_means_the_registry_is_down() -> None:
    subjects = written_subjects(WRITTEN, mock(), CATALOG)
    error = SchemaRegistryError(500, 50001, "Error in the backend data store")
    down = dict.fromkeys(["cesce.risk-limits-value", "cesce.sale-results-value"], error)
    with pytest.raises(RegistryUnavailable, match="HTTP 500"):
        check_subjects(answers(down), subjects, CATALOG)
