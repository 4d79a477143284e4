"""Kubernetes manifests (kubernetes=true): valid for Kubernetes and KEDA, and agreeing with the app.

Validated, not applied: no cluster runs here. Every manifest of deploy/kubernetes passes the
Kubernetes schemas of KUBERNETES_VERSION (kubernetes-validate, strict) and KEDA's vendored CRD
schemas; `kubectl kustomize` builds the example overlay. The names, ports, probes, commands and
environment are checked against what the rendered app really serves and reads, and the two
commands the pods run against the database (the wait for migrations, the migrate Job) are run
here against PostgreSQL. The queue-draining test of the worker's command is
tests/test_queue_scaling.py.
"""

import copy as deepcopy
import json
import re
import shlex
import shutil
import uuid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.conftest import Projects
from tests.helpers import TEMPLATE_ROOT, copy, postgres_database, read_env_file, run
from tests.manifests import CONFIG_MAP, DEPLOY, SECRET, base_of, container, documents, find, names
from tests.test_settings import NAMED_READERS
from tests.variants import answers_of, variant_params

# The Kubernetes release whose API schemas the manifests must pass.
KUBERNETES_VERSION = "1.35.0"
KEDA_SCHEMAS = TEMPLATE_ROOT / "tests/schemas/keda-2.20.2"
KEDA_CRDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
# The overlay's secrets file is written from its example and never committed.
SECRETS_FILE = "secrets.env"
PLACEHOLDER = "change-me"

# The pods that serve Prometheus metrics, each on this port (as compose's services do).
OBSERVED = ("api", "relay", "worker")
METRICS_PORT = 9100

KUBERNETES_VARIANTS = [
    param for param in variant_params() if answers_of(str(param.values[0]))["kubernetes"]
]

# Runs in the project's virtual environment with the environment the manifests give the pods.
APP_SCRIPT = """
import json
from app.core.config import Settings
from app.main import app
from app.worker.celery_app import SOFT_SHUTDOWN_TIMEOUT_SECONDS, queue_names

settings = Settings(_env_file=None)
print(json.dumps({
    "routes": sorted(path for path, methods in app.openapi()["paths"].items() if "get" in methods),
    "fields": sorted(name.upper() for name in Settings.model_fields),
    "required": sorted(
        name.upper() for name, field in Settings.model_fields.items() if field.is_required()
    ),
    "time_limit_default": Settings.model_fields["celery_task_time_limit_seconds"].default,
    "time_limit": settings.celery_task_time_limit_seconds,
    "soft_shutdown": SOFT_SHUTDOWN_TIMEOUT_SECONDS,
    "prefix": settings.celery_key_prefix,
    "queues": queue_names(),
    "broker_url": settings.celery_broker_url,
}))
"""


def secrets_example(project: Path) -> dict[str, str]:
    return read_env_file(project / DEPLOY / "overlays/example" / f"{SECRETS_FILE}.example")


def compose_services(project: Path) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    return services


def compose_command(project: Path, service: str) -> list[str]:
    command = compose_services(project)[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def compose_healthcheck(project: Path, service: str) -> list[str]:
    """The healthcheck as the command a pod runs (compose's `$$` is a literal `$`)."""
    test = compose_services(project)[service]["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1].replace("$$", "$")]
    assert test[0] == "CMD"
    return list(test[1:])


@cache
def keda_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((KEDA_SCHEMAS / KEDA_CRDS[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return strict(version["schema"]["openAPIV3Schema"])


def strict(schema: Any) -> Any:
    """The schema refusing fields it does not name, as the API server's strict field validation
    (kubectl's default) refuses them; open maps and preserved fields stay open."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    label = f"{manifest['kind']} {manifest['metadata']['name']}"
    if manifest["apiVersion"].startswith("keda.sh/"):
        assert manifest["apiVersion"] == "keda.sh/v1alpha1", label
        validator = jsonschema.Draft7Validator(keda_schema(manifest["kind"]))
        return [f"{label}: {e.json_path}: {e.message}" for e in validator.iter_errors(manifest)]
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{label}: {'.'.join(map(str, error.path))}: {error.message}"]
    return []


@cache
def facts_of(project: Path) -> dict[str, Any]:
    """What the app makes of the environment the manifests give its pods."""
    return app_facts(project, pod_environment(project))


def app_facts(project: Path, environment: dict[str, str]) -> dict[str, Any]:
    """What the rendered app serves and reads, with this environment on top of the test's (the
    project's .env is not read)."""
    env = {"PATH": str(project / "backend/.venv/bin"), **environment}
    if env.get("SECRET_KEY") == PLACEHOLDER:
        env["SECRET_KEY"] = "x" * 32  # the example's placeholder is too short to load
    listed = run([".venv/bin/python", "-c", APP_SCRIPT], project / "backend", **env)
    facts: dict[str, Any] = json.loads(listed.stdout)
    return facts


def pod_environment(project: Path) -> dict[str, str]:
    """The variables the pods get: the ConfigMap's data and the example overlay's secrets."""
    config = find(base_of(project), "ConfigMap", CONFIG_MAP)["data"]
    return {**config, **secrets_example(project)}


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_manifests_pass_the_kubernetes_and_keda_schemas(projects: Projects, variant: str) -> None:
    project = projects(variant)
    manifests = base_of(project) + documents(project / DEPLOY / "overlays/example")
    assert {"Deployment", "ScaledObject", "TriggerAuthentication"} <= {m["kind"] for m in manifests}

    errors = [error for manifest in manifests for error in schema_errors(manifest)]
    assert errors == []


def test_the_keda_check_refuses_a_misspelt_trigger_field() -> None:
    """The vendored schema is strict enough to matter: a typo in a trigger is caught."""
    scaled_object = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "triggers": [{"type": "redis", "metadata": {"listName": "default"}}],
        },
    }
    assert schema_errors(scaled_object) == []
    misspelt = deepcopy.deepcopy(scaled_object)
    misspelt["spec"]["triggers"][0]["authenticationRefs"] = {"name": "broker"}
    assert schema_errors(misspelt)
    missing = deepcopy.deepcopy(scaled_object)
    del missing["spec"]["scaleTargetRef"]
    assert schema_errors(missing)


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_kustomizations_list_every_file_and_nothing_missing(
    projects: Projects, variant: str
) -> None:
    project = projects(variant)
    for folder in (project / DEPLOY / "base", project / DEPLOY / "overlays/example"):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        listed = kustomization.get("resources", []) + kustomization.get("configurations", [])
        local = {name for name in listed if not name.startswith("..")}
        on_disk = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert local == on_disk, folder
        assert all((folder / name).exists() for name in listed), folder
        for generator in kustomization.get("secretGenerator", []):
            assert generator["name"] == SECRET
            for env_file in generator["envs"]:
                assert env_file == SECRETS_FILE
                assert (folder / f"{env_file}.example").is_file()
                run(["git", "check-ignore", "--quiet", str(folder / env_file)], project)
    overlay = yaml.safe_load((project / DEPLOY / "overlays/example/kustomization.yaml").read_text())
    assert "../../base" in overlay["resources"]


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_the_example_overlay_builds_into_valid_manifests(
    projects: Projects, variant: str, tmp_path: Path
) -> None:
    """`kubectl kustomize` (kustomize built into kubectl) joins the base and the overlay: the
    generated Secret's name, content hash included, reaches every pod and the
    TriggerAuthentication."""
    if shutil.which("kubectl") is None:
        pytest.fail("Building the overlay needs kubectl on PATH", pytrace=False)
    project = projects(variant)
    deploy = shutil.copytree(project / DEPLOY, tmp_path / "kubernetes")
    overlay = deploy / "overlays/example"
    shutil.copy(overlay / f"{SECRETS_FILE}.example", overlay / SECRETS_FILE)
    built = [
        m
        for m in yaml.safe_load_all(run(["kubectl", "kustomize", str(overlay)], tmp_path).stdout)
        if m
    ]

    assert [error for manifest in built for error in schema_errors(manifest)] == []
    (secret,) = [m for m in built if m["kind"] == "Secret"]
    assert secret["metadata"]["name"].startswith(f"{SECRET}-")
    slug = answers_of(variant).get("project_slug", "my_service").replace("_", "-")
    assert {m["metadata"].get("namespace") for m in built if m["kind"] != "Namespace"} == {slug}
    referenced = set()
    for manifest in built:
        if manifest["kind"] in {"Deployment", "Job"}:
            pod = manifest["spec"]["template"]["spec"]
            for each in pod.get("initContainers", []) + pod["containers"]:
                assert each["image"] == f"registry.example.com/{slug}:0.1.0"
                referenced |= {e["secretRef"]["name"] for e in each["envFrom"] if "secretRef" in e}
        if manifest["kind"] == "TriggerAuthentication":
            referenced |= {ref["name"] for ref in manifest["spec"]["secretTargetRef"]}
    assert referenced == {secret["metadata"]["name"]}


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_manifests_name_the_parts_the_app_has(projects: Projects, variant: str) -> None:
    manifests = base_of(projects(variant))
    answers = answers_of(variant)
    deployments = {"api", "worker", "relay"} | ({"beat"} if answers["use_beat"] else set())

    assert names(manifests, "Deployment") == deployments
    assert names(manifests, "Job") == {"migrate"}
    assert names(manifests, "ConfigMap") == {CONFIG_MAP}
    assert names(manifests, "Secret") == set()  # made by the overlay from its git-ignored file
    assert names(manifests, "Service") == {"api"}
    assert names(manifests, "HorizontalPodAutoscaler") == {"api"}
    assert names(manifests, "ScaledObject") == {"worker"}
    assert names(manifests, "TriggerAuthentication") == {"broker"}
    # Beat's single pod has none: a budget keeping it up would block every node drain.
    assert names(manifests, "PodDisruptionBudget") == {"api", "worker", "relay"}

    labels = {
        name: find(manifests, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        for name in deployments
    }
    for name in deployments:
        selector = find(manifests, "Deployment", name)["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels[name].items()
    for budget in (m for m in manifests if m["kind"] == "PodDisruptionBudget"):
        assert (
            budget["spec"]["selector"]["matchLabels"].items()
            <= labels[budget["metadata"]["name"]].items()
        )
    service = find(manifests, "Service", "api")
    assert service["spec"]["selector"].items() <= labels["api"].items()
    assert find(manifests, "HorizontalPodAutoscaler", "api")["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    assert find(manifests, "ScaledObject", "worker")["spec"]["scaleTargetRef"]["name"] == "worker"
    # The autoscalers own the replicas: a count in the Deployment would be reset by every apply.
    assert "replicas" not in find(manifests, "Deployment", "api")["spec"]
    assert "replicas" not in find(manifests, "Deployment", "worker")["spec"]
    for name in {"api", "worker", "relay"}:
        rollout = find(manifests, "Deployment", name)["spec"]["strategy"]
        assert rollout["rollingUpdate"]["maxUnavailable"] == 0
    if answers["use_beat"]:
        beat = find(manifests, "Deployment", "beat")["spec"]
        assert beat["replicas"] == 1
        assert beat["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_pods_run_compose_commands_ports_and_probes(projects: Projects, variant: str) -> None:
    """Each pod runs compose's command for its service (the worker adds only its concurrency),
    on the API's port, probed on routes the app serves and as compose checks health."""
    project = projects(variant)
    manifests = base_of(project)
    facts = facts_of(project)

    api = container(find(manifests, "Deployment", "api"))
    assert api["command"] == compose_command(project, "api")
    port = int(api["command"][api["command"].index("--port") + 1])
    dockerfile = (project / "backend/Dockerfile").read_text()
    assert f"EXPOSE {port}\n" in dockerfile
    assert f'"--port", "{port}"' in dockerfile
    assert api["ports"] == [
        {"name": "http", "containerPort": port},
        {"name": "metrics", "containerPort": METRICS_PORT},
    ]
    service_ports = find(manifests, "Service", "api")["spec"]["ports"]
    assert [p["targetPort"] for p in service_ports] == ["http"]
    probes = {kind: api[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/health/ready"  # checks the database and results
    assert probes["livenessProbe"]["path"] == "/health"
    assert {probe["path"] for probe in probes.values()} <= set(facts["routes"])
    assert {probe["port"] for probe in probes.values()} == {"http"}

    worker = container(find(manifests, "Deployment", "worker"))
    compose_worker = compose_command(project, "worker")
    assert worker["command"][: len(compose_worker)] == compose_worker
    cpus = worker["resources"]["limits"]["cpu"]
    assert worker["command"][len(compose_worker) :] == [f"--concurrency={int(cpus)}"]
    ping = compose_healthcheck(project, "worker")
    assert worker["readinessProbe"]["exec"]["command"] == ping
    assert worker["livenessProbe"]["exec"]["command"] == ping

    relay = container(find(manifests, "Deployment", "relay"))
    assert relay["command"] == compose_command(project, "relay")
    heartbeat = compose_healthcheck(project, "relay")
    assert relay["readinessProbe"]["exec"]["command"] == heartbeat
    assert relay["livenessProbe"]["exec"]["command"] == heartbeat

    assert container(find(manifests, "Job", "migrate"))["command"] == compose_command(
        project, "migrate"
    )
    if answers_of(variant)["use_beat"]:
        beat = container(find(manifests, "Deployment", "beat"))
        assert beat["command"] == compose_command(project, "beat")
        assert beat["livenessProbe"]["exec"]["command"] == compose_healthcheck(project, "beat")


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_pods_get_every_setting_they_need_and_nothing_unread(
    projects: Projects, variant: str
) -> None:
    """The ConfigMap holds settings, the Secret settings or KEDA's broker credentials; together
    they load in the app, give what has no default and replace every local address."""
    project = projects(variant)
    manifests = base_of(project)
    config = find(manifests, "ConfigMap", CONFIG_MAP)["data"]
    secrets = secrets_example(project)
    facts = facts_of(project)
    keda_keys = {
        ref["key"]
        for ref in find(manifests, "TriggerAuthentication", "broker")["spec"]["secretTargetRef"]
    }

    assert sorted(set(config) - set(facts["fields"]) - set(NAMED_READERS)) == []
    assert sorted(set(secrets) - set(facts["fields"]) - keda_keys) == []
    assert keda_keys <= set(secrets)
    assert set(config).isdisjoint(secrets)
    assert sorted(set(facts["required"]) - set(config) - set(secrets)) == []
    example = read_env_file(project / ".env.example")
    local_addresses = {
        name
        for name, value in example.items()
        if name in facts["fields"] and re.search(r"127\.0\.0\.1|localhost", value)
    }
    assert sorted(local_addresses - set(config) - set(secrets)) == []
    assert all("127.0.0.1" not in value for value in {**config, **secrets}.values())

    for kind in ("Deployment", "Job"):
        for manifest in (m for m in manifests if m["kind"] == kind):
            pod = manifest["spec"]["template"]["spec"]
            for each in pod.get("initContainers", []) + pod["containers"]:
                assert each["envFrom"] == [
                    {"configMapRef": {"name": CONFIG_MAP}},
                    {"secretRef": {"name": SECRET}},
                ], each["name"]
                # Only what differs by pod: the observed containers' metrics and service name.
                own = {variable["name"] for variable in each.get("env", [])}
                if each["name"] in OBSERVED:
                    assert sorted(own - set(facts["fields"]) - set(NAMED_READERS)) == []
                else:
                    assert own == set(), each["name"]


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_observed_pods_serve_metrics_as_compose_does_and_invite_scraping(
    projects: Projects, variant: str
) -> None:
    """The API, relay and worker pods: Prometheus's scrape annotations name the container's
    `metrics` port, which no Service exposes; the metrics settings are compose's, and the
    multiprocess folder is an emptyDir of its own."""
    project = projects(variant)
    manifests = base_of(project)
    problems = []
    for name in OBSERVED:
        deployment = find(manifests, "Deployment", name)
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations != {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        }:
            problems.append(f"{name}: scrape annotations {annotations}")
        each = container(deployment)
        if {"name": "metrics", "containerPort": METRICS_PORT} not in each.get("ports", []):
            problems.append(f"{name}: no containerPort named metrics")
        env = {variable["name"]: variable["value"] for variable in each.get("env", [])}
        compose_env = compose_services(project)[name]["environment"]
        expected = {
            key: str(compose_env[key])
            for key in (
                "METRICS_PORT",
                "METRICS_HOST",
                "PROMETHEUS_MULTIPROC_DIR",
                "OTEL_SERVICE_NAME",
            )
        }
        if env != expected:
            problems.append(f"{name}: env {env}, compose gives {expected}")
        pod = deployment["spec"]["template"]["spec"]
        scratch = {v["name"] for v in pod.get("volumes", []) if v.get("emptyDir") == {}}
        mounts = {m["mountPath"]: m["name"] for m in each.get("volumeMounts", [])}
        folder = env.get("PROMETHEUS_MULTIPROC_DIR")
        if mounts.get(folder) not in scratch or mounts.get(folder) == mounts.get("/tmp"):
            problems.append(f"{name}: {folder} is no emptyDir of its own")
    for service in (m for m in manifests if m["kind"] == "Service"):
        targets = {port["targetPort"] for port in service["spec"]["ports"]}
        if targets & {"metrics", METRICS_PORT}:
            problems.append(f"Service {service['metadata']['name']} exposes the metrics port")
    assert problems == []


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_worker_shutdown_outlasts_the_task_time_limit(projects: Projects, variant: str) -> None:
    """A rollout or scale-down is a warm shutdown: running tasks finish before the pod is killed."""
    project = projects(variant)
    facts = facts_of(project)
    worker = find(base_of(project), "Deployment", "worker")["spec"]["template"]["spec"]
    grace = worker["terminationGracePeriodSeconds"]

    assert facts["time_limit"] == int(pod_environment(project)["CELERY_TASK_TIME_LIMIT_SECONDS"])
    assert grace > facts["time_limit"] + facts["soft_shutdown"]
    assert grace > facts["time_limit_default"]


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_the_scaler_reads_the_queues_the_worker_consumes(projects: Projects, variant: str) -> None:
    """One trigger per queue, named as Celery names it for the ConfigMap's key prefix.

    Redis: kombu prefixes every key again (global_keyprefix), so a queue's list is
    prefix + prefix + queue (tests/test_queue_scaling.py enqueues and reads it for real).
    """
    project = projects(variant)
    manifests = base_of(project)
    facts = facts_of(project)
    triggers = find(manifests, "ScaledObject", "worker")["spec"]["triggers"]
    prefix = facts["prefix"]

    assert {trigger["authenticationRef"]["name"] for trigger in triggers} == {"broker"}
    if answers_of(variant)["broker"] == "redis":
        assert {trigger["type"] for trigger in triggers} == {"redis"}
        lists = sorted(trigger["metadata"]["listName"] for trigger in triggers)
        assert lists == [f"{prefix}{prefix}{queue}" for queue in facts["queues"]]
        database = urlsplit(facts["broker_url"]).path.lstrip("/") or "0"
        assert {trigger["metadata"]["databaseIndex"] for trigger in triggers} == {database}
        address = secrets_example(project)["REDIS_ADDRESS"]
        assert address == urlsplit(facts["broker_url"]).netloc.rsplit("@", 1)[1]
    else:
        assert {trigger["type"] for trigger in triggers} == {"rabbitmq"}
        queues = sorted(trigger["metadata"]["queueName"] for trigger in triggers)
        assert queues == [f"{prefix}{queue}" for queue in facts["queues"]]
        assert {trigger["metadata"]["mode"] for trigger in triggers} == {"QueueLength"}
        (host,) = find(manifests, "TriggerAuthentication", "broker")["spec"]["secretTargetRef"]
        assert (host["parameter"], host["key"]) == ("host", "CELERY_BROKER_URL")


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_pods_run_unprivileged_with_bounded_resources(projects: Projects, variant: str) -> None:
    project = projects(variant)
    user = re.search(r"^USER (\d+):(\d+)$", (project / "backend/Dockerfile").read_text(), re.M)
    assert user
    uid, gid = map(int, user.groups())
    problems = []
    for manifest in base_of(project):
        if manifest["kind"] not in {"Deployment", "Job"}:
            continue
        pod = manifest["spec"]["template"]["spec"]
        name = f"{manifest['kind']} {manifest['metadata']['name']}"
        expected_pod = {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": gid,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        if pod["securityContext"] != expected_pod:
            problems.append(f"{name}: pod securityContext")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token")
        scratch = {v["name"] for v in pod.get("volumes", []) if v.get("emptyDir") == {}}
        for each in pod.get("initContainers", []) + pod["containers"]:
            label = f"{name}/{each['name']}"
            if each.get("securityContext") != {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }:
                problems.append(f"{label}: container securityContext")
            resources = each.get("resources", {})
            for bound in ("requests", "limits"):
                if set(resources.get(bound, {})) != {"cpu", "memory"}:
                    problems.append(f"{label}: {bound}")
        for each in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in each.get("volumeMounts", [])}
            if mounts.get("/tmp") not in scratch:
                problems.append(f"{name}/{each['name']}: no emptyDir on /tmp")
    assert problems == []


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_no_secret_value_is_committed(projects: Projects, variant: str) -> None:
    """The secrets example holds placeholders only, credentials in URLs too, and the manifests
    no Secret and no secret-looking key."""
    project = projects(variant)
    secrets = secrets_example(project)
    assert secrets
    for key, value in secrets.items():
        if "://" in value:
            password = urlsplit(value).password
            assert password in {None, PLACEHOLDER}, key
        elif re.search(r"SECRET|PASSWORD|USER", key):
            assert value == PLACEHOLDER, key
    config = find(base_of(project), "ConfigMap", CONFIG_MAP)["data"]
    # A service's URL can hold its credentials; the front end's address, which emails link to, not.
    credentials = [key for key in config if re.search(r"SECRET|PASSWORD|_URL$", key)]
    assert credentials == ["FRONTEND_URL"]
    committed = run(["git", "ls-files", str(DEPLOY)], project).stdout.split()
    assert f"{DEPLOY}/overlays/example/{SECRETS_FILE}.example" in committed
    assert f"{DEPLOY}/overlays/example/{SECRETS_FILE}" not in committed
    committed_kinds = {
        document["kind"]
        for name in committed
        if name.endswith(".yaml")
        for document in yaml.safe_load_all((project / name).read_text())
        if document and "kind" in document
    }
    assert "Deployment" in committed_kinds
    assert "Secret" not in committed_kinds


@pytest.mark.parametrize("variant", KUBERNETES_VARIANTS)
def test_pods_wait_for_the_migrate_job(projects: Projects, variant: str) -> None:
    """Each pod's wait-for-migrations check, run here against PostgreSQL: it fails on a database
    the migrate Job's command has not reached, and passes once that command has run."""
    project = projects(variant)
    manifests = base_of(project)
    checks = {
        " ".join(init["command"])
        for m in manifests
        if m["kind"] == "Deployment"
        for init in m["spec"]["template"]["spec"]["initContainers"]
    }
    (wait,) = checks  # every Deployment waits the same way
    loop = re.fullmatch(r"sh -c until (.+); do (.+); done", wait)
    assert loop, wait
    check = ["sh", "-c", loop[1]]
    migrate = container(find(manifests, "Job", "migrate"))["command"]
    backend = project / "backend"
    path = f"{backend / '.venv/bin'}:/usr/bin:/bin"

    with postgres_database(f"k8s_check_{uuid.uuid4().hex[:10]}") as url:
        before = run(check, backend, check=False, PATH=path, DATABASE_URL=url)
        run(migrate, backend, PATH=path, DATABASE_URL=url)
        after = run(check, backend, check=False, PATH=path, DATABASE_URL=url)

    assert before.returncode != 0, before.stdout + before.stderr
    assert after.returncode == 0, after.stdout + after.stderr


def test_kubernetes_needs_postgresql(copie: Copie) -> None:
    with pytest.raises(ValueError, match="Kubernetes needs PostgreSQL"):
        copy(copie, database="sqlite", kubernetes=True)
    assert [path for path in copie.test_dir.rglob("*") if path.is_file()] == []
