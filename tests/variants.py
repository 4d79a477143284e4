"""The answer sets the suite renders, and what each disabled option must leave no trace of."""

from typing import Any

import pytest

VARIANTS: dict[str, dict[str, Any]] = {
    # Any two answers to two questions meet in at least one project (a pairwise covering array,
    # checked by tests/test_variants.py): a bug that needs two options at once shows up without
    # rendering every combination.
    # Kubernetes needs PostgreSQL (copier.yml refuses it with SQLite), so that pair is left out.
    #                        database   broker    beat   flower kubernetes
    "default": {},  #        postgresql redis     off    off    off   (Python 3.13)
    "kubernetes": {"kubernetes": True},
    "all_on": {  #           sqlite     rabbitmq  on     on     off   (Python 3.13)
        "database": "sqlite",
        "broker": "rabbitmq",
        "use_beat": True,
        "use_flower": True,
    },
    "py311_beat_flower_k8s": {
        "python_version": "3.11",
        "use_beat": True,
        "use_flower": True,
        "kubernetes": True,
    },
    "py311_sqlite_rabbitmq": {"python_version": "3.11", "database": "sqlite", "broker": "rabbitmq"},
    "py312_rabbitmq_flower_k8s": {
        "python_version": "3.12",
        "broker": "rabbitmq",
        "use_flower": True,
        "kubernetes": True,
    },
    # No CI files; GitHub's workflow is checked with both databases and both brokers above.
    "py312_sqlite_beat_no_ci": {
        "python_version": "3.12",
        "database": "sqlite",
        "use_beat": True,
        "ci": "none",
    },
}

DEFAULTS: dict[str, Any] = {
    "python_version": "3.13",
    "database": "postgresql",
    "broker": "redis",
    "use_beat": False,
    "use_flower": False,
    "kubernetes": False,
    "ci": "github",
}

# Patterns that only an enabled choice may put into a project (answers file and lock file aside).
TRACES: dict[tuple[str, Any], str] = {
    ("database", "postgresql"): r"(?i)postgres|asyncpg|\bdb-data\b",
    ("database", "sqlite"): r"(?i)sqlite",
    # amqp:// URLs, not Celery's `app.amqp` (its messaging layer, whatever the broker).
    ("broker", "rabbitmq"): r"(?i)rabbit|amqps?://|pyamqp",
    ("use_beat", True): r"(?i)\bbeat\b|beat_schedule|purge.inactive",
    ("use_flower", True): r"(?i)flower",
    ("kubernetes", True): r"(?i)kubernetes|kustomiz|\bkeda\b|scaledobject",
    ("ci", "github"): r"\.github|dependabot|GitHub Actions",
}


def answers_of(variant: str) -> dict[str, Any]:
    return {**DEFAULTS, **VARIANTS[variant]}


def variant_params() -> list[Any]:
    """Each variant as a parameter, grouped so one xdist worker renders and installs it once."""
    return [pytest.param(name, id=name, marks=pytest.mark.xdist_group(name)) for name in VARIANTS]


# The Kubernetes answer adds deploy/ and documentation, and leaves backend/ and the compose files
# as the default project's (test_generated_project checks it): its backend's tests, and its
# image's, would repeat the default's.
SAME_BACKEND_AS_DEFAULT = "kubernetes"


def backend_variant_params() -> list[Any]:
    """The variants whose backends differ: those whose generated tests and images are worth
    running."""
    return [param for param in variant_params() if param.id != SAME_BACKEND_AS_DEFAULT]
