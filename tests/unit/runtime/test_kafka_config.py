"""KAFKA_* and SCHEMA_REGISTRY_* variables -> client settings (SASL/SSL without code changes)."""

from __future__ import annotations

import pytest

from workers.cesce import CesceSettings
from workers.invoices.spec import InvoicesTopics
from workers.ops.consume import consumer_settings
from workers.ops.produce import producer_settings
from workers.runtime.kafka_config import (
    librdkafka_config,
    redacted,
    schema_registry_config,
)
from workers.runtime.kafka_logs import LIBRDKAFKA_LOG
from workers.runtime.settings import RuntimeSettings
from workers.settings import from_env


def test_every_kafka_variable_becomes_a_librdkafka_property() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9093,broker-2:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "cesce",
        "KAFKA_SASL_PASSWORD": "s3cret",
        "KAFKA_SSL_CA_LOCATION": "/etc/ssl/ca.pem",
        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "https",
        "PATH": "/usr/bin",
        "CESCE_KAFKA_TOPIC": "not ours",
    }
    assert librdkafka_config(env) == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "cesce",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "ssl.endpoint.identification.algorithm": "https",
    }


@pytest.mark.parametrize(
    "name",
    [
        "KAFKA_PORT",
        "KAFKA_PORT_9092_TCP",
        "KAFKA_PORT_9092_TCP_ADDR",
        "KAFKA_PORT_9092_TCP_PORT",
        "KAFKA_PORT_9092_TCP_PROTO",
        "KAFKA_SERVICE_HOST",
        "KAFKA_SERVICE_PORT",
        "KAFKA_SERVICE_PORT_BROKER_1",
        "KAFKA_",
    ],
)
def test_kubernetes_service_links_are_not_settings(name: str) -> None:
    assert librdkafka_config({name: "tcp://10.0.0.1:9092"}) == {}


def test_empty_values_and_ignored_names_are_skipped() -> None:
    env = {"KAFKA_SASL_MECHANISM": "", "KAFKA_CLIENT_ID": "cli", "KAFKA_TOPIC_PREFIX": "x"}
    assert librdkafka_config(env, ignore={"KAFKA_TOPIC_PREFIX"}) == {"client.id": "cli"}


def test_schema_registry_settings_have_no_default_registry() -> None:
    assert schema_registry_config({}) == {}  # mock:// is for unit tests: nobody gets one by leaving the URL out
    env = {
        "SCHEMA_REGISTRY_URL": "https://registry:8081",
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "key:secret",
        "SCHEMA_REGISTRY_SERVICE_HOST": "10.0.0.2",
    }
    assert schema_registry_config(env) == {"url": "https://registry:8081", "basic.auth.user.info": "key:secret"}


def test_our_own_registry_settings_are_not_the_clients() -> None:
    env = {
        "SCHEMA_REGISTRY_URL": "https://registry:8081",
        "SCHEMA_REGISTRY_SUBJECT_NAME_STRATEGY": "record",
        "SCHEMA_REGISTRY_AUTO_REGISTER": "false",
        "SCHEMA_REGISTRY_SSL_CA_LOCATION": "/etc/ca.pem",
    }
    assert schema_registry_config(env) == {"url": "https://registry:8081", "ssl.ca.location": "/etc/ca.pem"}


def test_redacted_hides_credentials_for_logs() -> None:
    config = {
        "bootstrap.servers": "b:9092",
        "sasl.password": "p",
        "sasl.oauthbearer.client.secret": "s",
        "ssl.key.pem": "-----BEGIN",
        "basic.auth.user.info": "u:p",
        "sasl.username": "cesce",
    }
    assert redacted(config) == {
        "bootstrap.servers": "b:9092",
        "sasl.password": "***",
        "sasl.oauthbearer.client.secret": "***",
        "ssl.key.pem": "***",
        "basic.auth.user.info": "***",
        "sasl.username": "cesce",
    }


def test_the_producer_tool_is_idempotent_and_drops_consumer_settings() -> None:
    settings = producer_settings(
        {"bootstrap.servers": "b:9092", "session.timeout.ms": "6000", "transactional.id": "worker-1", "acks": "1"}
    )
    assert settings == {
        "bootstrap.servers": "b:9092",
        "enable.idempotence": "true",
        "acks": "1",  # the environment wins over the tool's defaults
        "partitioner": "murmur2_random",
        "linger.ms": "5",
        "logger": LIBRDKAFKA_LOG,  # librdkafka's lines through Python logging, deduplicated
    }


def test_the_consumer_tool_always_reads_committed_and_never_auto_commits() -> None:
    env = {"bootstrap.servers": "b:9092", "isolation.level": "read_uncommitted", "enable.idempotence": "true"}
    fresh = consumer_settings(env, group=None, from_beginning=False)
    assert fresh["isolation.level"] == "read_committed"
    assert fresh["enable.auto.commit"] == "false"
    assert fresh["auto.offset.reset"] == "latest"
    assert fresh["group.id"].startswith("cesce-worker-consume-")
    assert "enable.idempotence" not in fresh
    assert consumer_settings(env, group=None, from_beginning=False)["group.id"] != fresh["group.id"]
    named = consumer_settings(env, group="ops", from_beginning=True)
    assert (named["group.id"], named["auto.offset.reset"]) == ("ops", "earliest")


def test_settings_read_only_the_mapping_they_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16: the shell's environment must not leak into a model built from a dict."""
    monkeypatch.setenv("WORKER_MAX_IN_FLIGHT", "7")
    monkeypatch.setenv("CESCE_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("INVOICES_TOPIC", "from-the-shell")
    assert from_env(RuntimeSettings, {"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}).max_in_flight == 64
    assert from_env(InvoicesTopics, {}).input == "erp.invoices"
    cesce = CesceSettings.from_env(
        {"CESCE_BASE_URL": "https://cesce.test", "CESCE_CLIENT_ID": "c", "CESCE_CLIENT_SECRET": "s"}
        | {"CESCE_USERNAME": "u", "CESCE_PASSWORD": "p"}
    )
    assert cesce.timeout_seconds == 30.0
    assert from_env(RuntimeSettings, {"KAFKA_BOOTSTRAP_SERVERS": "k", "WORKER_MAX_IN_FLIGHT": "7"}).max_in_flight == 7
