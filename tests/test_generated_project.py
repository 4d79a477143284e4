"""Generated projects end to end: their own suite, and a worker started as a user starts it."""

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.compose_services import free_port, local_service_urls
from tests.conftest import Projects
from tests.helpers import command_env, git, passing_tests, run, stop
from tests.variants import SAME_BACKEND_AS_DEFAULT, answers_of, backend_variant_params

NEW_TASK_MODULE = '''"""A task module added by hand, registered nowhere."""

from app.core.logging import get_logger
from app.worker.celery_app import celery_app

logger = get_logger(__name__)


@celery_app.task(name="arithmetic.double")
def double(value: int) -> int:
    logger.info("Doubling %s", value)
    return value * 2
'''


@pytest.mark.usefixtures("services")
@pytest.mark.parametrize("variant", backend_variant_params())
def test_generated_suite_passes_against_real_services(projects: Projects, variant: str) -> None:
    env = local_service_urls(answers_of(variant)["broker"])

    passed = passing_tests(projects(variant), **env)

    assert "test_registering_sends_a_welcome_email_whose_link_verifies_the_address" in passed


def tracked_files(project: Path, *paths: str) -> dict[str, bytes]:
    names = git(project, "ls-files", "--", *paths).splitlines()
    return {name: (project / name).read_bytes() for name in names}


@pytest.mark.xdist_group(SAME_BACKEND_AS_DEFAULT)
def test_the_kubernetes_variant_has_the_default_backend_and_compose_files(
    projects: Projects,
) -> None:
    assert answers_of(SAME_BACKEND_AS_DEFAULT) == {**answers_of("default"), "kubernetes": True}
    paths = ("backend", "compose.yaml", "compose.prod.yaml")

    same = tracked_files(projects(SAME_BACKEND_AS_DEFAULT), *paths)

    assert same == tracked_files(projects("default"), *paths)
    assert {"compose.yaml", "compose.prod.yaml"} <= same.keys()


def wait_for_log(log_path: Path, text: str, count: int, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while log_path.read_text().count(text) < count:
        assert worker.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)


@pytest.mark.usefixtures("services")
@pytest.mark.xdist_group("default")
def test_a_task_file_added_while_just_worker_runs_is_picked_up_and_executed(
    default_project: Path, tmp_path: Path, key_prefix: str
) -> None:
    """`just worker` reloads on code changes, and a new module in app/tasks/ needs no other edit."""
    module = default_project / "backend/app/tasks/arithmetic.py"
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            ["just", "worker", "--concurrency=1", "--pool=solo"],
            cwd=default_project,
            env=command_env(**local_service_urls("redis"), CELERY_KEY_PREFIX=key_prefix),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_log(log_path, " ready.", 1, worker)
        module.write_text(NEW_TASK_MODULE)
        wait_for_log(log_path, " ready.", 2, worker)  # restarted by the reloader

        client = run(
            [
                "uv",
                "run",
                "python",
                "-c",
                "from app.tasks.arithmetic import double; print(double.delay(21).get(timeout=30))",
            ],
            default_project / "backend",
            **local_service_urls("redis"),
            CELERY_KEY_PREFIX=key_prefix,
        )

        assert client.stdout.strip() == "42"
        worker_log = log_path.read_text()
        assert "arithmetic.double" in worker_log
        assert "Doubling 21" in worker_log
    finally:
        stop(worker)
        module.unlink(missing_ok=True)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.xdist_group("default")
def test_just_mail_prints_the_emails_the_app_sends(default_project: Path, tmp_path: Path) -> None:
    """Without Docker's Mailpit, `just mail` listens where the app sends and shows each email."""
    port = free_port()
    log_path = tmp_path / "mail.log"
    with log_path.open("w") as log:
        mail = subprocess.Popen(
            ["just", "mail"],
            cwd=default_project,
            # Unbuffered, so each email reaches the log as it arrives, as it does in a terminal.
            env=command_env(SMTP_PORT=str(port), PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert mail.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        run(
            [
                "uv",
                "run",
                "python",
                "-c",
                "from app.core.email import send_email; "
                "send_email('ada@example.com', 'Welcome!', 'Your account is ready.')",
            ],
            default_project / "backend",
            SMTP_PORT=str(port),
        )

        wait_for_log(log_path, "Your account is ready.", 1, mail)
        assert "To: ada@example.com" in log_path.read_text()
    finally:
        stop(mail)
