"""The Helm chart (helm/cesce-workers): it lints, renders, validates against the Kubernetes schemas, keeps
secrets out of its ConfigMap, and gives each worker exactly the environment the worker reads.

Rendering uses Helm's own Go SDK through helm-python-sdk (no helm binary, no cluster); manifests are
validated with kubernetes-validate (the Kubernetes OpenAPI schemas, strict: an unknown field is an error)
and the custom resources with their projects' CRD schemas (tests/fixtures/crds).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import certifi
import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from confluent_kafka import Consumer, Producer

from workers.cesce.config import CesceSettings
from workers.cli import main
from workers.credit_requests.spec import CreditRequestsTopics
from workers.invoices.spec import InvoicesTopics
from workers.non_payments.spec import NonPaymentsTopics
from workers.ops.run_command import WORKERS
from workers.ops.settings import DlqSettings, LoggingSettings
from workers.risk.spec import RiskTopics
from workers.runtime import WorkerSpec
from workers.runtime.registry import RegistrySettings, SubjectStrategy, registry_from_env, registry_settings
from workers.runtime.rekey import REKEY_ROLE
from workers.runtime.run import consumer_config, producer_config
from workers.runtime.settings import RuntimeSettings
from workers.sales_followup.spec import SalesFollowupTopics

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "cesce-workers"
ALL_OPTIONS = CHART / "ci" / "all-options-values.yaml"
CRD_SCHEMAS = REPO / "tests" / "fixtures" / "crds"
RELEASE, NAMESPACE = "cw", "finance"
KUBE_VERSIONS = ("1.25", kubernetes_validate.latest_version())
"""The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows."""

CREDENTIALS = (
    "CESCE_CLIENT_ID",
    "CESCE_CLIENT_SECRET",
    "CESCE_USERNAME",
    "CESCE_PASSWORD",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
)
CUSTOM_RESOURCES = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("kafka.strimzi.io/v1beta2", "KafkaUser"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
"""Validated with their CRDs' schemas (tests/fixtures/crds); everything else with Kubernetes' own."""
PASSED_THROUGH = ("KAFKA_", "SCHEMA_REGISTRY_", "OTEL_")
"""Prefixes handed on whole: to librdkafka, to the registry client, to the OpenTelemetry SDK."""


def worker_variables() -> set[str]:
    """Every variable a worker reads by name: the settings classes' fields (the operator commands' included)."""
    names = {f"CESCE_{field.upper()}" for field in CesceSettings.model_fields}
    models = (RuntimeSettings, InvoicesTopics, CreditRequestsTopics, NonPaymentsTopics, RiskTopics, SalesFollowupTopics)
    for model in (*models, LoggingSettings, DlqSettings):
        names |= {field.alias for field in model.model_fields.values() if field.alias}
    return names


@dataclass(frozen=True)
class Rendered:
    manifests: list[dict[str, Any]]
    notes: str
    values: dict[str, Any]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [m for m in self.of_kind(kind) if name is None or m["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind} {name}: {len(found)} found"
        return found[0]

    def deployment(self, command: str) -> dict[str, Any]:
        return self.one("Deployment", f"{RELEASE}-cesce-workers-{command}")

    def release(self, kind: str) -> list[dict[str, Any]]:
        """The manifests of `kind` that are the release's own, not a hook's (made and deleted around an upgrade)."""
        return [m for m in self.of_kind(kind) if "helm.sh/hook" not in m["metadata"].get("annotations", {})]


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def all_options() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(ALL_OPTIONS.read_text(encoding="utf-8"))
    return values


def render(values: Mapping[str, Any] | None = None) -> Rendered:
    merged = _chart().merge_values(dict(values or {}))
    files = _chart().render(dict(values or {}), name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests = [
        document
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for document in yaml.safe_load_all(text)
        if document
    ]
    notes = next(text for path, text in files.items() if path.endswith("NOTES.txt"))
    return Rendered(manifests, notes, merged)


VALUE_SETS = {"default values": render, "every option on": lambda: render(all_options())}


@pytest.fixture(params=sorted(VALUE_SETS), scope="module")
def rendered(request: pytest.FixtureRequest) -> Rendered:
    result: Rendered = VALUE_SETS[request.param]()
    return result


def container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def secret_data(rendered: Rendered) -> dict[str, str]:
    """The credentials each pod gets: the chart's Secret decoded, or stand-ins for an existingSecret's keys."""
    secrets = rendered.release("Secret")
    if not secrets:
        return {name: f"stand-in-{name.lower()}" for name in CREDENTIALS[:4]}
    (secret,) = secrets
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def pod_environment(
    rendered: Rendered, deployment: Mapping[str, Any], *, foreign_secrets: bool = False
) -> dict[str, str]:
    """What the container's environment holds: envFrom (ConfigMap, then Secret), then env, as the kubelet does.
    With `foreign_secrets`, a value from a Secret the chart does not make (a KafkaUser's) is a stand-in naming it."""
    spec = container(deployment)
    env: dict[str, str] = {}
    for source in spec["envFrom"]:
        if "configMapRef" in source:
            env |= rendered.one("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            env |= secret_data(rendered)
    for entry in spec["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif foreign_secrets and "secretKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = f"from-secret-{ref['name']}-{ref['key']}"
        else:
            assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, entry
            env[entry["name"]] = f"{deployment['metadata']['name']}-5f7d8b9c4-x2x7q"
    return env


def enabled_commands(rendered: Rendered) -> list[str]:
    return sorted(container(d)["args"][1] for d in rendered.of_kind("Deployment"))


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused, as kubernetes-validate's strict schemas do: the API server
    would drop a misspelled field without a word."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and not open_ended:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    path = CRD_SCHEMAS / f"{api_version.replace('/', '_')}_{kind}.json"
    schema: dict[str, Any] = _strict(json.loads(path.read_text(encoding="utf-8")))
    return schema


# --- lint and render --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_file", [None, ALL_OPTIONS], ids=["default values", "every option on"])
def test_the_chart_lints_without_warnings(values_file: Path | None) -> None:
    values = yaml.safe_load(values_file.read_text(encoding="utf-8")) if values_file else None
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [], report
    assert problems == [], report


def test_default_values_deploy_three_workers_and_no_optional_resource() -> None:
    rendered = render()
    assert enabled_commands(rendered) == ["credit-requests", "invoices", "non-payments"]
    kinds = sorted(m["kind"] for m in rendered.manifests)
    hook = ["ConfigMap", "Job"]  # the schemas' registration, before install and upgrade
    assert kinds == sorted(["ConfigMap", *["Deployment"] * 3, *["PodDisruptionBudget"] * 3, "ServiceAccount", *hook])
    # the default expects a Secret the operator manages, and says so
    assert "cesce-workers-credentials" in rendered.notes
    assert "kubectl -n finance create secret generic cesce-workers-credentials" in rendered.notes


def test_every_option_renders_every_kind() -> None:
    rendered = render(all_options())
    assert enabled_commands(rendered) == [
        "credit-requests",
        "invoices",
        "non-payments",
        "risk-poller",
        "sales-followup",
    ]
    counts = {kind: len(rendered.of_kind(kind)) for kind in {m["kind"] for m in rendered.manifests}}
    assert counts == {
        "ConfigMap": 3,  # the release's, the schemas hook's copy, and the Grafana dashboard
        "Secret": 2,  # the release's, and the schemas hook's registry credential
        "Job": 1,  # the schemas hook
        "ServiceAccount": 1,
        "Deployment": 5,
        "PodDisruptionBudget": 3,  # the risk poller's and the sales follow-up's are off in the file
        "HorizontalPodAutoscaler": 1,  # credit requests
        "ScaledObject": 2,  # invoices and non-payments
        "TriggerAuthentication": 1,  # SASL for KEDA's lag reads
        "Service": 5,
        "ServiceMonitor": 1,
        "PrometheusRule": 1,
        "NetworkPolicy": 1,
        "KafkaTopic": 29,  # 3 inputs and their 3 re-keyed copies, 6 results, 7 dead-letter topics, 10 state topics
    }


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(rendered: Rendered, kube_version: str) -> None:
    for manifest in rendered.manifests:
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        where = f"{kind} {manifest['metadata']['name']}"
        if (api_version, kind) in CUSTOM_RESOURCES:
            jsonschema.validate(manifest, crd_schema(api_version, kind))
            continue
        try:
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where} on Kubernetes {kube_version}: {exc.message} at {list(exc.path)}")


# --- secrets ----------------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_the_configmap_or_anywhere_but_the_secret() -> None:
    values = all_options()
    rendered = render(values)
    given = {name: values["credentials"][name] for name in CREDENTIALS}
    assert secret_data(rendered) == given

    for config_map in rendered.of_kind("ConfigMap"):
        assert not set(config_map["data"]) & set(CREDENTIALS)
        assert not [key for key in config_map["data"] if re.search(r"SECRET|PASSWORD|TOKEN|USER_INFO|JAAS", key)]
    # the SASL user and the registry user:password too: no credential text outside the Secret, NOTES included
    outside = [m for m in rendered.manifests if m["kind"] != "Secret"]
    text = yaml.safe_dump_all(outside) + rendered.notes
    for name, value in given.items():
        assert value not in text, name
        for part in value.split(":"):
            assert part not in text, name


def test_the_values_schema_refuses_secrets_in_plain_settings() -> None:
    for values in (
        {"kafka": {"config": {"sasl.password": "x"}}},
        {"kafka": {"config": {"ssl.key.password": "x"}}},
        {"kafka": {"config": {"sasl.jaas.config": "x"}}},
        {"env": {"CESCE_CLIENT_SECRET": "x"}},
        {"env": {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer x"}},
        {"workers": {"invoices": {"env": {"CESCE_PASSWORD": "x"}}}},
        {"schemaRegistry": {"url": "https://user:password@registry:8081"}},
    ):
        with pytest.raises(helm.HelmValuesError):
            render(values)


# --- the environment the workers read ---------------------------------------------------------------------------


def test_every_rendered_variable_is_one_the_workers_read(rendered: Rendered) -> None:
    known = worker_variables()
    for deployment in rendered.of_kind("Deployment"):
        for name in pod_environment(rendered, deployment):
            assert name in known or name.startswith(PASSED_THROUGH), f"{name}: no worker reads it"


def test_the_values_schema_allows_exactly_the_settings_the_chart_leaves_to_env() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    allowed = set(schema["$defs"]["workerEnv"]["properties"])
    assert set(schema["$defs"]["env"]["properties"]) == allowed - {"WORKER_GROUP_ID"}  # a group is per worker
    default = render()
    set_by_chart = set(default.one("ConfigMap", f"{RELEASE}-cesce-workers-config")["data"]) - set(default.values["env"])
    set_by_chart |= {"WORKER_INSTANCE_ID", "RISK_CONTRACTS", "SALES_FOLLOWUP_CONTRACTS"}
    assert allowed <= worker_variables(), allowed - worker_variables()
    # every setting a worker reads is either set by the chart, a credential, or open to `env`
    left_out = worker_variables() - allowed - set_by_chart - set(CREDENTIALS)
    assert left_out == {"WORKER_HTTP_HOST"}, left_out  # 0.0.0.0: probes come from outside the pod
    assert not allowed & set_by_chart, allowed & set_by_chart


def _specs(env: Mapping[str, str], command: str) -> list[WorkerSpec]:
    made = WORKERS[command](env)
    return [made] if isinstance(made, WorkerSpec) else list(made)


def test_each_worker_starts_from_its_rendered_environment(rendered: Rendered) -> None:
    """The settings parse, the topics are the chart's, and librdkafka and the registry client accept the config."""
    for deployment in rendered.of_kind("Deployment"):
        command = container(deployment)["args"][1]
        env = pod_environment(rendered, deployment)
        settings = RuntimeSettings.model_validate(env)
        CesceSettings.from_env(env)
        specs = _specs(env, command)
        assert settings.instance_id == env["WORKER_INSTANCE_ID"]
        assert settings.instance_id.startswith(deployment["metadata"]["name"])
        assert settings.drain_seconds == rendered.values["drainSeconds"]
        assert settings.http_port == container(deployment)["ports"][0]["containerPort"]
        assert specs[0].name == command

        local = dict(env)  # the CA files are mounted in the pod; any CA bundle proves the settings are accepted
        for name in ("KAFKA_SSL_CA_LOCATION", "SCHEMA_REGISTRY_SSL_CA_LOCATION"):
            if name in local:
                local[name] = certifi.where()
        for spec in specs:
            group = spec.group_id(settings)
            consumer = Consumer(consumer_config(settings, local, group))
            consumer.close()
            producer = Producer(producer_config(settings, local, group))
            producer.flush(0)
        registry_from_env(local)  # the worker's own registry client: unknown or malformed settings raise here


def test_the_workers_registry_client_gets_the_basic_auth_and_ca_from_the_environment() -> None:
    rendered = render(all_options())
    env = pod_environment(rendered, rendered.deployment("invoices"))
    with pytest.raises(FileNotFoundError):  # the rendered ssl.ca.location (mounted in the pod) is read
        registry_from_env(env)
    env["SCHEMA_REGISTRY_SSL_CA_LOCATION"] = certifi.where()
    rest = registry_from_env(env)._rest_client  # the client keeps its HTTP settings there
    assert rest.auth == ("ci-registry-user", "ci-registry-password-48f0")


def test_the_risk_poller_reads_the_contracts_named_in_values() -> None:
    values = all_options()
    rendered = render(values)
    env = pod_environment(rendered, rendered.deployment("risk-poller"))
    assert RiskTopics.model_validate(env).contract_numbers == tuple(values["workers"]["riskPoller"]["contracts"])


def test_the_sales_followup_reads_the_contracts_named_in_values() -> None:
    values = all_options()
    rendered = render(values)
    env = pod_environment(rendered, rendered.deployment("sales-followup"))
    followed = SalesFollowupTopics.model_validate(env).contract_numbers
    assert followed == tuple(values["workers"]["salesFollowup"]["contracts"])


def test_a_worker_env_entry_overrides_the_shared_one() -> None:
    rendered = render(all_options())
    invoices = pod_environment(rendered, rendered.deployment("invoices"))
    credit = pod_environment(rendered, rendered.deployment("credit-requests"))
    assert RuntimeSettings.model_validate(invoices).max_in_flight == 256
    assert RuntimeSettings.model_validate(credit).max_in_flight == 128


# --- the pods -----------------------------------------------------------------------------------------------------


def test_pods_run_as_non_root_on_a_read_only_filesystem_without_privileges(rendered: Rendered) -> None:
    for deployment in rendered.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        context = container(deployment)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]  # noqa: S108


def test_termination_outlasts_the_drain_and_probes_use_the_health_endpoints(rendered: Rendered) -> None:
    for deployment in rendered.of_kind("Deployment"):
        env = pod_environment(rendered, deployment)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > float(env["WORKER_DRAIN_SECONDS"]) + 5
        spec = container(deployment)
        (port,) = spec["ports"]
        assert port == {"name": "http", "containerPort": int(env["WORKER_HTTP_PORT"]), "protocol": "TCP"}
        assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def _selects(selector: Mapping[str, str], deployment: Mapping[str, Any]) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(key) == value for key, value in selector.items())


def test_budgets_services_and_autoscalers_point_at_their_own_worker() -> None:
    rendered = render(all_options())
    deployments = rendered.of_kind("Deployment")
    for budget in rendered.of_kind("PodDisruptionBudget"):
        selected = [d for d in deployments if _selects(budget["spec"]["selector"]["matchLabels"], d)]
        assert [d["metadata"]["name"] for d in selected] == [budget["metadata"]["name"]]
    for service in rendered.of_kind("Service"):
        selected = [d for d in deployments if _selects(service["spec"]["selector"], d)]
        assert [d["metadata"]["name"] for d in selected] == [service["metadata"]["name"]]
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = rendered.one("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    for service in rendered.of_kind("Service"):
        assert _selects(monitor["spec"]["selector"]["matchLabels"], {"spec": {"template": service}})
    for scaler in [*rendered.of_kind("HorizontalPodAutoscaler"), *rendered.of_kind("ScaledObject")]:
        target = scaler["spec"]["scaleTargetRef"]["name"]
        assert "replicas" not in rendered.one("Deployment", target)["spec"], target  # the autoscaler owns it


def test_keda_scales_on_the_lag_of_the_workers_own_group_and_input() -> None:
    rendered = render(all_options())
    for scaler in rendered.of_kind("ScaledObject"):
        deployment = rendered.one("Deployment", scaler["spec"]["scaleTargetRef"]["name"])
        env = pod_environment(rendered, deployment)
        specs = _specs(env, container(deployment)["args"][1])
        settings = RuntimeSettings.model_validate(env)
        # every loop that reads a change topic (the worker, and the re-keying companion when there is one)
        readers = [spec for spec in specs if spec.role in (None, REKEY_ROLE)]
        expected = sorted((spec.group_id(settings), topic) for spec in readers for topic in spec.input_topics)
        triggers = scaler["spec"]["triggers"]
        assert sorted((t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers) == expected
        for trigger in triggers:
            assert trigger["metadata"]["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
            assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
        assert scaler["spec"]["minReplicaCount"] >= 1  # the process also runs its companion loop
    auth = rendered.one("TriggerAuthentication")
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "username": ("cw-cesce-workers-credentials", "KAFKA_SASL_USERNAME"),
        "password": ("cw-cesce-workers-credentials", "KAFKA_SASL_PASSWORD"),
        "ca": ("my-cluster-cluster-ca-cert", "ca.crt"),  # the workers' CA too
    }
    (mount,) = [m for m in container(rendered.deployment("invoices"))["volumeMounts"] if m["name"] == "kafka-ca"]
    env = pod_environment(rendered, rendered.deployment("invoices"))
    assert env["KAFKA_SSL_CA_LOCATION"] == mount["mountPath"] + "/ca.crt"


def test_a_source_keyed_by_debtor_needs_no_rekeying_companion_topic_or_trigger() -> None:
    values = all_options()
    values["workers"]["invoices"]["keyedByDebtor"] = True
    rendered = render(values)
    env = pod_environment(rendered, rendered.deployment("invoices"))
    assert [spec.role for spec in _specs(env, "invoices")] == [None]
    assert env["INVOICES_BY_DEBTOR_TOPIC"] not in {t["spec"]["topicName"] for t in rendered.of_kind("KafkaTopic")}
    (scaler,) = [
        s for s in rendered.of_kind("ScaledObject") if s["spec"]["scaleTargetRef"]["name"].endswith("invoices")
    ]
    assert [t["metadata"]["topic"] for t in scaler["spec"]["triggers"]] == [env["INVOICES_TOPIC"]]


def test_kafka_topics_are_exactly_the_topics_the_workers_use() -> None:
    rendered = render(all_options())
    used: set[str] = set()
    compacted: set[str] = set()
    for deployment in rendered.of_kind("Deployment"):
        env = pod_environment(rendered, deployment)
        for spec in _specs(env, container(deployment)["args"][1]):
            used |= {*spec.input_topics, *spec.output_topics, *(spec.dlq_topic(t) for t in spec.input_topics)}
        compacted |= {env["CLASSIFICATION_FOLLOWUPS_TOPIC"], env["CLAIM_FILES_TOPIC"], env["RISK_LIMITS_TOPIC"]}
        compacted |= {env["RISK_SCHEDULE_TOPIC"], env["DLQ_REPLAYS_TOPIC"]}
        compacted |= {env["SALE_STATES_TOPIC"], env["SALES_FOLLOWUP_SCHEDULE_TOPIC"]}
        compacted |= {env["INVOICES_STATE_TOPIC"], env["CREDIT_REQUESTS_STATE_TOPIC"], env["NON_PAYMENTS_STATE_TOPIC"]}
    used.add(env["DLQ_REPLAYS_TOPIC"])  # `cesce-worker dlq replay`'s ledger

    topics = {t["spec"]["topicName"]: t for t in rendered.of_kind("KafkaTopic")}
    assert set(topics) == used
    for name, topic in topics.items():
        config = topic["spec"]["config"]
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"  # uninstall keeps the data
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
        assert (topic["spec"]["replicas"], config["min.insync.replicas"]) == (3, "2"), name
        if name in compacted:
            assert config["cleanup.policy"] == "compact", name
        else:
            assert "cleanup.policy" not in config, name
            assert int(config["retention.ms"]) >= 7 * 86_400_000, name
        if name.endswith(".dlq"):
            assert config["retention.ms"] == "2592000000", name  # 30 days to read and replay


def test_the_network_policy_allows_egress_only_to_dns_kafka_the_registry_cesce_and_the_collector() -> None:
    rendered = render(all_options())
    policy = rendered.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ports = [sorted({p["port"] for p in rule["ports"]}) for rule in policy["egress"]]
    env = pod_environment(rendered, rendered.deployment("invoices"))
    collector_port = int(env["OTEL_EXPORTER_OTLP_ENDPOINT"].rsplit(":", 1)[1])
    assert ports == [[53], [9093], [8081], [443], [collector_port]]  # extraEgress: the OTLP endpoint
    assert all(rule.get("to") for rule in policy["egress"])
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 9464, "protocol": "TCP"}]


def test_notes_tell_the_operator_what_was_deployed() -> None:
    rendered = render(all_options())
    for command in ("invoices", "credit-requests", "non-payments", "risk-poller", "sales-followup"):
        assert f"{RELEASE}-cesce-workers-{command}: `cesce-worker run {command}`" in rendered.notes
    assert "KEDA scales it on lag (1-12 replicas)" in rendered.notes
    assert "an HPA scales it on CPU (2-6 replicas)" in rendered.notes
    assert "group finance-non-payments" in rendered.notes
    assert 'the chart\'s Secret "cw-cesce-workers-credentials"' in rendered.notes
    assert 'KafkaTopic resources for cluster "my-cluster" in namespace "kafka"' in rendered.notes


# --- wrong values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka": {"bootstrapServers": ""}}, "/kafka/bootstrapServers"),
        ({"kafka": {"bootstrapServers": "kafka"}}, "/kafka/bootstrapServers"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"workers": {"invoices": {"replicas": "two"}}}, "/workers/invoices/replicas"),
        ({"workers": {"invoices": {"enable": True}}}, "'enable' not allowed"),
        ({"workers": {"riskPoller": {"enabled": True}}}, "/workers/riskPoller/contracts"),
        ({"workers": {"riskPoller": {"contracts": ["12345"]}}}, "/workers/riskPoller/contracts/0"),
        ({"env": {"WORKER_MAX_INFLIGHT": 10}}, "WORKER_MAX_INFLIGHT"),
        ({"env": {"WORKER_DRAIN_SECONDS": 10}}, "WORKER_DRAIN_SECONDS"),
        ({"securityContext": {"readOnlyRootFilesystem": False}}, "/securityContext/readOnlyRootFilesystem"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
        ({"httpPort": 80}, "/httpPort"),
        ({"topics": {"invoices": "erp invoices"}}, "/topics/invoices"),
        ({"kafkaTopics": {"partitions": {"input": 0}}}, "/kafkaTopics/partitions/input"),
        # a SASL protocol without its mechanism (librdkafka would try GSSAPI) and a mechanism without SASL
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "/kafka/saslMechanism"),
        ({"kafka": {"saslMechanism": "PLAIN"}}, "/kafka/securityProtocol"),
        # values the workers would refuse at start (exit 2, a crash loop)
        ({"env": {"WORKER_MAX_IN_FLIGHT": "many"}}, "/env/WORKER_MAX_IN_FLIGHT"),
        ({"env": {"LOG_FORMAT": "yaml"}}, "/env/LOG_FORMAT"),
        ({"env": {"CESCE_VERIFY_TLS": "nah"}}, "/env/CESCE_VERIFY_TLS"),
        ({"env": {"CESCE_SALES_URL": "https://user:pw@sales"}}, "/env/CESCE_SALES_URL"),
        ({"env": {"OTEL_SERVICE NAME": "x"}}, "OTEL_SERVICE NAME"),
        ({"env": {"WORKER_GROUP_ID": "one-group-for-all"}}, "WORKER_GROUP_ID"),  # per worker only
        ({"podLabels": {"app.kubernetes.io/component": "x"}}, "app.kubernetes.io/component"),  # the selector's
        ({"topics": {"invoices": "_erp.invoices"}}, "/topics/invoices"),
        ({"topics": {"invoices": ".."}}, "/topics/invoices"),
        ({"workers": {"invoices": {"keda": {"minReplicas": 0}}}}, "/workers/invoices/keda/minReplicas"),
        ({"workers": {"riskPoller": {"keda": {"enabled": True}}}}, "'keda' not allowed"),
        ({"workers": {"salesFollowup": {"enabled": True}}}, "/workers/salesFollowup/contracts"),
        ({"workers": {"invoices": {"podDisruptionBudget": {"maxUnavailable": "0%"}}}}, "maxUnavailable"),
        ({"cesce": {"baseUrl": "https://user:password@api.cesce.es"}}, "/cesce/baseUrl"),
        ({"podSecurityContext": {"seccompProfile": {"type": "Unconfined"}}}, "/podSecurityContext/seccompProfile"),
        ({"schemaRegistry": {"subjectNameStrategy": "TopicNameStrategy"}}, "/schemaRegistry/subjectNameStrategy"),
        ({"schemaRegistry": {"autoRegister": "no"}}, "/schemaRegistry/autoRegister"),
        ({"schemaRegistry": {"config": {"auto.register.schemas": True}}}, "auto.register.schemas"),  # ours
        ({"schemaRegistry": {"config": {"subject.name.strategy": "record"}}}, "subject.name.strategy"),
        ({"schemaRegistry": {"registerHook": {"backoffLimit": -1}}}, "/schemaRegistry/registerHook/backoffLimit"),
    ],
)
def test_the_values_schema_rejects_wrong_values_naming_them(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(values)
    assert message in str(caught.value)


def test_cesce_s_sandbox_needs_no_username_and_password_in_the_chart_made_secret() -> None:
    """000: "Si estás trabajando en Sandbox, no se proporcionan las credenciales USERNAME y PASSWORD al no ser
    obligatorias, mientras que CLIENT ID y CLIENT SECRET sí lo son." """
    values = {"credentials": {"existingSecret": "", "CESCE_CLIENT_ID": "id-1", "CESCE_CLIENT_SECRET": "secret-1"}}
    secrets = render(values).of_kind("Secret")
    assert len(secrets) == 1
    assert sorted(secrets[0]["data"]) == ["CESCE_CLIENT_ID", "CESCE_CLIENT_SECRET"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"credentials": {"existingSecret": ""}},
            "credentials.CESCE_CLIENT_ID is required when credentials.existingSecret is empty",
        ),
        (
            {
                "credentials": {
                    "existingSecret": "",
                    "CESCE_CLIENT_ID": "id",
                    "CESCE_CLIENT_SECRET": "s",
                    "CESCE_USERNAME": "u",
                }
            },
            "credentials.CESCE_USERNAME and credentials.CESCE_PASSWORD go together",
        ),
        (
            {"workers": {"invoices": {"keda": {"enabled": True}, "autoscaling": {"enabled": True}}}},
            "workers.invoices: keda and autoscaling are both enabled",
        ),
        (
            {"credentials": {"CESCE_PASSWORD": "typed-into-values"}},
            "credentials.CESCE_PASSWORD is given but credentials.existingSecret (cesce-workers-credentials) is set",
        ),
        (
            {"workers": {"invoices": {"keda": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}},
            "workers.invoices.keda: minReplicas is above maxReplicas",
        ),
        (
            {"workers": {"invoices": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}},
            "workers.invoices.autoscaling: minReplicas is above maxReplicas",
        ),
        (
            {"kafkaTopics": {"enabled": True, "replicas": 1}},
            "min.insync.replicas (2) must be below kafkaTopics.replicas (1)",
        ),
        (
            {"kafka": {"caSecret": {"name": "ca"}, "config": {"ssl.ca.location": "/x"}}},
            "kafka.caSecret sets ssl.ca.location: remove it from kafka.config",
        ),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    assert message in str(caught.value)


def test_sasl_without_its_credentials_fails() -> None:
    values = all_options()
    values["credentials"]["KAFKA_SASL_PASSWORD"] = ""
    with pytest.raises(helm.HelmError, match=r"credentials.KAFKA_SASL_USERNAME and credentials.KAFKA_SASL_PASSWORD"):
        render(values)


# --- the Schema Registry: subjects, and their registration before each release ---------------------------------


def hook_job(rendered: Rendered) -> dict[str, Any]:
    return rendered.one("Job", f"{RELEASE}-cesce-workers-schemas")


def hook_steps(rendered: Rendered) -> list[dict[str, Any]]:
    pod = hook_job(rendered)["spec"]["template"]["spec"]
    return [*pod["initContainers"], *pod["containers"]]


def step_environment(rendered: Rendered, step: Mapping[str, Any]) -> dict[str, str]:
    """What a hook step's container holds: the hook's ConfigMap, then env (a Secret's key read from the
    release's credentials, as the hook Secret copies them)."""
    ((source,),) = [step["envFrom"]]
    env = dict(rendered.one("ConfigMap", source["configMapRef"]["name"])["data"])
    credentials = {**secret_data(rendered), **rendered.values["credentials"]}
    for entry in step.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif credentials.get(entry["name"]):
            env[entry["name"]] = credentials[entry["name"]]
    return env


def test_the_workers_get_the_subject_strategy_and_look_their_schemas_up(rendered: Rendered) -> None:
    strategy = rendered.values["schemaRegistry"]["subjectNameStrategy"]
    for deployment in rendered.of_kind("Deployment"):
        env = pod_environment(rendered, deployment)
        settings = registry_settings(env)
        expected = RegistrySettings(url=env["SCHEMA_REGISTRY_URL"], subject_name_strategy=strategy, auto_register=False)
        assert settings == expected
    on = render({"schemaRegistry": {"autoRegister": True}})
    assert registry_settings(pod_environment(on, on.deployment("invoices"))).auto_register is True


def test_a_hook_checks_then_registers_the_enabled_workers_subjects_before_install_and_upgrade(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job = hook_job(rendered)
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "-5",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    # what the Job reads exists before it: the ConfigMap and Secret are hooks too, made first
    for kind in ("ConfigMap", "Secret"):
        for made in rendered.of_kind(kind):
            if made not in rendered.release(kind):
                assert int(made["metadata"]["annotations"]["helm.sh/hook-weight"]) < -5
                assert made["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    config = rendered.one("ConfigMap", f"{RELEASE}-cesce-workers-config")
    assert rendered.one("ConfigMap", f"{RELEASE}-cesce-workers-schemas")["data"] == config["data"]

    commands = enabled_commands(rendered)
    workers = [arg for command in commands for arg in ("--worker", command)]
    check, register = hook_steps(rendered)
    assert job["spec"]["template"]["spec"]["initContainers"] == [check]  # check first: nothing registered if refused
    assert (check["name"], check["args"]) == ("check", ["schemas", "check", *workers])
    assert (register["name"], register["args"]) == ("register", ["schemas", "register", *workers])

    # each step's environment is enough for the command: the same subjects as the workers', nothing missing
    for step in (check, register):
        env = step_environment(rendered, step)
        assert env["SCHEMA_REGISTRY_URL"] == rendered.values["schemaRegistry"]["url"]
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SCHEMA_REGISTRY_URL", "mock://hook")  # `list`: the same subjects, no registry called
        monkeypatch.delenv("SCHEMA_REGISTRY_SSL_CA_LOCATION", raising=False)
        assert main(["schemas", "list", "--json", *step["args"][2:]]) == 0
        listed = {s["subject"] for s in json.loads(capsys.readouterr().out)["subjects"]}
        written: dict[str, str] = {}
        for deployment in rendered.of_kind("Deployment"):
            for spec in _specs(pod_environment(rendered, deployment), container(deployment)["args"][1]):
                written.update(spec.schemas)
        strategy = SubjectStrategy(env["SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY"])
        assert listed == {strategy.subject(topic, record) for topic, record in written.items()}


def test_the_hook_runs_as_the_workers_do_with_only_the_registry_credential(rendered: Rendered) -> None:
    pod = hook_job(rendered)["spec"]["template"]["spec"]
    deployment = rendered.of_kind("Deployment")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"] == deployment["securityContext"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod  # the release's ServiceAccount does not exist yet before an install
    for step in hook_steps(rendered):
        assert step["securityContext"] == container(rendered.of_kind("Deployment")[0])["securityContext"]
        assert step["image"] == container(rendered.of_kind("Deployment")[0])["image"]
        assert {"name": "tmp", "mountPath": "/tmp"} in step["volumeMounts"]  # noqa: S108
        secret_refs = [e["valueFrom"]["secretKeyRef"] for e in step.get("env", []) if "valueFrom" in e]
        assert [ref["key"] for ref in secret_refs] == ["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"]
    hook_secrets = [s for s in rendered.of_kind("Secret") if s not in rendered.release("Secret")]
    if rendered.values["credentials"]["existingSecret"]:
        assert hook_secrets == []
        assert secret_refs[0]["name"] == rendered.values["credentials"]["existingSecret"]
    else:
        (hook_secret,) = hook_secrets
        assert set(hook_secret["data"]) == {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"}
        assert secret_refs[0]["name"] == hook_secret["metadata"]["name"]


@pytest.mark.parametrize(
    "values",
    [
        {"schemaRegistry": {"registerHook": {"enabled": False}}},
        {"workers": {name: {"enabled": False} for name in ("invoices", "creditRequests", "nonPayments")}},
    ],
    ids=["hook off", "no worker enabled"],
)
def test_no_hook_when_it_is_off_or_has_nothing_to_register(values: dict[str, Any]) -> None:
    rendered = render(values)
    assert rendered.of_kind("Job") == []
    assert [m["metadata"]["name"] for m in rendered.of_kind("ConfigMap")] == [f"{RELEASE}-cesce-workers-config"]
