"""The metrics the chart's alerts and Grafana dashboard read are the ones a running worker serves.

``cesce-worker run invoices`` runs as a child process against the embedded broker and a sandbox: it declares
a sale, dead-letters an invoice on the expired policy (1522), and retries a third through a Cesce outage (every
call answered 500) until the outage ends. Its real ``/metrics`` then holds every metric name the alert rules
(helm/cesce-workers/files/alerts.yaml) and the dashboard (helm/cesce-workers/files/dashboard.json) use, the
``messaging.process.duration`` histogram, and no ``otel_scope_*`` label.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ops.test_operations_process import invoices_env, samples, wait_for, worker_run
from tests.integration.runtime.support import produce, read
from tests.kafka_backends import KafkaBackend, unique_topic
from tests.monitoring_support import NOT_EXPORTED, alert_queries, dashboard_queries, metric_names
from workers.demo.sample import sample_changes
from workers.sandbox import RunningSandbox

pytestmark = pytest.mark.integration


def _series(exposition: str, name: str, **labels: str) -> dict[str | None, float]:
    """The values of `name`'s samples whose labels include `labels`, summed by their error_type (None: none or
    empty, as Prometheus reads an empty label; the parent of several engine processes writes it so)."""
    found: dict[str | None, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                error = sample.labels.get("error_type") or None
                found[error] = found.get(error, 0) + sample.value
    return found


def _sample_names(exposition: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_every_metric_the_alerts_and_the_dashboard_read_is_served_by_a_running_worker(
    kafka: KafkaBackend, sandbox: RunningSandbox, tmp_path: Path, schema_registry: str
) -> None:
    source, results = unique_topic("erp.invoices"), unique_topic("cesce.sale-results")
    rekeyed = f"{source}.by-debtor"  # what the invoices engine reads: its companion re-keys the source by debtor
    group = unique_topic("scrape")
    changes = sample_changes(unique_topic("m")[-6:])
    declared = changes[0]  # a new invoice
    expired = next(c for c in changes if c.story == "an invoice on the expired policy")
    produce(kafka, source, [(declared.key, declared.value), (expired.key, expired.value)])
    env = invoices_env(
        kafka,
        sandbox,
        schema_registry,
        source,
        results,
        WORKER_GROUP_ID=group,
        KAFKA_STATISTICS_INTERVAL_MS="500",  # the lag, soon
        WORKER_OUTAGE_THRESHOLD="1",  # the first transient failure pauses consumption
        CESCE_RETRY_ATTEMPTS="2",
    )
    admin = sandbox.admin()
    with worker_run(env, tmp_path) as worker:
        worker.port()
        first = read(kafka, [results, f"{source}.dlq"], expect=2, timeout=60)
        assert sorted(m.topic() for m in first) == sorted([results, f"{source}.dlq"])

        # Cesce fails every call: the third invoice is retried, and consumption paused for the outage
        admin.set_faults(error_rate=1.0)
        third = sample_changes(unique_topic("o")[-6:])[0]
        produce(kafka, source, [(third.key, third.value)])

        def paused_and_retried() -> str | None:
            text = worker.get("/metrics").text
            paused = samples(text, "cesce_worker_paused", worker="invoices", reason="outage")
            retried = samples(text, "cesce_worker_retries_total", worker="invoices")
            return text if 1.0 in paused and sum(retried) >= 1 else None

        wait_for(paused_and_retried, 60, lambda: f"never paused for the outage:\n{worker.get('/metrics').text}")
        admin.set_faults(error_rate=0.0)
        read(kafka, [results], expect=2, timeout=60)  # the first result and the third invoice's

        def lag_observed() -> str | None:
            text = worker.get("/metrics").text
            return text if samples(text, "cesce_worker_consumer_lag", worker="invoices", topic=rekeyed) else None

        exposition = wait_for(lag_observed, 30, "no consumer lag observed")
        assert worker.terminate() == 0

    served = _sample_names(exposition)
    read_by_queries: set[str] = set()
    for query in alert_queries() + dashboard_queries():
        names = metric_names(query.expr)
        read_by_queries |= names
        missing = names - served - NOT_EXPORTED
        assert not missing, f"{query.where} reads {sorted(missing)}, which the worker does not serve:\n{query.expr}"
    assert len(read_by_queries - NOT_EXPORTED) >= 12, sorted(read_by_queries)  # records to token renewals

    # the processing-time histogram, with the messaging conventions' attributes, failed looks with error.type
    name = "messaging_process_duration_seconds_bucket"
    common = {"messaging_system": "kafka", "messaging_operation_name": "process", "le": "+Inf"}
    rows = _series(exposition, name, **common, messaging_destination_name=rekeyed, messaging_consumer_group_name=group)
    assert rows.get(None, 0) >= 2, exposition  # the sale, and the third invoice once Cesce answered
    assert rows.get("1522") == 1, exposition  # the invoice on the expired policy, dead-lettered
    companion = _series(exposition, name, **common, messaging_destination_name=source)
    assert companion.get(None, 0) >= 3, exposition  # the re-keying companion's looks at the three changes
    assert "messaging_process_duration_seconds_count" in served
    assert not re.search(r"\botel_scope_\w+=", exposition), "per-scope labels on a series"
