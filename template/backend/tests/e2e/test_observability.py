"""Traces and metrics of real processes: the API server, the relay and a prefork worker export
their spans to a local OTLP receiver and serve their metrics on ports of their own; the relay
reaches the broker through a proxy that a test can cut, as an outage would."""

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from opentelemetry.trace import SpanKind
from sqlalchemy.engine import URL

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.models.dead_letter import DeadLetter
from tests.support.api_server import ApiServer
from tests.support.mailbox import Mailbox
from tests.support.metrics import scrape, value
from tests.support.otlp import OtlpReceiver, Span
from tests.support.processes import RelayProcess, WorkerProcess, free_port
from tests.support.proxy import TcpProxy
from tests.support.tasks import fail_for_good, long_task, retry_once
from tests.support.users import register
from tests.support.waiting import task_result, wait_until

PUBLISH = "publish emails.send_welcome_email"
# OTLP numbers span kinds one above the API's enum.
SERVER, PRODUCER, CONSUMER = (
    kind.value + 1 for kind in (SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER)
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def observed_worker(
    receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
    broker: Celery,
    database: URL,
    mailbox: Mailbox,
) -> Iterator[WorkerProcess]:
    """A prefork worker with two pool processes, traced, serving its metrics."""
    broker.control.purge()
    logs = tmp_path_factory.mktemp("observed-worker")
    multiprocess_dir = logs / "metrics"
    multiprocess_dir.mkdir()
    port = free_port()
    with WorkerProcess(
        logs / "worker.log",
        concurrency=2,
        METRICS_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(multiprocess_dir),
        **receiver.settings,
    ) as worker:
        worker.metrics_port = port
        yield worker


@pytest.fixture(scope="module")
def api_server(
    receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory, database: URL
) -> Iterator[ApiServer]:
    port = free_port()
    with ApiServer(
        tmp_path_factory.mktemp("api") / "api.log", METRICS_PORT=str(port), **receiver.settings
    ) as server:
        server.metrics_port = port
        yield server


def parent_of(span: Span, spans: list[Span]) -> Span:
    parents = [s for s in spans if s.span_id == span.parent_id]
    assert parents, f"The parent of {span} is not in its trace: {spans}"
    return parents[0]


async def test_the_worker_counts_each_outcome_of_its_runs_across_its_pool(
    observed_worker: WorkerProcess, database: URL
) -> None:
    results = [long_task.delay(0), fail_for_good.delay(""), retry_once.delay()]
    for result in results:
        await asyncio.to_thread(task_result, result, 30, False)
    expected = {
        ("celery_tasks_started_total", "tests.long_task"): 1,
        ("celery_tasks_succeeded_total", "tests.long_task"): 1,
        ("celery_task_duration_seconds_count", "tests.long_task"): 1,
        ("celery_tasks_started_total", "tests.fail_for_good"): 1,
        ("celery_tasks_failed_total", "tests.fail_for_good"): 1,
        ("celery_tasks_set_aside_total", "tests.fail_for_good"): 1,
        ("celery_tasks_succeeded_total", "tests.fail_for_good"): 0,
        ("celery_tasks_started_total", "tests.retry_once"): 2,
        ("celery_tasks_retried_total", "tests.retry_once"): 1,
        ("celery_tasks_succeeded_total", "tests.retry_once"): 1,
        ("celery_tasks_failed_total", "tests.retry_once"): 0,
    }

    def counted() -> dict[tuple[str, str], float]:
        samples = scrape(observed_worker.metrics_port)
        return {(name, task): value(samples, name, task=task) for name, task in expected}

    # The counts that follow a result (the dead letter's) may come a moment after it.
    wait_until(lambda: counted() == expected, "The worker's counts differ")
    async with SessionFactory() as session:
        assert await session.get(DeadLetter, results[1].id) is not None


def test_the_api_serves_its_metrics_on_their_own_port_and_not_on_its_own(
    api_server: ApiServer,
) -> None:
    not_served = httpx.get(f"{api_server.url}/metrics")
    missing = httpx.get(f"{api_server.url}/api/v1/tasks/00000000-0000-0000-0000-000000000000")

    samples = scrape(api_server.metrics_port)

    assert not_served.status_code == 404
    assert value(samples, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert missing.status_code == 401
    route = "/api/v1/tasks/{task_id:uuid}"
    assert value(samples, "http_requests_total", method="GET", route=route, status="401") == 1
    assert value(samples, "http_request_duration_seconds_count", method="GET", route=route) == 1


async def test_a_registration_is_one_trace_through_a_broker_outage_which_the_backlog_shows(
    empty_outbox: None,
    api_server: ApiServer,
    observed_worker: WorkerProcess,
    receiver: OtlpReceiver,
    mailbox: Mailbox,
    unique_email: str,
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    with (
        TcpProxy(get_settings().celery_broker_url) as broker,
        RelayProcess(
            tmp_path / "relay.log",
            CELERY_BROKER_URL=broker.url,
            METRICS_PORT=str(metrics_port),
            **receiver.settings,
        ),
    ):
        broker.cut()
        async with httpx.AsyncClient(base_url=api_server.url) as client:
            await register(client, unique_email, verified=False)
        waiting = await asyncio.to_thread(backlog, metrics_port, lambda rows, _: rows == 1)
        await asyncio.to_thread(backlog, metrics_port, lambda _, age: age > waiting[1], "aging")

        broker.restore()
        await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
        assert await asyncio.to_thread(backlog, metrics_port, lambda rows, _: rows == 0) == (0, 0)
        sent = scrape(metrics_port)

    # The request's context crossed in the outbox row: the relay never saw the request.
    request = receiver.wait_for("api", "POST /api/v1/auth/register")
    run = receiver.wait_for("worker", "run/emails.send_welcome_email")
    smtp = receiver.wait_for("worker", "smtp send")
    spans = receiver.trace(request.trace_id)
    # A publish on each try: those while the broker was away failed, the last one went through.
    publishes = [s for s in spans if (s.service, s.name) == ("relay", PUBLISH)]
    assert request.kind == SERVER
    assert [s.trace_id for s in (run, smtp)] == [request.trace_id] * 2
    assert len(publishes) >= 2, spans
    assert {(s.kind, s.parent_id) for s in publishes} == {(PRODUCER, request.span_id)}
    assert run.kind == CONSUMER
    assert parent_of(run, spans) in publishes
    assert parent_of(smtp, spans) == run
    assert any(s.service == "api" and s.name.startswith("INSERT") for s in spans), spans
    assert request.trace_id in observed_worker.log  # its log lines name the trace
    assert value(sent, "celery_tasks_sent_total", task="emails.send_welcome_email") == 1


def backlog(
    port: int, wanted: Callable[[float, float], bool], what: str = "it"
) -> tuple[float, float]:
    """The relay's figures of the outbox (rows waiting, age of the longest due) once `wanted`."""
    figures = (0.0, 0.0)

    def read() -> bool:
        nonlocal figures
        samples = scrape(port)
        rows = value(samples, "outbox_messages")
        figures = rows, value(samples, "outbox_oldest_message_age_seconds")
        return wanted(*figures)

    wait_until(read, f"The relay's backlog figures never showed {what}: {figures}", 15)
    return figures
