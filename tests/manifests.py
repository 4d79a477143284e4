"""The rendered Kubernetes manifests, read as the tests need them."""

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path("deploy/kubernetes")
CONFIG_MAP = "backend-config"
SECRET = "backend-secrets"


def documents(folder: Path) -> list[dict[str, Any]]:
    """Every YAML document of the folder's manifests (kustomize's own files aside)."""
    return [
        document
        for path in sorted(folder.glob("*.yaml"))
        if path.name not in {"kustomization.yaml", "kustomizeconfig.yaml"}
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def names(manifests: list[dict[str, Any]], kind: str) -> set[str]:
    return {m["metadata"]["name"] for m in manifests if m["kind"] == kind}


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def base_of(project: Path) -> list[dict[str, Any]]:
    return documents(project / DEPLOY / "base")
