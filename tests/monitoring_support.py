"""The chart's alert rules and Grafana dashboard as PromQL: their queries, Grafana's variables made concrete,
the metric names each query reads, and promtool to check them (tests/unit/deployment/test_monitoring.py; the
names are checked against a real ``/metrics`` scrape in tests/integration/observability/test_metrics_scrape.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

REPO: Final = Path(__file__).resolve().parents[1]
CHART_FILES: Final = REPO / "helm" / "cesce-workers" / "files"
ALERTS: Final = CHART_FILES / "alerts.yaml"
DASHBOARD: Final = CHART_FILES / "dashboard.json"
ALERTS_TEST: Final = REPO / "tests" / "fixtures" / "promtool" / "alerts_test.yaml"
NOT_EXPORTED: Final = frozenset({"up"})
"""Names Prometheus makes itself for every target: not the workers' to export."""

GRAFANA_VARIABLES: Final = {
    "__rate_interval": "5m",
    "__range": "6h",
    "__interval": "1m",
    "namespace": ".*",
    "worker": ".*",
}
"""What Grafana puts in place of each variable the dashboard uses: the built-in intervals, and the "All" value of
its own variables (allValue ``.*``). A query with any other variable fails `concrete`."""

_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"inf", "nan", "atan2", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?!\w)(\s*\()?")


@dataclass(frozen=True)
class Query:
    where: str
    """The panel or rule it comes from."""
    expr: str


def concrete(expr: str) -> str:
    """`expr` with Grafana's variables replaced by what Grafana would send (`GRAFANA_VARIABLES`)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise ValueError(f"unknown dashboard variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label matchers, range and
    subquery brackets and grouping clauses are taken out, that are not called (functions, aggregations) nor
    keywords. Good for the expressions of this chart (`test_metric_names_are_read_out_of_promql` says which)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, called = match.group(1), match.group(2)
        if called or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def alert_rules(path: Path = ALERTS) -> list[dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_queries() -> list[Query]:
    return [Query(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[Query]:
    """Every panel target's query and the selector of every ``label_values(<selector>, <label>)`` variable, with
    Grafana's variables made concrete."""
    found = [
        Query(f"panel {panel['title']!r} {target['refId']}", concrete(target["expr"]))
        for panel in dashboard_panels()
        for target in panel["targets"]
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        selector = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert selector, f"variable {variable['name']}: {query!r} is not label_values(<selector>, <label>)"
        found.append(Query(f"variable {variable['name']}", concrete(selector.group(1))))
    return found


def promtool() -> str:
    """promtool's path, or the test is skipped saying how to install it (CI installs it)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed: apt-get install prometheus (Debian ships /usr/bin/promtool)")
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def check_parses(queries: list[Query], directory: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on a throwaway rules file holding each query as a recording rule: Prometheus's
    own parser, offline."""
    rules = [{"record": f"check:query_{n}", "expr": query.expr} for n, query in enumerate(queries)]
    path = directory / "queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}), encoding="utf-8")
    return run_promtool("check", "rules", path)
