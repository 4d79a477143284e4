"""Error reports reach Sentry (a stand-in on loopback) once per failure, named by request id and
task id, without the passwords and tokens the request or the task held."""

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest
import sentry_sdk
from asgi_correlation_id import correlation_id
from celery import Celery
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import URL

from app.api.deps import CurrentUser
from app.core.error_reports import configure_error_reports
from app.main import create_app
from app.tasks.emails import send_welcome_email
from tests.support.mailbox import Mailbox
from tests.support.processes import WorkerProcess
from tests.support.sentry import SentryServer, running_sentry_server
from tests.support.tasks import fail_for_good
from tests.support.users import PASSWORD, bearer, create_user, register, sign_in
from tests.support.waiting import wait_until


@pytest.fixture
def sentry() -> Iterator[SentryServer]:
    with running_sentry_server() as server:
        yield server


@pytest.fixture(scope="module")
def worker_sentry() -> Iterator[SentryServer]:
    """The stand-in the module's worker reports to, for as long as the worker runs."""
    with running_sentry_server() as server:
        yield server


@pytest.fixture
def reporting_app(sentry: SentryServer, setting: Callable[[str, str], None]) -> Iterator[FastAPI]:
    """A new app, created as a server creates it, reporting to the stand-in; reports stop after."""
    setting("SENTRY_DSN", sentry.dsn)
    yield create_app()
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture(scope="module")
def reporting_worker(
    worker_sentry: SentryServer,
    broker: Celery,
    database: URL,
    mailbox: Mailbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A worker process (prefork, as in production) reporting to the stand-in; its tasks write
    dead letters to the database and send emails to the mailbox."""
    broker.control.purge()  # it consumes at once: nothing queued earlier may run ahead
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with WorkerProcess(log, SENTRY_DSN=worker_sentry.dsn) as worker:
        yield worker


def test_nothing_is_reported_without_a_dsn(setting: Callable[[str, str], None]) -> None:
    setting("SENTRY_DSN", "")

    assert not configure_error_reports("api")
    assert not sentry_sdk.is_initialized()


async def test_a_failing_request_is_reported_once_by_request_id_without_its_secrets(
    client: AsyncClient, reporting_app: FastAPI, sentry: SentryServer, unique_email: str
) -> None:
    @reporting_app.post("/boom")
    async def boom(user: CurrentUser, body: dict[str, str]) -> None:
        raise RuntimeError("bug")

    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    request_id = uuid.uuid4().hex
    transport = ASGITransport(app=reporting_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            "/boom",
            json={"password": PASSWORD, "refresh_token": tokens["refresh_token"]},
            headers={**bearer(tokens), "X-Request-ID": request_id},
        )
    assert response.status_code == 500
    sentry_sdk.flush()  # everything reported has been sent

    [event] = sentry.events
    assert event["tags"]["request_id"] == request_id
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert_no_secret(sentry, PASSWORD, tokens["access_token"], tokens["refresh_token"])


def test_a_task_failing_for_good_is_reported_once_by_task_and_request_id_without_its_secret(
    worker_sentry: SentryServer, reporting_worker: WorkerProcess
) -> None:
    secret = uuid.uuid4().hex
    request_id = uuid.uuid4().hex
    token = correlation_id.set(request_id)  # sent as a request sends it
    try:
        within_a_request = fail_for_good.delay(secret)
    finally:
        correlation_id.reset(token)
    # Sent next, outside any request. The worker's one process runs and reports them in turn:
    # once this report is in, a second report of the first task would be in too.
    outside = fail_for_good.delay(secret)

    wait_for_report(worker_sentry, outside.id)

    assert reported_task_ids(worker_sentry, within_a_request.id, outside.id) == [
        within_a_request.id,
        outside.id,
    ]
    reports = {event["tags"]["celery_task_id"]: event for event in worker_sentry.events}
    assert reports[within_a_request.id]["tags"]["request_id"] == request_id
    assert "request_id" not in reports[outside.id]["tags"]
    assert reports[outside.id]["tags"]["component"] == "worker"
    assert_no_secret(worker_sentry, secret)


async def test_an_email_refused_for_good_is_reported_once(
    worker_sentry: SentryServer,
    reporting_worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    """The project's email task logs the refusal, then raises it: still one report."""
    user = await create_user(unique_email)
    mailbox.fail(unique_email, times=1, reply="550 5.1.1 No such mailbox")

    email = send_welcome_email.delay(user.id)
    # The worker's one process runs this next: once its report is in, a second one of the email
    # would be too.
    marker = fail_for_good.delay("")
    await asyncio.to_thread(wait_for_report, worker_sentry, marker.id)

    assert reported_task_ids(worker_sentry, email.id) == [email.id]


def wait_for_report(sentry: SentryServer, task_id: str) -> None:
    wait_until(
        lambda: task_id in reported_task_ids(sentry, task_id),
        f"The failure of task {task_id} was not reported",
    )


def reported_task_ids(sentry: SentryServer, *task_ids: str) -> list[str]:
    """The tasks of these ids that Sentry received a report of, a task as often as reported."""
    reported = (event["tags"].get("celery_task_id") for event in sentry.events)
    return [task_id for task_id in reported if task_id in task_ids]


def assert_no_secret(sentry: SentryServer, *secrets: str) -> None:
    sent = b"".join(sentry.envelopes)
    for secret in secrets:
        assert secret.encode() not in sent, f"{secret!r} was sent to Sentry"
