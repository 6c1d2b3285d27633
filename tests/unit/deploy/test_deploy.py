"""deploy/ is what operators run: it must parse, wire the processes as documented, and
query only metrics the service exposes. kubernetes-validate (a dev dependency) checks
the manifests against the Kubernetes schema, and promtool (Debian's prometheus package,
which .ci/run installs) the rules, the alert unit tests, the Prometheus config and the
dashboard's PromQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from worker.metrics.specs import ALL_METRICS
from worker.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
K8S = DEPLOY / "k8s"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "scimsync-dashboard.json"
METRIC_NAME = re.compile(r"\bscimsync_[a-zA-Z0-9_]+")
DURATION = re.compile(r"^\d+[smhd]$")
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s (the Kustomization itself is not one)."""
    paths = sorted(set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"})
    return [doc for path in paths for doc in load_all(path)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def exposed_series_names() -> set[str]:
    """What PromQL can select: counters by their `_total` name, histograms by their
    `_bucket`/`_sum`/`_count` series, gauges as they are."""
    return {spec.name + suffix for spec in ALL_METRICS for suffix in SUFFIXES[spec.kind]}


def dashboard_queries() -> Iterator[str]:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition") and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return walk(json.loads(DASHBOARD.read_text()))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_all(ALERTS)[0]["groups"] for rule in group["rules"]]


def test_every_deploy_file_parses() -> None:
    yaml_files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    assert len(yaml_files) >= 12
    for path in yaml_files:
        assert load_all(path), f"{path} is empty"
    assert json.loads(DASHBOARD.read_text())["panels"]


# --- Docker Compose ------------------------------------------------------------------


def test_compose_runs_every_process_after_the_migration() -> None:
    services = load_all(DEPLOY / "docker-compose.yml")[0]["services"]

    commands = {name: " ".join(service.get("command", [])) for name, service in services.items()}
    assert commands["api"] == "scimsync api"
    assert commands["worker"] == "scimsync worker"
    assert commands["beat"] == "scimsync beat"
    assert commands["migrate"] == "scimsync db upgrade"
    assert commands["flower"].startswith("scimsync flower")  # read-only, auth required
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "beat"):
        needs = services[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}, name
        assert needs["postgres"] == needs["redis"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_compose_publishes_every_port_on_loopback_unless_told_otherwise() -> None:
    """Issue 16 item 2: nothing is reachable from other hosts by default."""
    services = load_all(DEPLOY / "docker-compose.yml")[0]["services"]
    published = [
        (name, port) for name, service in services.items() for port in service.get("ports", [])
    ]
    assert {name for name, _ in published} >= {"api", "flower"}
    for name, port in published:
        assert str(port).startswith("${SCIMSYNC_PUBLISH_ADDRESS:-127.0.0.1}:"), (name, port)


def test_no_deploy_file_ships_a_working_default_password() -> None:
    """Every secret in deploy/ is a placeholder the production check refuses, never a
    value that would work as is (the postgres password used to default to `scimsync`)."""
    from worker.safety import is_placeholder

    compose = (DEPLOY / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:-" not in compose
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "scimsync.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["SCIMSYNC_ENVIRONMENT"] == "production"
    for name in ("SCIMSYNC_OPERATOR_TOKEN", "SCIMSYNC_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert is_placeholder(env[name]), name
    assert is_placeholder(env["FLOWER_BASIC_AUTH"].split(":", 1)[1])
    assert is_placeholder(env["GF_SECURITY_ADMIN_PASSWORD"])
    config = of_kind("ConfigMap")["scimsync-config"]["data"]
    assert config["SCIMSYNC_ENVIRONMENT"] == "production"
    assert "SCIMSYNC_ENVIRONMENT=production" in (DEPLOY / "Dockerfile").read_text()
    flower = of_kind("Deployment")["scimsync-flower"]["spec"]["template"]["spec"]
    assert flower["containers"][0]["command"][:2] == ["scimsync", "flower"]


def test_compose_health_checks_probe_what_matters() -> None:
    services = load_all(DEPLOY / "docker-compose.yml")[0]["services"]

    def check(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    assert "/readyz" in check("api")
    assert "redis-cli ping" in check("redis")
    assert "pg_isready" in check("postgres")
    assert "/healthcheck" in check("flower")


def test_compose_builds_the_image_and_reads_the_example_env() -> None:
    api = load_all(DEPLOY / "docker-compose.yml")[0]["services"]["api"]

    assert (DEPLOY / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    assert "FROM python:3.11-slim" in (DEPLOY / "Dockerfile").read_text()
    env_files = [entry["path"] for entry in api["env_file"]]
    assert (DEPLOY / env_files[0]).name == "scimsync.env.example"
    assert (DEPLOY / env_files[0]).is_file()


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    text = (DEPLOY / "scimsync.env.example").read_text()
    documented = set(re.findall(r"^#? ?(SCIMSYNC_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    settings = {f"SCIMSYNC_{name.upper()}" for name in Settings.model_fields}

    assert documented == settings
    assert re.search(r"^FLOWER_BASIC_AUTH=\S+:\S+$", text, flags=re.MULTILINE)
    for line in text.splitlines():
        assert not line or line.startswith("#") or re.match(r"^[A-Z0-9_]+=\S*$", line), line


# --- Kubernetes ---------------------------------------------------------------------


def test_k8s_has_every_piece_of_the_deployment() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests()}

    for name in ("scimsync-api", "scimsync-worker", "scimsync-beat", "scimsync-flower"):
        assert ("Deployment", name) in kinds
    assert {("Service", "scimsync-api"), ("Service", "scimsync-flower")} <= kinds
    assert {
        ("PodDisruptionBudget", "scimsync-api"),
        ("PodDisruptionBudget", "scimsync-worker"),
    } <= kinds
    assert {("Job", "scimsync-migrate"), ("ConfigMap", "scimsync-config")} <= kinds
    assert ("ScaledObject", "scimsync-worker") in kinds


def test_k8s_runs_exactly_one_beat_and_two_ready_checked_apis() -> None:
    deployments = of_kind("Deployment")
    beat, api = deployments["scimsync-beat"]["spec"], deployments["scimsync-api"]["spec"]

    assert beat["replicas"] == 1
    assert beat["strategy"]["type"] == "Recreate"
    assert api["replicas"] == 2
    container = api["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_selectors_match_the_pods_they_mean() -> None:
    pods = {
        name: deployment["spec"]["template"]["metadata"]["labels"]
        for name, deployment in of_kind("Deployment").items()
    }
    for name, deployment in of_kind("Deployment").items():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
    for name, service in of_kind("Service").items():
        assert service["spec"]["selector"].items() <= pods[name].items(), name
    for name, budget in of_kind("PodDisruptionBudget").items():
        assert budget["spec"]["selector"]["matchLabels"].items() <= pods[name].items(), name


def test_k8s_pods_read_the_config_map_and_the_secret() -> None:
    workloads = [*of_kind("Deployment").values(), *of_kind("Job").values()]
    for workload in workloads:
        container = workload["spec"]["template"]["spec"]["containers"][0]
        refs = json.dumps(container.get("envFrom", [])) + json.dumps(container.get("env", []))
        assert "scimsync-config" in refs, workload["metadata"]["name"]
        assert "scimsync-secrets" in refs, workload["metadata"]["name"]
    job = of_kind("Job")["scimsync-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["scimsync", "db", "upgrade"]
    config = of_kind("ConfigMap")["scimsync-config"]["data"]
    assert {key.removeprefix("SCIMSYNC_").lower() for key in config} <= set(Settings.model_fields)


def test_workers_scale_on_the_celery_queue() -> None:
    scaled = of_kind("ScaledObject")["scimsync-worker"]["spec"]

    assert scaled["scaleTargetRef"]["name"] in of_kind("Deployment")
    assert scaled["scaleTargetRef"]["name"] == "scimsync-worker"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "scimsync"
    assert int(trigger["metadata"]["listLength"]) > 0


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    resources = set(load_all(K8S / "kustomization.yaml")[0]["resources"])
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}

    assert resources == files - {"secret.example.yaml"}


def test_k8s_manifests_match_the_kubernetes_schema() -> None:
    for doc in manifests():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # CRDs: no schema bundled
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


# --- Prometheus and Grafana ---------------------------------------------------------------


def test_alert_rules_are_well_formed() -> None:
    rules = alert_rules()
    alerts = [rule for rule in rules if "alert" in rule]

    assert len(alerts) >= 6
    for rule in rules:
        assert rule["expr"].strip()
        assert ("alert" in rule) != ("record" in rule)
    for alert in alerts:
        assert DURATION.match(alert["for"]), alert["alert"]
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names))
    for required in (
        "WorkerDown",
        "DeadLetters",
        "ApplyStalled",
        "ReconcileFailing",
        "ReconcileStale",
        "DriftSpike",
        "Ingest5xx",
    ):
        assert f"ScimSync{required}" in names


def test_alerts_and_dashboard_query_only_metrics_that_exist() -> None:
    queries = [rule["expr"] for rule in alert_rules()] + list(dashboard_queries())
    referenced = {name for query in queries for name in METRIC_NAME.findall(query)}

    assert len(referenced) >= 15
    assert referenced - exposed_series_names() == set()


def test_dashboard_panels_use_the_data_source_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]

    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


promtool = shutil.which("promtool")
# CI always has it (.ci/run installs it), so there a missing promtool fails the checks;
# elsewhere `apt-get install --no-install-recommends prometheus` brings it.
needs_promtool = pytest.mark.skipif(
    promtool is None and not os.environ.get("CI"),
    reason="promtool is not on PATH: apt-get install --no-install-recommends prometheus",
)


def run_promtool(*args: str) -> None:
    assert promtool is not None, "promtool is not on PATH (.ci/run installs it)"
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_rules_and_the_config() -> None:
    run_promtool("check", "rules", str(ALERTS))
    run_promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))


@needs_promtool
def test_alerts_fire_as_their_unit_tests_expect() -> None:
    run_promtool("test", "rules", str(DEPLOY / "prometheus" / "alerts.test.yml"))


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    grafana_variables = {"$__rate_interval": "5m", "$tenant": ".*"}
    exprs = []
    for query in dashboard_queries():
        for variable, value in grafana_variables.items():
            query = query.replace(variable, value)
        if not query.startswith("label_values("):  # a Grafana function, not PromQL
            exprs.append(query)
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    run_promtool("check", "rules", str(path))
