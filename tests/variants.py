"""The answer sets the suite renders, and what each disabled option must leave no trace of."""

from typing import Any

import pytest

# One option changed at a time from the defaults.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "sqlite": {"database": "sqlite"},
    "rabbitmq": {"broker": "rabbitmq"},
    "beat": {"use_beat": True},
    "flower": {"use_flower": True},
}

DEFAULTS: dict[str, Any] = {
    "database": "postgresql",
    "broker": "redis",
    "use_beat": False,
    "use_flower": False,
}

# Patterns that only an enabled choice may put into a project (answers file and lock file aside).
TRACES: dict[tuple[str, Any], str] = {
    ("database", "postgresql"): r"(?i)postgres|asyncpg|\bdb-data\b",
    ("database", "sqlite"): r"(?i)sqlite",
    ("broker", "rabbitmq"): r"(?i)rabbit|amqp",
    ("use_beat", True): r"(?i)\bbeat\b|beat_schedule|purge",
    ("use_flower", True): r"(?i)flower",
}


def answers_of(variant: str) -> dict[str, Any]:
    return {**DEFAULTS, **VARIANTS[variant]}


def variant_params() -> list[Any]:
    """Each variant as a parameter, grouped so one xdist worker renders and installs it once."""
    return [pytest.param(name, id=name, marks=pytest.mark.xdist_group(name)) for name in VARIANTS]
