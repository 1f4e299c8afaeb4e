"""Strimzi KafkaUsers (helm/cesce-workers/templates/kafkausers.yaml): one per enabled worker, validated against the
Strimzi KafkaUser CRD, with exactly the ACLs the worker's process needs, which are checked here against the specs
the worker builds from its rendered environment (`workers.ops.run_command.WORKERS`), not against a copy; and each
worker's credentials taken from the Secret Strimzi's User Operator makes for its user.

Issue 20: "An optional Strimzi `KafkaUser` per worker with exactly the ACLs it needs (read its input topics and
group, write its outputs and DLQ, its `transactional.id` prefix, describe the cluster), validated against the Strimzi
CRD like the other custom resources."
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import certifi
import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from confluent_kafka import Consumer, Producer

from tests.unit.deployment.test_helm_chart import (
    CHART,
    CUSTOM_RESOURCES,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    Rendered,
    container,
    crd_schema,
    pod_environment,
    render,
)
from workers.credit_requests.spec import CreditRequestsTopics
from workers.invoices.spec import InvoicesTopics
from workers.non_payments.spec import NonPaymentsTopics
from workers.ops.consume import consumer_settings
from workers.ops.dlq_replay import transactional_id
from workers.ops.run_command import WORKERS
from workers.ops.settings import DlqSettings
from workers.risk.spec import RiskTopics
from workers.runtime.run import consumer_config, producer_config
from workers.runtime.settings import Reconcile, RuntimeSettings
from workers.runtime.spec import WorkerSpec
from workers.sales_followup.spec import SalesFollowupTopics
from workers.settings import Settings, from_env

KAFKA_USERS = CHART / "ci" / "kafka-users-values.yaml"
OPERATOR = f"{RELEASE}-cesce-workers-operator"
USER_CRD = ("kafka.strimzi.io/v1beta2", "KafkaUser")
STRIMZI_PASSWORD_KEY = "password"
"""strimzi/strimzi-kafka-operator, user-operator/.../model/KafkaUserModel.java: ``KEY_PASSWORD = "password"``: the
key of the SCRAM-SHA-512 password in the Secret the User Operator makes, named like the KafkaUser."""


def kafka_users_values(authentication: str = "scram-sha-512") -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(KAFKA_USERS.read_text(encoding="utf-8"))
    if authentication == "tls":
        values["kafka"] = {**values["kafka"], "securityProtocol": "SSL", "saslMechanism": ""}
        values["kafkaUsers"]["authentication"] = "tls"
    return values


def tables_read(command: str, env: Mapping[str, str]) -> set[str]:
    """The compacted topics a worker reads back whole, as tables (its row state, a poller's known states and its
    schedule when seeding): named by the worker's own settings."""
    read: dict[str, tuple[type[Settings], tuple[str, ...]]] = {
        "invoices": (InvoicesTopics, ("state",)),
        "credit-requests": (CreditRequestsTopics, ("state",)),
        "non-payments": (NonPaymentsTopics, ("state",)),
        "risk-poller": (RiskTopics, ("limits", "schedule")),
        "sales-followup": (SalesFollowupTopics, ("sale_states", "schedule")),
    }
    model, fields = read[command]
    settings = from_env(model, env)
    return {getattr(settings, name) for name in fields}


def specs_of(rendered: Rendered, deployment: Mapping[str, Any]) -> tuple[list[WorkerSpec], dict[str, str]]:
    env = pod_environment(rendered, deployment, foreign_secrets=True)
    return WORKERS[container(deployment)["args"][1]](env), env


def user_of(rendered: Rendered, deployment: Mapping[str, Any]) -> dict[str, Any]:
    return rendered.one("KafkaUser", deployment["metadata"]["name"])


def acls(user: Mapping[str, Any], kind: str) -> dict[str, set[str]]:
    """The user's ACLs on resources of `kind`: name (a prefix ends with ``*``) -> its operations."""
    found: dict[str, set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        if resource["type"] != kind:
            continue
        assert acl.get("type", "allow") == "allow"
        name = resource.get("name", "") + ("*" if resource.get("patternType") == "prefix" else "")
        assert name not in found, f"{kind} {name} twice"
        found[name] = set(acl["operations"])
    return found


@pytest.fixture(params=["scram-sha-512", "tls"], scope="module")
def users(request: pytest.FixtureRequest) -> Rendered:
    return render(kafka_users_values(request.param))


# --- rendered and valid ---------------------------------------------------------------------------------------------


def test_no_kafka_user_unless_enabled() -> None:
    assert render().of_kind("KafkaUser") == []


@pytest.mark.parametrize("authentication", ["scram-sha-512", "tls"])
def test_the_kafka_users_file_lints(authentication: str) -> None:
    report = helm.lint(CHART, kafka_users_values(authentication), strict=True, namespace=NAMESPACE)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_validates_the_kafka_users_against_the_strimzi_crd(users: Rendered, kube_version: str) -> None:
    assert USER_CRD in CUSTOM_RESOURCES
    assert len(users.of_kind("Deployment")) == 5
    assert len(users.of_kind("KafkaUser")) == 5 + 1  # and the operator's
    for manifest in users.manifests:
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        if (api_version, kind) in CUSTOM_RESOURCES:
            jsonschema.validate(manifest, crd_schema(api_version, kind))
        else:
            kubernetes_validate.validate(manifest, kube_version, strict=True)


def test_a_user_is_named_after_its_worker_s_deployment_in_the_cluster_it_belongs_to(users: Rendered) -> None:
    for user in users.of_kind("KafkaUser"):
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
        assert user["metadata"]["namespace"] == NAMESPACE
        assert user["spec"]["authentication"]["type"] == users.values["kafkaUsers"]["authentication"]
        assert user["spec"]["authorization"]["type"] == "simple"
    names = {user["metadata"]["name"] for user in users.of_kind("KafkaUser")}
    assert names == {d["metadata"]["name"] for d in users.of_kind("Deployment")} | {OPERATOR}


# --- exactly the ACLs each worker's process needs ---------------------------------------------------------------------


def test_each_worker_reads_exactly_its_inputs_and_the_tables_it_reads_back(users: Rendered) -> None:
    for deployment in users.of_kind("Deployment"):
        specs, env = specs_of(users, deployment)
        command = container(deployment)["args"][1]
        topics = acls(user_of(users, deployment), "topic")
        read = {name for name, operations in topics.items() if "Read" in operations}
        expected = {topic for spec in specs for topic in spec.input_topics} | tables_read(command, env)
        if RuntimeSettings.model_validate(env).reconcile is Reconcile.ON:  # it reads its outputs back at assignment
            expected |= {t for spec in specs for t in (*spec.output_topics, *map(spec.dlq_topic, spec.input_topics))}
        assert read == expected, command


def test_each_worker_writes_exactly_its_outputs_and_dead_letter_topics(users: Rendered) -> None:
    for deployment in users.of_kind("Deployment"):
        specs, _env = specs_of(users, deployment)
        topics = acls(user_of(users, deployment), "topic")
        written = {name for name, operations in topics.items() if "Write" in operations}
        dead = {spec.dlq_topic(topic) for spec in specs for topic in spec.input_topics}
        assert dead
        assert all(topic.endswith(".dead-letters") for topic in dead)
        assert written == {topic for spec in specs for topic in spec.output_topics} | dead
        assert all("Describe" in operations for operations in topics.values())
        assert set().union(*topics.values()) <= {"Read", "Write", "Describe"}


def test_each_worker_reads_exactly_its_consumer_groups(users: Rendered) -> None:
    for deployment in users.of_kind("Deployment"):
        specs, env = specs_of(users, deployment)
        settings = RuntimeSettings.model_validate(env)
        groups = acls(user_of(users, deployment), "group")
        members = {name: ops for name, ops in groups.items() if not name.endswith("*")}
        assert members == {spec.group_id(settings): {"Read"} for spec in specs}
        # the state readers and the reconciliation: assigned partitions under a throwaway group (table-<uuid>,
        # reconcile-<uuid>), nothing joined or committed; librdkafka still looks their coordinator up
        readers = {"table-*"} | ({"reconcile-*"} if settings.reconcile is Reconcile.ON else set())
        assert {name: ops for name, ops in groups.items() if name.endswith("*")} == {
            key: {"Describe"} for key in readers
        }


def test_each_worker_owns_the_transactional_ids_of_all_its_producers_and_no_other_worker_s(users: Rendered) -> None:
    prefixes: dict[str, str] = {}
    ids: dict[str, list[str]] = {}
    for deployment in users.of_kind("Deployment"):
        specs, env = specs_of(users, deployment)
        settings = RuntimeSettings.model_validate(env)
        (prefix,) = acls(user_of(users, deployment), "transactionalId").items()
        assert prefix[0].endswith("*")
        assert prefix[1] == {"Write", "Describe"}
        prefixes[deployment["metadata"]["name"]] = prefix[0].removesuffix("*")
        # one process, and a child of several (transactional.id <group>.<instance>.<n>, workers.runtime.processes)
        child = settings.model_copy(update={"instance_id": f"{settings.instance_id}.3"})
        ids[deployment["metadata"]["name"]] = [
            producer_config(runtime, env, spec.group_id(settings))["transactional.id"]
            for spec in specs
            for runtime in (settings, child)
        ]
    for owner, own in ids.items():
        for name, prefix in prefixes.items():
            assert all(i.startswith(prefix) for i in own) is (name == owner), (owner, name)


def test_each_worker_describes_the_cluster_and_needs_no_idempotent_write_unless_asked(users: Rendered) -> None:
    for user in users.of_kind("KafkaUser"):
        assert acls(user, "cluster") == {"": {"Describe"}}
    values = kafka_users_values()
    values["kafkaUsers"]["idempotentWrite"] = True
    rendered = render(values)
    for deployment in rendered.of_kind("Deployment"):
        assert acls(user_of(rendered, deployment), "cluster") == {"": {"Describe", "IdempotentWrite"}}
    assert acls(rendered.one("KafkaUser", OPERATOR), "cluster") == {"": {"Describe"}}  # its producers: transactional


def test_the_acls_follow_the_values_a_worker_is_deployed_with() -> None:
    values = kafka_users_values()
    values["topics"] = {**values["topics"], "invoices": "erp.facturas", "dlqSuffix": ".dlq"}
    values["workers"]["invoices"]["env"] = {"WORKER_GROUP_ID": "finance-invoices"}
    rendered = render(values)
    user = user_of(rendered, rendered.deployment("invoices"))
    assert set(acls(user, "topic")) == {
        "erp.facturas",
        "erp.facturas.dlq",
        values["topics"].get("invoicesByDebtor", "erp.invoices.by-debtor"),
        "cesce.sale-results",
        "cesce.invoices.rows",
    }
    assert set(acls(user, "group")) == {"finance-invoices", "finance-invoices.rekey", "table-*"}
    assert set(acls(user, "transactionalId")) == {"finance-invoices.*"}


def test_every_topic_a_user_may_use_is_one_the_chart_creates(users: Rendered) -> None:
    created = {topic["spec"]["topicName"] for topic in users.of_kind("KafkaTopic")}
    for user in users.of_kind("KafkaUser"):
        assert set(acls(user, "topic")) <= created, user["metadata"]["name"]


# --- the operator's commands: dlq list|show|replay and reconcile sales ------------------------------------------------


def test_the_operator_reads_every_dead_letter_topic_and_writes_back_where_they_came_from(users: Rendered) -> None:
    """`cesce-worker dlq` reads a dead-letter topic and the ledger; `replay` sends each dead letter to the topic it was
    read from (a worker's input) and records it in the ledger; `reconcile sales` reads the sale results too."""
    dead: set[str] = set()
    origins: set[str] = set()
    for deployment in users.of_kind("Deployment"):
        specs, env = specs_of(users, deployment)
        dead |= {spec.dlq_topic(topic) for spec in specs for topic in spec.input_topics}
        origins |= {topic for spec in specs for topic in spec.input_topics}
    ledger = from_env(DlqSettings, env).replays_topic
    results = from_env(InvoicesTopics, env).results
    topics = acls(users.one("KafkaUser", OPERATOR), "topic")
    assert {name for name, ops in topics.items() if "Read" in ops} == dead | {ledger, results}
    assert {name for name, ops in topics.items() if "Write" in ops} == origins | {ledger}
    assert all("Describe" in ops for ops in topics.values())


def test_the_operator_owns_the_replays_transactional_ids_and_its_readers_groups(users: Rendered) -> None:
    operator = users.one("KafkaUser", OPERATOR)
    ((prefix, operations),) = acls(operator, "transactionalId").items()
    assert operations == {"Describe", "Write"}
    for topic in acls(operator, "topic"):
        assert transactional_id(topic).startswith(prefix.removesuffix("*"))
    ((group, operations),) = acls(operator, "group").items()
    assert operations == {"Describe"}
    assert consumer_settings({}, group=None, from_beginning=True)["group.id"].startswith(group.removesuffix("*"))
    assert acls(operator, "cluster") == {"": {"Describe"}}


def test_no_operator_user_when_it_is_off() -> None:
    values = kafka_users_values()
    values["kafkaUsers"]["operator"] = False
    rendered = render(values)
    assert len(rendered.of_kind("KafkaUser")) == len(rendered.of_kind("Deployment"))


# --- the credentials: the Secret Strimzi makes for each user ------------------------------------------------------


def test_each_scram_worker_logs_in_as_its_user_with_the_password_strimzi_made() -> None:
    rendered = render(kafka_users_values("scram-sha-512"))
    (secret,) = rendered.release("Secret")
    assert not {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} & set(secret["data"])  # none shared
    for deployment in rendered.of_kind("Deployment"):
        user = user_of(rendered, deployment)["metadata"]["name"]
        variables = {entry["name"]: entry for entry in container(deployment)["env"]}
        assert variables["KAFKA_SASL_USERNAME"]["value"] == user
        ref = variables["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (user, STRIMZI_PASSWORD_KEY)
        env = pod_environment(rendered, deployment, foreign_secrets=True)
        assert (env["KAFKA_SASL_MECHANISM"], env["KAFKA_SECURITY_PROTOCOL"]) == ("SCRAM-SHA-512", "SASL_SSL")
        _librdkafka_accepts(env, WORKERS[container(deployment)["args"][1]](env))


def test_each_tls_worker_presents_the_certificate_strimzi_made_for_its_user() -> None:
    rendered = render(kafka_users_values("tls"))
    for deployment in rendered.of_kind("Deployment"):
        user = user_of(rendered, deployment)["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-user"]
        assert volume["secret"]["secretName"] == user
        assert {item["key"] for item in volume["secret"]["items"]} == {"user.crt", "user.key"}
        (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == "kafka-user"]
        env = pod_environment(rendered, deployment, foreign_secrets=True)
        assert env["KAFKA_SSL_CERTIFICATE_LOCATION"] == f"{mount['mountPath']}/user.crt"
        assert env["KAFKA_SSL_KEY_LOCATION"] == f"{mount['mountPath']}/user.key"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert "KAFKA_SASL_MECHANISM" not in env


def _librdkafka_accepts(env: Mapping[str, str], specs: list[WorkerSpec]) -> None:
    local = {**env, "KAFKA_SSL_CA_LOCATION": certifi.where()}  # mounted in the pod
    settings = RuntimeSettings.model_validate(local)
    for spec in specs:
        Consumer(consumer_config(settings, local, spec.group_id(settings))).close()
        Producer(producer_config(settings, local, spec.group_id(settings))).flush(0)


def test_keda_reads_the_lag_as_the_worker_s_own_user(users: Rendered) -> None:
    (scaler,) = users.of_kind("ScaledObject")
    deployment = users.one("Deployment", scaler["spec"]["scaleTargetRef"]["name"])
    user = user_of(users, deployment)["metadata"]["name"]
    names = {trigger["authenticationRef"]["name"] for trigger in scaler["spec"]["triggers"]}
    (auth,) = [users.one("TriggerAuthentication", name) for name in names]
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert refs.pop("ca") == ("my-cluster-cluster-ca-cert", "ca.crt")
    if users.values["kafkaUsers"]["authentication"] == "tls":
        assert refs == {"cert": (user, "user.crt"), "key": (user, "user.key")}
        return
    assert refs == {"password": (user, STRIMZI_PASSWORD_KEY)}
    (username,) = auth["spec"]["env"]
    assert (username["parameter"], username["containerName"]) == ("username", container(deployment)["name"])
    assert pod_environment(users, deployment, foreign_secrets=True)[username["name"]] == user


# --- values that cannot work ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"kafka": {"saslMechanism": "SCRAM-SHA-256"}},
            "kafkaUsers.authentication scram-sha-512 needs kafka.saslMechanism SCRAM-SHA-512",
        ),
        (
            {"kafkaUsers": {"authentication": "tls"}},
            "kafkaUsers.authentication tls needs kafka.securityProtocol SSL and no kafka.saslMechanism",
        ),
        (
            {"credentials": {"KAFKA_SASL_PASSWORD": "typed-into-values"}},
            "credentials.KAFKA_SASL_PASSWORD is given but kafkaUsers.enabled",
        ),
        (
            {"kafka": {"config": {"sasl.oauthbearer.method": "oidc"}}},
            "kafka.config.sasl.oauthbearer.method: kafkaUsers.enabled sets each worker's SASL settings",
        ),
    ],
)
def test_values_that_cannot_work_with_kafka_users_fail_naming_the_fix(
    change: dict[str, dict[str, Any]], message: str
) -> None:
    values = kafka_users_values()
    for section, entries in change.items():
        values[section] = {**copy.deepcopy(values[section]), **entries}
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafkaUsers": {"authentication": "plain"}}, "/kafkaUsers/authentication"),
        ({"topics": {"dlqSuffix": ""}}, "/topics/dlqSuffix"),
        ({"topics": {"dlqSuffix": ".dead letters"}}, "/topics/dlqSuffix"),
    ],
)
def test_the_values_schema_refuses_a_bad_authentication_or_suffix(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(values)
    assert message in str(caught.value)


def test_the_dead_letter_suffix_reaches_the_workers_and_names_the_dead_letter_topics() -> None:
    """Issue 20: "The dead-letter topic's suffix is a setting (`.dlq` by default)": topics.dlqSuffix is the workers'
    WORKER_DLQ_SUFFIX and the suffix of every dead-letter KafkaTopic."""
    rendered = render(kafka_users_values())
    dead = {
        t["spec"]["topicName"]
        for t in rendered.of_kind("KafkaTopic")
        if t["spec"]["topicName"].endswith(".dead-letters")
    }
    expected: set[str] = set()
    for deployment in rendered.of_kind("Deployment"):
        specs, env = specs_of(rendered, deployment)
        assert env["WORKER_DLQ_SUFFIX"] == ".dead-letters"
        expected |= {spec.dlq_topic(topic) for spec in specs for topic in spec.input_topics}
    assert dead == expected
    assert not [t for t in rendered.of_kind("KafkaTopic") if t["spec"]["topicName"].endswith(".dlq")]


def test_the_notes_give_a_pod_that_runs_dlq_list_as_the_operator(users: Rendered) -> None:
    """The NOTES' ``kubectl run ... --overrides='<pod spec>'``: a valid Pod, as the operator's user, with the
    release's settings, reading the invoices' dead-letter topic."""
    (line,) = [line for line in users.notes.splitlines() if "kubectl -n finance run cesce-dlq" in line]
    overrides = json.loads(line.split("--overrides='", 1)[1].removesuffix("'"))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cesce-dlq"}, **overrides}
    for kube_version in KUBE_VERSIONS:
        kubernetes_validate.validate(pod, kube_version, strict=True)
    (spec,) = pod["spec"]["containers"]
    env = pod_environment(
        users,
        {"metadata": {"name": "cesce-dlq"}, "spec": {"template": {"spec": {"containers": [spec]}}}},
        foreign_secrets=True,
    )
    assert spec["args"] == ["dlq", "list", "--topic", f"erp.invoices{env['WORKER_DLQ_SUFFIX']}"]
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    if users.values["kafkaUsers"]["authentication"] == "scram-sha-512":
        assert env["KAFKA_SASL_USERNAME"] == OPERATOR
        assert env["KAFKA_SASL_PASSWORD"] == f"from-secret-{OPERATOR}-{STRIMZI_PASSWORD_KEY}"
    else:
        (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "kafka-user"]
        assert volume["secret"]["secretName"] == OPERATOR
        assert env["KAFKA_SSL_CERTIFICATE_LOCATION"].startswith("/etc/cesce-workers/kafka-user/")
    assert env["KAFKA_SSL_CA_LOCATION"].startswith("/etc/cesce-workers/kafka-ca/")
    assert {v["name"] for v in pod["spec"]["volumes"]} >= {"kafka-ca", "tmp"}
