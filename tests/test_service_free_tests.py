"""`just test-quick` in every variant: the generated tests that need no service pass with none.

Every service URL points at a port where nothing listens, so a test that reaches a database, a
broker, Redis or a mail server without asking for its fixture (and so without the `services` mark
that keeps it out of the quick subset) fails here.
"""

from pathlib import Path

import pytest

from tests.compose_services import free_port
from tests.conftest import Projects
from tests.helpers import passing_tests
from tests.variants import answers_of, backend_variant_params

# The quick subset holds the settings, schema, security, logging, outbox-call and routing tests.
AT_LEAST = 25


def nowhere(variant: str) -> dict[str, str]:
    """Every service setting of the variant, pointed at a closed port on this machine."""
    port = free_port()  # bound, then released: nothing listens there
    answers = answers_of(variant)
    broker = "amqp://guest:guest@127.0.0.1:{port}//" if answers["broker"] == "rabbitmq" else ""
    urls = {
        "CELERY_BROKER_URL": (broker or "redis://127.0.0.1:{port}/0").format(port=port),
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{port}/1",
        "RATE_LIMIT_STORAGE_URL": f"redis://127.0.0.1:{port}/2",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
    }
    if answers["database"] == "postgresql":  # SQLite is a file: nothing to point away
        urls["DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere"
    return urls


@pytest.mark.parametrize("variant", backend_variant_params())
def test_the_quick_subset_passes_with_every_service_away(projects: Projects, variant: str) -> None:
    project: Path = projects(variant)

    passed = passing_tests(project, recipe="test-quick", **nowhere(variant))

    assert len(passed) >= AT_LEAST, sorted(passed)
    assert "test_every_task_has_a_name_of_its_own_and_a_route_to_a_declared_queue" in passed
