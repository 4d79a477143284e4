"""migrations/removed_modules.py, the migration that names the user's code a release broke: what
it names in code of its own, and that it names nothing in the template's."""

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE_ROOT, git_init_and_commit, run

SCRIPT = TEMPLATE_ROOT / "migrations" / "removed_modules.py"

CODE_FOR_V0_8_0 = """from app.core.config import get_settings
from app.schemas.task import ExampleJobCreate
from app.services.email_service import send_email
from app.services.outbox import enqueue_on_commit
from app.tasks import emails
from app.tasks.example_task import run_example_job
from app.worker.celery_app import celery_app


@celery_app.task
def report(user_id: int) -> None:
    send_email(to="ada@example.com", subject="Report", body="")


async def queue(session, user_id, call):
    enqueue_on_commit(session, run_example_job, user_id, 3)
    enqueue_on_commit(session, emails.send_welcome_email)
    enqueue_on_commit(session, report)
    enqueue_on_commit(session, report.s(user_id), countdown=60)
    enqueue_on_commit(session, emails.send_welcome_email.s(user_id))
    enqueue_on_commit(session, call)
    celery_app.send_task("app.tasks.example_task.send_welcome_email", [user_id])
    return get_settings().celery_task_routes
"""
OLD_CALL = (
    "calls enqueue_on_commit(session, task, *args), changed in v0.9.0: pass the call as one "
    "Celery signature, enqueue_on_commit(session, task.s(*args)), with options such as a "
    "countdown in .set(countdown=60)"
)


def names(project: Path, release: str) -> list[str]:
    return run([sys.executable, str(SCRIPT), release], project).stdout.splitlines()


def test_v0_9_0_names_moved_modules_old_calls_old_task_names_and_removed_settings(
    tmp_path: Path,
) -> None:
    services = tmp_path / "backend/app/services"
    services.mkdir(parents=True)
    (services / "reports.py").write_text(CODE_FOR_V0_8_0)
    # A revision names the old task to rename its rows; a conflicted file cannot be parsed.
    revisions = tmp_path / "backend/alembic/versions"
    revisions.mkdir(parents=True)
    (revisions / "0006_rename.py").write_text(
        'RENAMED = {"app.tasks.example_task.send_welcome_email": "emails.send_welcome_email"}\n'
    )
    (services / "conflicted.py").write_text("<<<<<<< before updating\nx = 1\n")
    git_init_and_commit(tmp_path)

    reports = "backend/app/services/reports.py"
    assert names(tmp_path, "v0.9.0") == [
        "backend/app/services/conflicted.py: not readable as Python (conflict markers?); "
        "check it by hand",
        f"{reports}:2: imports app.schemas.task.ExampleJobCreate, removed in v0.9.0: import it "
        "from app.api.v1.endpoints.example_job",
        f"{reports}:3: imports app.services.email_service, removed in v0.9.0: the same module "
        "is now app.core.email",
        f"{reports}:6: imports app.tasks.example_task.run_example_job, removed in v0.9.0: "
        "import it from app.tasks.example_job",
        f"{reports}:16: {OLD_CALL}",
        f"{reports}:17: {OLD_CALL}",
        f"{reports}:18: {OLD_CALL}",
        f"{reports}:19: {OLD_CALL}",
        f"{reports}:22: names the task 'app.tasks.example_task.send_welcome_email', renamed in "
        "v0.9.0: the task is named 'emails.send_welcome_email'",
        f"{reports}:23: uses celery_task_routes, removed in v0.9.0: route tasks in TASK_QUEUES "
        "in app/worker/celery_app.py, by the name each task declares; the CELERY_TASK_ROUTES "
        "setting is no longer read",
    ]


CODE_FOR_V0_9_0 = """from app.core.config import get_settings


def title() -> str:
    settings = get_settings()
    return f"{settings.project_name} ({get_settings().jwt_algorithm})"
"""
ENV_FOR_V0_9_0 = """SECRET_KEY=abc
JWT_ALGORITHM=HS256
# SMTP_TIMEOUT_SECONDS=10
CELERY_VISIBILITY_TIMEOUT_SECONDS=3600
"""
MANIFEST_FOR_V0_9_0 = """data:
  LOG_LEVEL: INFO
  "CELERY_RESULT_EXPIRES_SECONDS": "60"
env:
  - INACTIVE_USER_RETENTION_DAYS=7
"""


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_v0_10_0_names_settings_read_in_code_and_set_in_env_and_yaml_files(
    tmp_path: Path, broker: str
) -> None:
    (tmp_path / ".copier-answers.yml").write_text(f"_commit: v0.10.0\nbroker: {broker}\n")
    (tmp_path / ".gitignore").write_text(".env\n")
    (tmp_path / "title.py").write_text(CODE_FOR_V0_9_0)
    (tmp_path / ".env").write_text(ENV_FOR_V0_9_0)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy/config.yaml").write_text(MANIFEST_FOR_V0_9_0)
    git_init_and_commit(tmp_path)

    constant = "no longer read in v0.10.0:"
    security = "tokens are signed with JWT_ALGORITHM (HS256) in app/core/security.py"
    expected = [
        f"title.py:6: uses the setting jwt_algorithm, {constant} {security}",
        f"title.py:6: uses the setting project_name, {constant} the API's title is "
        "PROJECT_NAME in app/core/config.py",
        f".env:2: sets JWT_ALGORITHM, {constant} {security}",
    ]
    if broker == "rabbitmq":
        expected.append(
            f".env:4: sets CELERY_VISIBILITY_TIMEOUT_SECONDS, {constant} drop it; only a Redis "
            "broker has a visibility timeout (the result backend never read it)"
        )
    expected += [
        f"deploy/config.yaml:3: sets CELERY_RESULT_EXPIRES_SECONDS, {constant} RESULT_EXPIRES "
        "in app/worker/celery_app.py",
        f"deploy/config.yaml:5: sets INACTIVE_USER_RETENTION_DAYS, {constant} "
        "INACTIVE_USER_RETENTION in app/models/user.py",
    ]
    assert names(tmp_path, "v0.10.0") == expected


def test_v0_6_0_names_what_v0_5_1_code_used(tmp_path: Path) -> None:
    (tmp_path / "notify.py").write_text(
        "from app.worker import publish\n\n\n"
        "async def welcome(request, task, user_id):\n"
        "    await publish.delay(task, user_id)\n"
        "    request.app.state.outbox_relay.notify()\n"
    )
    git_init_and_commit(tmp_path)

    assert names(tmp_path, "v0.6.0") == [
        "notify.py:1: imports app.worker.publish, removed in v0.6.0: queue tasks with "
        "enqueue_on_commit(session, task.s(*args)) from app.services.outbox in request code (the "
        "relay sends them after `await session.commit()`), with task.delay(*args) in sync code",
        "notify.py:6: uses outbox_relay.notify, removed in v0.6.0: drop the call; the commit "
        "itself wakes the relay",
    ]


@pytest.mark.parametrize(
    "answers",
    [{}, {"database": "sqlite", "broker": "rabbitmq", "use_beat": True, "use_flower": True}],
    ids=["default", "sqlite-rabbitmq-beat-flower"],
)
def test_the_template_s_own_code_is_named_by_no_release(
    render: Callable[..., Path], answers: dict[str, object]
) -> None:
    project = render(**answers)
    git_init_and_commit(project)

    for release in ("v0.6.0", "v0.9.0", "v0.10.0"):
        assert names(project, release) == [], release
