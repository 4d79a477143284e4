"""Observability of a generated project, checked statically: the alert rules pass promtool
(their syntax and their own unit tests), and compose's `observability` profile scrapes what the
app services serve, shows it on loopback only, and publishes no metrics port anywhere."""

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import run

pytestmark = pytest.mark.xdist_group("default")

PROMETHEUS = Path("deploy/observability/prometheus")
GRAFANA = Path("deploy/observability/grafana")
OBSERVED = {"api", "relay", "worker"}
PROFILE = {"jaeger", "prometheus", "grafana"}


def compose(project: Path, name: str = "compose.yaml") -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((project / name).read_text())["services"]
    return services


def promtool(project: Path, *args: str) -> None:
    """Run promtool in the rules' folder; on failure the assertion carries its whole output."""
    completed = run(["promtool", *args], project / PROMETHEUS, check=False)
    assert completed.returncode == 0, (
        f"promtool {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}"
    )


def test_alert_rules_and_prometheus_config_pass_promtool(default_project: Path) -> None:
    promtool(default_project, "check", "config", "prometheus.yml")  # and the rules it loads
    promtool(default_project, "test", "rules", "alerts.test.yml")


def test_every_alert_is_unit_tested_and_explained(default_project: Path) -> None:
    rules = yaml.safe_load((default_project / PROMETHEUS / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((default_project / PROMETHEUS / "alerts.test.yml").read_text())
    checks = [check for test in tests["tests"] for check in test["alert_rule_test"]]

    firing = {check["alertname"] for check in checks if check["exp_alerts"]}
    quiet = {check["alertname"] for check in checks if not check["exp_alerts"]}
    assert sorted(set(alerts) - firing) == []
    assert sorted(set(alerts) - quiet) == []
    unexplained = [
        name
        for name, rule in alerts.items()
        if not {"summary", "description"} <= set(rule.get("annotations", {}))
    ]
    assert unexplained == []
    readme = (default_project / "README.md").read_text()
    assert [name for name in alerts if f"`{name}`" not in readme] == []


def test_the_profile_scrapes_each_app_service_where_it_serves(default_project: Path) -> None:
    services = compose(default_project)
    config = yaml.safe_load((default_project / PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"] for job in config["scrape_configs"]}

    assert set(jobs) == OBSERVED
    for name in OBSERVED:
        environment = services[name]["environment"]
        assert jobs[name] == [
            {"names": [name], "type": "A", "port": int(environment["METRICS_PORT"])}
        ]
        assert environment["METRICS_HOST"] == "0.0.0.0"
        assert environment["OTEL_SERVICE_NAME"] == name
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"
        assert environment["PROMETHEUS_MULTIPROC_DIR"] in services[name]["tmpfs"]
    assert (
        "./deploy/observability/prometheus:/etc/prometheus:ro"
        in (services["prometheus"]["volumes"])
    )


def test_the_profile_stays_on_loopback_and_asks_for_no_password(default_project: Path) -> None:
    services = compose(default_project)

    assert {name for name, s in services.items() if "profiles" in s} == PROFILE
    for name in PROFILE:
        assert services[name]["profiles"] == ["observability"]
        assert "healthcheck" in services[name]
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana["GF_AUTH_DISABLE_LOGIN_FORM"] == "true"
    assert grafana["GF_AUTH_BASIC_ENABLED"] == "false"
    assert not [key for key in grafana if "PASSWORD" in key]
    datasources = yaml.safe_load(
        (default_project / GRAFANA / "provisioning/datasources/prometheus.yml").read_text()
    )
    assert [source["url"] for source in datasources["datasources"]] == ["http://prometheus:9090"]


def test_just_observability_sends_traces_to_the_profiles_jaeger(default_project: Path) -> None:
    dry_run = run(["just", "--dry-run", "observability"], default_project).stderr
    (line,) = [line for line in dry_run.splitlines() if "docker compose" in line]
    variables = dict(word.split("=", 1) for word in shlex.split(line) if "=" in word)

    assert variables["COMPOSE_PROFILES"] == "observability"
    host, port = re.fullmatch(
        r"http://(\w+):(\d+)", variables["OTEL_EXPORTER_OTLP_ENDPOINT"]
    ).groups()
    assert host == "jaeger"
    assert any(p.endswith(f":{port}") for p in compose(default_project)["jaeger"]["ports"])
    stop = run(["just", "--dry-run", "stop"], default_project).stderr
    assert "COMPOSE_PROFILES=observability" in stop  # or `down` leaves the profile running


def test_no_metrics_port_is_published_or_proxied_in_production(default_project: Path) -> None:
    services = compose(default_project, "compose.prod.yaml")
    for name in OBSERVED:
        environment = services[name]["environment"]
        assert environment["METRICS_HOST"] == "0.0.0.0"
        assert environment["PROMETHEUS_MULTIPROC_DIR"] in services[name]["tmpfs"]
        assert "/tmp" in services[name]["tmpfs"]
    port = services["api"]["environment"]["METRICS_PORT"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert [p for p in published if re.search(rf"\b{port}\b", str(p))] == []
    assert port not in (default_project / "deploy/caddy/Caddyfile").read_text()
