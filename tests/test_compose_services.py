"""The commands compose runs, started directly against local services, pass their healthchecks."""

from pathlib import Path

import pytest

from tests.compose_services import ComposeServices
from tests.conftest import Projects
from tests.variants import answers_of, variant_params

pytestmark = pytest.mark.usefixtures("services")


@pytest.mark.parametrize("variant", variant_params())
def test_every_compose_service_starts_and_passes_its_healthcheck(
    projects: Projects, variant: str, tmp_path: Path
) -> None:
    answers = answers_of(variant)

    started = ComposeServices(projects(variant), answers, tmp_path).check_all()

    expected = ["worker", "relay", "api"]
    expected += ["beat"] if answers["use_beat"] else []
    expected += ["flower"] if answers["use_flower"] else []
    assert started == expected


@pytest.mark.xdist_group("default")
def test_a_worker_command_that_no_longer_matches_the_code_is_caught(
    projects: Projects, tmp_path: Path
) -> None:
    """The check above can fail: the worker pointed at a module that does not exist."""
    services = ComposeServices(projects("default"), answers_of("default"), tmp_path)
    worker = services.compose["services"]["worker"]
    worker["command"] = worker["command"].replace("app.worker.celery_app", "app.worker.celery")

    with pytest.raises(AssertionError, match="worker exited"):
        services.check_all()
