"""The dashboard and the alert rules ask only for metrics the app exports.

A metric renamed in app/core/metrics.py would otherwise leave an empty panel or an alert
that can never fire, with nothing to say so.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from app.core import metrics
from app.core.config import PROJECT_ROOT

OBSERVABILITY = PROJECT_ROOT / "deploy" / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yml"

# The series each metric type adds to its family's name, as Prometheus scrapes them.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
# Prometheus's own series about each scrape.
PROMETHEUS_SERIES = {"up"}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right"}


def exported() -> set[str]:
    return PROMETHEUS_SERIES | {
        family.name + suffix
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
        for suffix in SUFFIXES[family.type]
    }


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    expression = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)  # strings
    expression = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expression)  # label matchers, ranges
    expression = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expression)
    names = re.findall(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", expression)
    return {name for name in names if name.lower() not in PROMQL_KEYWORDS}


def dashboard_expressions(panel: dict[str, Any]) -> Iterator[str]:
    for target in panel.get("targets", []):
        yield target["expr"]
    for inner in panel.get("panels", []):  # a row's panels
        yield from dashboard_expressions(inner)


def expressions() -> dict[str, str]:
    """Each PromQL expression of the dashboards and the alert rules, by where it is."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for number, expression in enumerate(dashboard_expressions(dashboard)):
            found[f"{path.name}, query {number + 1}"] = expression
    found.update(alert_expressions())
    return found


def alert_expressions() -> dict[str, str]:
    """Each rule's `expr` in the alert rules, by the rule's name."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {
        f"{ALERTS.name}, {rule.get('alert') or rule['record']}": rule["expr"]
        for group in groups
        for rule in group["rules"]
    }


def test_the_expression_parser_finds_metrics_and_skips_the_rest() -> None:
    expression = (
        'histogram_quantile(0.95, sum by (route, le) (rate(http_x_bucket{status=~"5.."}'
        '[$__rate_interval]))) > 0 or absent(up{job="worker"}) unless on (task) other_total'
    )
    assert metric_names(expression) == {"http_x_bucket", "up", "other_total"}


def test_dashboards_and_alerts_use_only_exported_metrics() -> None:
    known = exported()
    found = expressions()
    assert len(found) > len(alert_expressions()), f"no dashboard found in {DASHBOARDS}"
    unknown = [
        f"{where}: {name}"
        for where, expression in found.items()
        for name in sorted(metric_names(expression) - known)
    ]
    assert unknown == [], "metrics that app.core.metrics does not export:\n" + "\n".join(unknown)
