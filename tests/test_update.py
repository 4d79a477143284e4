"""`copier update` on generated projects committed to git, across template versions built here.

The fixture turns the template's working tree into a git repository tagged v1.0.0, then commits a
realistic change on top and tags it v2.0.0: a new setting, a changed file, and a moved file with a
migration that carries the user's edits to its new place.
"""

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import STDOUT, Popen
from typing import Any

import psycopg
import pytest
import yaml
from aiosmtpd.controller import Controller
from pytest_copie.plugin import Copie

from tests.compose_services import free_port, local_service_urls
from tests.helpers import (
    TEMPLATE_ROOT,
    MypyCaches,
    clone_working_tree,
    command_env,
    edit,
    git,
    new_project,
    passing_tests,
    postgres_database,
    run,
    stop,
)

pytestmark = pytest.mark.usefixtures("services")

OLD_MAILER = "backend/app/core/email.py"
NEW_MAILER = "backend/app/core/mailer.py"
V2_SETTING = "    request_timeout_seconds: float = 30.0\n"
V2_MIGRATION = f"""
  - version: v2.0.0
    when: "{{{{ _stage == 'before' }}}}"
    command: &moved-mailer
      - "{{{{ _copier_python }}}}"
      - "{{{{ _copier_conf.src_path }}}}/migrations/moved_file.py"
      - "{{{{ _stage }}}}"
      - "{{{{ _copier_conf.src_path }}}}"
      - "{{{{ _version_from }}}}"
      - {OLD_MAILER}
      - {NEW_MAILER}
  - version: v2.0.0
    when: "{{{{ _stage == 'after' }}}}"
    command: *moved-mailer
"""


def make_version_2(repo: Path) -> None:
    """A release as a maintainer would make it: new setting, changed docs, a module moved."""
    template = repo / "template" / "backend"
    edit(
        template / "app/core/config.py.jinja",
        '    log_format: Literal["text", "json"] = "text"\n',
        '    log_format: Literal["text", "json"] = "text"\n'
        "    # Outgoing HTTP calls give up after this long.\n" + V2_SETTING,
    )
    edit(repo / "template/README.md.jinja", "## Requirements", "## Requirements (v2)")
    git(repo, "mv", f"template/{OLD_MAILER}", f"template/{NEW_MAILER}")
    edit(
        template / "app/tasks/emails.py",
        "from app.core.email import ",
        "from app.core.mailer import ",
    )
    copier_yml = repo / "copier.yml"
    text = copier_yml.read_text()
    if "_migrations:" not in text:
        text += "\n_migrations:\n"
    copier_yml.write_text(text.replace("_migrations:\n", "_migrations:\n" + V2_MIGRATION, 1))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "v2: request timeout setting, mailer module")
    git(repo, "tag", "v2.0.0")


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository with the working tree committed on top and tagged v1.0.0, then
    a release commit tagged v2.0.0. The clone keeps the history, so earlier commits render too."""
    repo = clone_working_tree(tmp_path_factory.mktemp("template-versions") / "template")
    git(repo, "tag", "v1.0.0")
    make_version_2(repo)
    return repo


def update(project: Path, ref: str = "v2.0.0", *extra: str) -> subprocess.CompletedProcess[str]:
    """The README's update command, as a user types it."""
    return run(
        [
            "copier",
            "update",
            "--defaults",
            "--trust",
            "--conflict",
            "inline",
            "--vcs-ref",
            ref,
            *extra,
        ],
        project,
    )


def assert_no_conflicts(project: Path) -> None:
    assert run(["git", "ls-files", "--unmerged"], project).stdout == ""
    assert list(project.rglob("*.rej")) == []
    markers = run(["git", "grep", "-lE", "^(<<<<<<<|>>>>>>>) "], project, check=False).stdout
    assert markers == ""


def add_a_route_and_a_setting(backend: Path) -> None:
    """User edits: a route in the router, a setting beside the SMTP ones."""
    edit(
        backend / "app/api/v1/router.py",
        "api_router.include_router(tasks.router)\n",
        'api_router.include_router(tasks.router)\n\n\n@api_router.get("/ping")\n'
        "async def ping() -> dict[str, str]:\n"
        '    return {"ping": "pong"}\n',
    )
    edit(
        backend / "app/core/config.py",
        '    smtp_host: str = "127.0.0.1"\n',
        '    smtp_host: str = "127.0.0.1"\n    support_email: str = "help@example.com"\n',
    )


def answers(project: Path) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return loaded


def just_test(project: Path, *selection: str) -> None:
    """The part of the project's suite that `selection` (test paths) names: what the update
    changed. The rest is what a fresh render has, whose suite test_generated_project runs.
    In one process: for a few tests, starting xdist's workers takes longer than the tests."""
    broker = str(answers(project).get("broker", "redis"))
    passing_tests(project, "-n", "0", *selection, **local_service_urls(broker))


def files_unlike_a_fresh_render(
    project: Path, copie: Copie, template: Path, ref: str, **answers: Any
) -> set[str]:
    """The files (present or not, git-ignored aside) where an updated project differs from the
    same answers rendered fresh at `ref`: what the update did not make as a new project is."""
    fresh = new_project(copie, template, ref, **answers)
    listing = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    paths = set(run(listing, project).stdout.split()) | set(run(listing, fresh).stdout.split())

    def content(path: Path) -> bytes | None:
        return path.read_bytes() if path.is_file() else None

    return {path for path in paths if content(project / path) != content(fresh / path)}


def test_updating_to_the_same_version_changes_nothing(template_repo: Path, copie: Copie) -> None:
    project = new_project(copie, template_repo, "v1.0.0")
    env_before = (project / ".env").read_bytes()

    update(project, "v1.0.0")

    assert run(["git", "status", "--porcelain"], project).stdout == ""
    assert (project / ".env").read_bytes() == env_before


def test_an_unedited_project_takes_the_new_version_and_its_tests_pass(
    template_repo: Path, copie: Copie
) -> None:
    project = new_project(copie, template_repo, "v1.0.0")
    run(["just", "lock"], project)
    git(project, "add", "backend/uv.lock")
    git(project, "commit", "--quiet", "-m", "Lock dependencies")
    env_before = (project / ".env").read_bytes()
    lock_before = (project / "backend/uv.lock").read_bytes()

    update(project)

    assert_no_conflicts(project)
    assert answers(project)["_commit"] == "v2.0.0"
    assert V2_SETTING in (project / "backend/app/core/config.py").read_text()
    assert "## Requirements (v2)" in (project / "README.md").read_text()
    assert (project / NEW_MAILER).is_file()
    assert not (project / OLD_MAILER).exists()
    assert (project / ".env").read_bytes() == env_before
    # The template never renders uv.lock, so an update leaves it alone; `just lock` refreshes it.
    assert (project / "backend/uv.lock").read_bytes() == lock_before
    assert files_unlike_a_fresh_render(project, copie, template_repo, "v2.0.0") == {
        "backend/uv.lock"
    }
    just_test(project, "tests/tasks/test_emails.py")  # v2 moved the mailer the email task uses


def test_user_edits_survive_the_update_and_follow_a_moved_file(
    template_repo: Path, copie: Copie
) -> None:
    project = new_project(copie, template_repo, "v1.0.0")
    backend = project / "backend"
    add_a_route_and_a_setting(backend)
    (backend / "app/services/billing.py").write_text('"""Billing, written by the user."""\n')
    edit(
        project / OLD_MAILER,
        '"""Sending email over SMTP',
        '"""Sending email over SMTP (edited by the user)',
    )
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "User edits")
    env_before = (project / ".env").read_bytes()

    update(project)

    assert_no_conflicts(project)
    assert '@api_router.get("/ping")' in (backend / "app/api/v1/router.py").read_text()
    config = (backend / "app/core/config.py").read_text()
    assert 'support_email: str = "help@example.com"' in config
    assert V2_SETTING in config
    assert (
        backend / "app/services/billing.py"
    ).read_text() == '"""Billing, written by the user."""\n'
    mailer = (project / NEW_MAILER).read_text()
    assert "(edited by the user)" in mailer
    assert "def send_email(" in mailer
    assert not (project / OLD_MAILER).exists()
    assert (project / ".env").read_bytes() == env_before
    assert not (project / ".git/copier-moved").exists()


def test_a_conflicting_edit_gets_inline_markers_and_nothing_else_is_lost(
    template_repo: Path, copie: Copie
) -> None:
    project = new_project(copie, template_repo, "v1.0.0")
    edit(project / "README.md", "## Requirements", "## What you need")
    (project / "backend/app/services/billing.py").write_text('"""Billing."""\n')
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "User edits")
    env_before = (project / ".env").read_bytes()

    update(project)

    readme = (project / "README.md").read_text()
    assert "<<<<<<< before updating" in readme
    assert "## What you need" in readme
    assert "## Requirements (v2)" in readme
    # Copier leaves the file unmerged in git, so `git status` reports the conflict.
    unmerged = run(["git", "ls-files", "--unmerged"], project).stdout
    assert {line.split("\t")[1] for line in unmerged.splitlines()} == {"README.md"}
    assert "both modified:   README.md" in run(["git", "status"], project).stdout
    conflicted = run(["git", "grep", "-lE", "^<<<<<<< "], project).stdout.split()
    assert conflicted == ["README.md"]
    assert V2_SETTING in (project / "backend/app/core/config.py").read_text()
    assert (project / "backend/app/services/billing.py").read_text() == '"""Billing."""\n'
    assert (project / ".env").read_bytes() == env_before


def test_turning_an_option_on_through_update_adds_the_feature(
    template_repo: Path, copie: Copie
) -> None:
    project = new_project(copie, template_repo, "v2.0.0")
    env_before = (project / ".env").read_bytes()

    update(project, "v2.0.0", "--data", "use_beat=true")

    assert_no_conflicts(project)
    assert answers(project)["use_beat"] is True
    assert (project / "backend/app/tasks/maintenance.py").is_file()
    assert "beat:" in (project / "compose.yaml").read_text()
    assert (project / ".env").read_bytes() == env_before
    assert (
        files_unlike_a_fresh_render(project, copie, template_repo, "v2.0.0", use_beat=True) == set()
    )
    just_test(project, "tests/e2e/test_beat_schedule.py")


def test_the_previous_template_commit_updates_to_a_fresh_render_of_this_one(
    template_repo: Path, copie: Copie
) -> None:
    """Every change to the template is checked for upgradeability from the one before it: the
    project it updates is the fresh render whose suite test_generated_project runs."""
    history = run(
        ["git", "log", "--format=%H", "-n", "2", "HEAD", "--", "template", "copier.yml"],
        TEMPLATE_ROOT,
    ).stdout.split()
    assert len(history) == 2, "needs the repository's history (a full clone)"
    changed = run(["git", "status", "--porcelain", "--", "template", "copier.yml"], TEMPLATE_ROOT)
    previous = history[0] if changed.stdout else history[1]
    project = new_project(copie, template_repo, previous)
    env_before = (project / ".env").read_bytes()

    update(project, "v1.0.0")  # v1.0.0 is this working tree

    assert_no_conflicts(project)
    assert answers(project)["_commit"] == "v1.0.0"
    assert (project / ".env").read_bytes() == env_before
    assert files_unlike_a_fresh_render(project, copie, template_repo, "v1.0.0") == set()


def test_the_v0_2_0_migration_carries_edits_of_the_moved_health_test(
    template_repo: Path, copie: Copie
) -> None:
    """The template's own move (tests/test_main.py -> tests/api/test_health.py in v0.2.0)."""
    old_path, new_path = "backend/tests/test_main.py", "backend/tests/api/test_health.py"
    deleted_in = git(template_repo, "log", "-n", "1", "--format=%H", "--", f"template/{old_path}")
    assert deleted_in.strip(), "needs the repository's history (a full clone)"
    git(template_repo, "tag", "--force", "v0.1.0", f"{deleted_in.strip()}^")
    project = new_project(copie, template_repo, "v0.1.0")
    user_test = "\n\nasync def test_docs_are_served(client: AsyncClient) -> None:\n"
    with (project / old_path).open("a") as test_file:
        test_file.write(user_test + '    assert (await client.get("/docs")).status_code == 200\n')
    git(project, "commit", "--quiet", "-am", "A test of my own")

    result = update(project, "v1.0.0")

    assert not (project / old_path).exists()
    moved = (project / new_path).read_text()
    assert "async def test_docs_are_served" in moved
    assert "async def test_readiness_checks_the_database_and_the_result_backend" in moved
    # Both sides added tests at the end of the file: the user's sits in marked conflict, reported.
    assert "<<<<<<< before updating" in moved
    assert ">>>>>>> after updating" in moved
    assert f"{new_path}: your edits of {old_path} conflict" in result.stdout
    # The README's way of finding conflicts finds this one too.
    assert new_path in run(["git", "grep", "-l", "^<<<<<<< "], project).stdout
    assert not (project / ".git/copier-moved").exists()
    assert list(project.rglob("*.rej")) == []


def tag_the_working_tree(repo: Path, version: str) -> None:
    """Tag v1.0.0's tree (the working tree under test) as `version`, in a commit of its own: a
    second tag on v1.0.0's commit would be the one `git describe` names, and projects rendered
    at v1.0.0 would record `version`."""
    release = git(
        repo, "commit-tree", "v1.0.0^{tree}", "-p", "v1.0.0^", "-m", f"{version}: the working tree"
    ).strip()
    git(repo, "tag", "--force", version, release)


V0_5_1 = "d0afe9dcfbefe3c83f3dd36ddb039adc40d9a4f7"  # the v0.5.1 release
REMOVED_IN_V0_6_0 = [
    "backend/app/worker/publish.py",
    "backend/app/worker/redis_publisher.py",
    "backend/app/worker/redis_transport.py",
    "backend/app/worker/result_backend.py",
    "backend/benchmarks",
    "backend/tests/benchmarks",
    "backend/tests/worker/test_publish.py",
    "backend/tests/worker/test_result_backend.py",
    "backend/tests/worker/test_redis_publisher.py",
    "backend/tests/worker/test_redis_transport.py",
]
NOTIFICATIONS = "backend/app/services/notifications.py"
NOTIFICATIONS_V0_5 = '''"""Notifications, written by the user."""

from app.tasks.example_task import send_welcome_email
from app.worker import publish


async def welcome(user_id: int) -> None:
    await publish.delay(send_welcome_email, user_id)
'''
# The module as releases v0.6.0 to v0.8.0 queue a task, and as v0.9.0 (the working tree) does.
NOTIFICATIONS_V0_8 = '''"""Notifications, written by the user."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.outbox import enqueue_on_commit
from app.tasks.example_task import send_welcome_email


async def welcome(session: AsyncSession, user_id: int) -> None:
    enqueue_on_commit(session, send_welcome_email, user_id)
    await session.commit()
'''
NOTIFICATIONS_V0_9 = '''"""Notifications, written by the user."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.outbox import enqueue_on_commit
from app.tasks.emails import send_welcome_email


async def welcome(session: AsyncSession, user_id: int) -> None:
    enqueue_on_commit(session, send_welcome_email.s(user_id))
    await session.commit()
'''


def test_the_v0_6_0_migration_names_user_code_importing_removed_modules(
    template_repo: Path, copie: Copie, mypy_caches: MypyCaches
) -> None:
    """v0.5.1 -> v0.6.0 (this working tree): publish.py and the benchmarks went away."""
    assert git(template_repo, "cat-file", "-t", V0_5_1).strip() == "commit", "needs the history"
    git(template_repo, "tag", "--force", "v0.5.1", V0_5_1)
    tag_the_working_tree(template_repo, "v0.6.0")
    project = new_project(copie, template_repo, "v0.5.1")
    backend = project / "backend"
    for path in REMOVED_IN_V0_6_0:
        assert (project / path).exists(), f"v0.5.1 renders {path}"
    (project / NOTIFICATIONS).write_text(NOTIFICATIONS_V0_5)
    # config.py changed since v0.5.1 too (the outbox settings), a few lines above the setting.
    add_a_route_and_a_setting(backend)
    edit(
        backend / "app/worker/publish.py",
        "import asyncio\n",
        "# Edited by the user: notifications publish through here.\nimport asyncio\n",
    )
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "User code on v0.5.1")
    env_before = (project / ".env").read_bytes()

    result = update(project, "v0.6.0")

    assert answers(project)["_commit"] == "v0.6.0"
    assert_no_conflicts(project)
    # Copier deletes a file the template deleted even when the user had edited it: no conflict,
    # no copy left behind. The edit survives only in git history.
    for path in REMOVED_IN_V0_6_0:
        assert not (project / path).exists(), f"{path} is still there"
    status = run(["git", "status", "--porcelain"], project).stdout.splitlines()
    assert " D backend/app/worker/publish.py" in status
    assert (project / NOTIFICATIONS).read_text() == NOTIFICATIONS_V0_5
    assert '@api_router.get("/ping")' in (backend / "app/api/v1/router.py").read_text()
    config = (backend / "app/core/config.py").read_text()
    assert 'support_email: str = "help@example.com"' in config
    assert "outbox_relay_interval_seconds: float" in config
    assert "enqueue_on_commit(" in (backend / "app/services/user_service.py").read_text()
    assert "\nrelay:\n" in (project / "justfile").read_text()
    migration_lines = [line for line in result.stdout.splitlines() if "removed in v0.6.0" in line]
    assert migration_lines == [
        f"{NOTIFICATIONS}:4: imports app.worker.publish, removed in v0.6.0: queue tasks with "
        "enqueue_on_commit(session, task.s(*args)) from app.services.outbox in request code (the "
        "relay sends them after `await session.commit()`), with task.delay(*args) in sync code"
    ]
    assert (project / ".env").read_bytes() == env_before
    # Left as it is, the user's module no longer type-checks: the migration's line is the fix.
    unfixed = mypy_caches.run(["uv", "run", "mypy", "."], backend, check=False)
    assert unfixed.returncode == 1
    assert "app/services/notifications.py:" in unfixed.stdout

    # v0.6.0 here is the newest release, so the fix is the newest way to queue a task.
    (project / NOTIFICATIONS).write_text(NOTIFICATIONS_V0_9)
    run(["just", "lock"], project)

    # A fresh render of this working tree but for the user's files, and the lock file.
    user_files = {NOTIFICATIONS, "backend/app/api/v1/router.py", "backend/app/core/config.py"}
    assert files_unlike_a_fresh_render(project, copie, template_repo, "v0.6.0") == {
        *user_files,
        "backend/uv.lock",
    }
    just_test(project, "tests/api/test_health.py")  # the app with the user's route and setting
    mypy_caches.run(["uv", "run", "mypy", "."], backend)


V0_8_0 = "ca23d69ba01f5641845f03766547ae4fb6c7b18f"  # the v0.8.0 release
# v0.8.0's own registration, in process: the user, and the outbox row of their welcome email.
REGISTER = """
import asyncio
import sys

import httpx

from app.main import app


async def register() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.post(
            "/api/v1/auth/register",
            json={"email": sys.argv[1], "password": "correct horse battery staple"},
        )
    response.raise_for_status()


asyncio.run(register())
"""
# Logs in, refreshes and reads /me with the refreshed token: what a session needs, end to end.
SIGN_IN = """
import asyncio
import sys

import httpx

from app.main import app


async def sign_in() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        form = {"username": sys.argv[1], "password": "correct horse battery staple"}
        tokens = (await client.post("/api/v1/auth/login", data=form)).raise_for_status().json()
        body = {"refresh_token": tokens["refresh_token"]}
        refreshed = (await client.post("/api/v1/auth/refresh", json=body)).raise_for_status()
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        me = (await client.get("/api/v1/auth/me", headers=headers)).raise_for_status()
    print(me.json()["email"])


asyncio.run(sign_in())
"""
OUTBOX = "SELECT task_name, args FROM outbox_messages"


class Inbox:
    """aiosmtpd's handler: the recipients of each message the server accepted."""

    def __init__(self) -> None:
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url.replace("+asyncpg", "")) as connection:
        return connection.execute(sql).fetchall()


@contextmanager
def started(command: list[str], cwd: Path, log_path: Path, **env: str) -> Iterator[Popen[bytes]]:
    """A long-running process of the project, stopped (its whole group) on the way out."""
    with log_path.open("w") as log:
        process = Popen(
            command,
            cwd=cwd,
            env=command_env(**env),
            stdout=log,
            stderr=STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def send_the_outbox(backend: Path, database_url: str, logs: Path, **env: str) -> list[list[str]]:
    """Run the project's relay and a worker until the outbox is empty and an email arrived, then
    stop them; the recipients of each email, once nothing else can arrive."""
    smtp_port = free_port()
    env |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)}
    venv = backend / ".venv" / "bin"
    relay = [str(venv / "python"), "-m", "app.relay"]
    worker = [str(venv / "celery"), "-A", "app.worker.celery_app:celery_app", "worker"]
    worker += ["--concurrency=1", f"--hostname=update-test-{uuid.uuid4().hex[:8]}@%h"]
    with (
        smtp_server(smtp_port) as inbox,
        started(relay, backend, logs / "relay.log", **env) as relay_process,
        started(worker, backend, logs / "worker.log", **env) as worker_process,
    ):
        deadline = time.monotonic() + 60
        while not inbox.recipients or query(database_url, OUTBOX):
            dead_letters = query(database_url, "SELECT task_name, error FROM dead_letters")
            exited = relay_process.poll() is not None or worker_process.poll() is not None
            if dead_letters or exited or time.monotonic() > deadline:
                output = "".join(
                    f"--- {name} ---\n{(logs / name).read_text()}"
                    for name in ("relay.log", "worker.log")
                )
                pytest.fail(
                    "The outbox was not sent and delivered within 60 s, or a message was set "
                    f"aside, or a process exited: recipients {inbox.recipients}, outbox "
                    f"{query(database_url, OUTBOX)}, dead letters {dead_letters}\n{output}"
                )
            time.sleep(0.2)
    return inbox.recipients


def test_an_update_from_v0_8_0_names_old_calls_and_outbox_rows_of_old_names_reach_a_worker(
    template_repo: Path, copie: Copie, key_prefix: str, tmp_path: Path
) -> None:
    """v0.8.0 -> v0.9.0 (this working tree): the example tasks moved and took explicit names, and
    enqueue_on_commit takes a signature. A welcome email that v0.8.0 queued under the task's old
    name is sent after the update, by the new relay and worker, and the user who registered on
    v0.8.0 signs in and refreshes a session."""
    assert git(template_repo, "cat-file", "-t", V0_8_0).strip() == "commit", "needs the history"
    git(template_repo, "tag", "--force", "v0.8.0", V0_8_0)
    tag_the_working_tree(template_repo, "v0.9.0")
    project = new_project(copie, template_repo, "v0.8.0")
    backend = project / "backend"
    (project / NOTIFICATIONS).write_text(NOTIFICATIONS_V0_8)
    edit(
        backend / "app/services/email_service.py",
        '"""Sending email over SMTP',
        '"""Sending email over SMTP (edited by the user)',
    )
    run(["just", "lock"], project)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "User code on v0.8.0")

    with postgres_database(f"update_v0_8_{uuid.uuid4().hex[:10]}") as database_url:
        env = {
            **local_service_urls("redis"),
            "DATABASE_URL": database_url,
            "CELERY_KEY_PREFIX": key_prefix,
        }
        run(["uv", "run", "alembic", "upgrade", "head"], backend, **env)
        run(["uv", "run", "python", "-c", REGISTER, "ada@example.com"], backend, **env)
        [(user_id,)] = query(database_url, "SELECT id FROM users")
        assert query(database_url, OUTBOX) == [
            ("app.tasks.example_task.send_welcome_email", [user_id])
        ]

        result = update(project, "v0.9.0")

        assert answers(project)["_commit"] == "v0.9.0"
        assert_no_conflicts(project)
        # The moved mailer keeps the user's edit, merged into its new place.
        assert not (backend / "app/services/email_service.py").exists()
        assert "(edited by the user)" in (backend / "app/core/email.py").read_text()
        migration_lines = [line for line in result.stdout.splitlines() if " in v0.9.0: " in line]
        assert migration_lines == [
            f"{NOTIFICATIONS}:6: imports app.tasks.example_task.send_welcome_email, removed in "
            "v0.9.0: import it from app.tasks.emails",
            f"{NOTIFICATIONS}:10: calls enqueue_on_commit(session, task, *args), changed in "
            "v0.9.0: pass the call as one Celery signature, enqueue_on_commit(session, "
            "task.s(*args)), with options such as a countdown in .set(countdown=60)",
        ]
        run(["just", "lock"], project)
        imports_notifications = ["uv", "run", "python", "-c", "import app.services.notifications"]
        unfixed = run(imports_notifications, backend, check=False, **env)
        assert unfixed.returncode == 1, "the user's module still imports as it was"
        assert "app.tasks.example_task" in unfixed.stderr
        (project / NOTIFICATIONS).write_text(NOTIFICATIONS_V0_9)
        run(imports_notifications, backend, **env)
        run(["uv", "run", "alembic", "upgrade", "head"], backend, **env)
        # Revision 0005 gave the waiting row the name the task now declares.
        assert query(database_url, OUTBOX) == [("emails.send_welcome_email", [user_id])]
        # The account from v0.8.0 signs in and keeps a session going (revision 0006).
        signed_in = run(["uv", "run", "python", "-c", SIGN_IN, "ada@example.com"], backend, **env)
        assert signed_in.stdout.splitlines()[-1] == "ada@example.com"  # after the log lines

        recipients = send_the_outbox(backend, database_url, tmp_path, **env)

        assert recipients == [["ada@example.com"]]
        assert query(database_url, "SELECT count(*) FROM dead_letters") == [(0,)]
