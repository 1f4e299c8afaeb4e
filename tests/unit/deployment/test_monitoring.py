"""The chart's monitoring: the alerts of docs/operations.md as a PrometheusRule (checked and unit-tested with
promtool) and the Grafana dashboard's ConfigMap (every query parsed by promtool). That the metric names are the
workers' own is checked against a real ``/metrics`` in tests/integration/observability/test_metrics_scrape.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring_support import (
    ALERTS,
    ALERTS_TEST,
    DASHBOARD,
    Query,
    alert_queries,
    alert_rules,
    check_parses,
    concrete,
    dashboard,
    dashboard_panels,
    dashboard_queries,
    metric_names,
    run_promtool,
)
from tests.unit.deployment.test_helm_chart import NAMESPACE, REPO, all_options, render, worker_variables

OPERATIONS = REPO / "docs" / "operations.md"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


# --- alerts -----------------------------------------------------------------------------------------------------


def test_the_alert_rules_pass_promtool_check_rules() -> None:
    checked = run_promtool("check", "rules", ALERTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def test_promtool_fires_and_holds_back_every_alert() -> None:
    tested = run_promtool("test", "rules", ALERTS_TEST)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    # each alert has a case where it fires and one where it must not
    cases = [case for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"] for case in test["alert_rule_test"]]
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} never fires in {ALERTS_TEST.name}"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} is never held back"


def test_every_alert_the_operators_guide_describes_is_a_rule_with_its_runbook() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == {
        "CesceWorkerDeadLetters",  # "Dead letters arriving" (business, validation, deserialization, transient)
        "CesceWorkerInternalDeadLetters",  # "... internal: page us"
        "CesceUnavailable",  # "Cesce down"
        "CesceWorkerFallingBehind",  # "Falling behind"
        "CesceSlow",  # "Cesce slow or failing": the latency
        "CesceFailing",  # ... and the failing calls
        "CesceCredentialsRefused",  # "Credentials"
        "CesceWorkerDown",  # "Not running"
    }
    guide, anchors = OPERATIONS.read_text(encoding="utf-8"), _anchors(OPERATIONS.read_text(encoding="utf-8"))
    variables = worker_variables() | {"KAFKA_STATISTICS_INTERVAL_MS"}
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}, name
        assert name.lower() in anchors, f"docs/operations.md has no section {name} for its runbook_url"
        assert f"`{name}`" in guide or f"#### {name}" in guide
        # every setting a runbook names is one the workers read
        for text in rule["annotations"].values():
            for variable in re.findall(r"\b(?:CESCE|WORKER|KAFKA)_[A-Z_]+\b", text):
                assert variable in variables, f"{name} names {variable}, which no worker reads"


def _rule(rendered_groups: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [rule] = [rule for group in rendered_groups for rule in group["rules"] if rule.get("alert") == name]
    return rule


def test_the_prometheus_rule_ships_the_checked_file_with_runbook_urls(tmp_path: Path) -> None:
    values = all_options()
    rendered = render(values).one("PrometheusRule")
    assert rendered["metadata"]["namespace"] == NAMESPACE
    assert rendered["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # the ruleSelector's
    groups = rendered["spec"]["groups"]
    base = values["prometheusRule"]["runbookBaseUrl"]
    source = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    for group in source:
        for rule in group["rules"]:
            shipped = _rule(groups, rule["alert"])
            assert shipped["annotations"].pop("runbook_url") == f"{base}#{rule['alert'].lower()}"
            assert shipped == rule
    # what Prometheus loads is what promtool checked
    rules_file = tmp_path / "rendered.rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rendered["spec"]["groups"]}), encoding="utf-8")
    checked = run_promtool("check", "rules", rules_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_without_a_runbook_base_the_rules_are_the_file_as_it_is() -> None:
    rendered = render({"prometheusRule": {"enabled": True}}).one("PrometheusRule")
    assert rendered["spec"]["groups"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]


# --- the dashboard ----------------------------------------------------------------------------------------------


def test_the_dashboard_is_a_configmap_with_the_sidecar_s_label() -> None:
    values = all_options()
    rendered = render(values)
    [config_map] = [m for m in rendered.of_kind("ConfigMap") if m["metadata"]["name"].endswith("-dashboard")]
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Cesce"}
    assert json.loads(config_map["data"]["cesce-workers.json"]) == dashboard()
    # the label is overridable, the namespace defaults to the release's
    other = render({"grafanaDashboard": {"enabled": True, "label": "dashboards.example.com/load", "labelValue": "yes"}})
    [config_map] = [m for m in other.of_kind("ConfigMap") if m["metadata"]["name"].endswith("-dashboard")]
    assert config_map["metadata"]["labels"]["dashboards.example.com/load"] == "yes"
    assert "grafana_dashboard" not in config_map["metadata"]["labels"]
    assert config_map["metadata"]["namespace"] == NAMESPACE


def test_the_dashboard_shows_what_the_issue_lists() -> None:
    """Throughput and outcomes per worker, dead letters by category and code, Cesce latency by operation, retries,
    in flight, paused, lag per partition, token renewals (issue 20), and the processing time."""
    by_metric: dict[str, list[str]] = {}
    for panel in dashboard_panels():
        for target in panel["targets"]:
            for name in metric_names(concrete(target["expr"])):
                by_metric.setdefault(name, []).append(target["expr"])
    expected = {
        "cesce_worker_records_total": ["by (worker)", "by (worker, outcome)"],
        "cesce_worker_dead_letters_total": ["by (worker, category, code)"],
        "cesce_client_duration_seconds_bucket": ["by (le, operation)"],
        "cesce_worker_retries_total": ["by (worker, code)"],
        "cesce_client_retries_total": ["by (operation, code)"],
        "cesce_worker_in_flight": ["by (worker)"],
        "cesce_worker_paused": ["by (worker, reason)"],
        "cesce_worker_consumer_lag": ["by (worker, topic, partition)"],
        "cesce_client_token_renewals_total": ["by (grant, outcome)"],
        "messaging_process_duration_seconds_bucket": ["by (le, messaging_destination_name)"],
    }
    for name, groupings in expected.items():
        for grouping in groupings:
            assert any(grouping in expr for expr in by_metric.get(name, [])), f"no panel of {name} {grouping}"
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard_panels())


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= len(dashboard_panels())
    checked = check_parses(queries, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_a_query_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    checked = check_parses([Query("broken", "sum by (worker (rate(cesce_worker_records_total[5m]))")], tmp_path)
    assert checked.returncode != 0
    assert "parse error" in checked.stdout + checked.stderr


def test_metric_names_are_read_out_of_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, operation) (rate(cesce_client_duration_seconds_bucket{status=~"5..|'
        'rate(x)"}[5m]))) > 5'
    ) == {"cesce_client_duration_seconds_bucket"}
    counting = 'sum by (namespace, worker) (a_total{category!="internal"} unless b_total offset 15m) > 0'
    assert metric_names(f'{counting} or up{{worker!=""}} == 0') == {"a_total", "b_total", "up"}
    assert metric_names("sum without (process) (rate(c_total[1m:30s])) / on (worker) group_left d") == {"c_total", "d"}
    assert metric_names("max by (w) (g) and 1e3 < bool h") == {"g", "h"}
    every = {name for query in alert_queries() + dashboard_queries() for name in metric_names(query.expr)}
    assert "cesce_worker_records_total" in every
    assert "le" not in every
    assert "worker" not in every


def test_grafana_variables_are_made_concrete_and_an_unknown_one_refused() -> None:
    assert (
        concrete('rate(x{namespace=~"$namespace", worker=~"${worker}"}[$__rate_interval])')
        == 'rate(x{namespace=~".*", worker=~".*"}[5m])'
    )
    with pytest.raises(ValueError, match=r"\$nowhere"):
        concrete("rate(x[$nowhere])")
    assert DASHBOARD.is_file()
