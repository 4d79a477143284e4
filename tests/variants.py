"""The answer sets the suite renders, and what each disabled option must leave no trace of."""

from typing import Any

import pytest

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # One option changed at a time from the defaults: every value of every question.
    "python311": {"python_version": "3.11"},
    "python312": {"python_version": "3.12"},
    "sqlite": {"database": "sqlite"},
    "rabbitmq": {"broker": "rabbitmq"},
    "beat": {"use_beat": True},
    "flower": {"use_flower": True},
    # Everything off (the booleans are off by default; no CI files either).
    "all_off": {"ci": "none"},
    # Options that interact: Flower reads the broker; beat's task and schedule use the database.
    "rabbitmq_flower": {"broker": "rabbitmq", "use_flower": True},
    "sqlite_beat": {"database": "sqlite", "use_beat": True},
    # Everything on, every non-default choice at once, on the oldest Python: the code of every
    # option must run there.
    "all_on": {
        "python_version": "3.11",
        "database": "sqlite",
        "broker": "rabbitmq",
        "use_beat": True,
        "use_flower": True,
    },
}

DEFAULTS: dict[str, Any] = {
    "python_version": "3.13",
    "database": "postgresql",
    "broker": "redis",
    "use_beat": False,
    "use_flower": False,
    "ci": "github",
}

# Patterns that only an enabled choice may put into a project (answers file and lock file aside).
TRACES: dict[tuple[str, Any], str] = {
    ("database", "postgresql"): r"(?i)postgres|asyncpg|\bdb-data\b",
    ("database", "sqlite"): r"(?i)sqlite",
    # amqp:// URLs, not Celery's `app.amqp` (its messaging layer, whatever the broker).
    ("broker", "rabbitmq"): r"(?i)rabbit|amqps?://|pyamqp",
    ("use_beat", True): r"(?i)\bbeat\b|beat_schedule|purge",
    ("use_flower", True): r"(?i)flower",
    ("ci", "github"): r"\.github|dependabot|GitHub Actions",
}


def answers_of(variant: str) -> dict[str, Any]:
    return {**DEFAULTS, **VARIANTS[variant]}


def variant_params() -> list[Any]:
    """Each variant as a parameter, grouped so one xdist worker renders and installs it once."""
    return [pytest.param(name, id=name, marks=pytest.mark.xdist_group(name)) for name in VARIANTS]
