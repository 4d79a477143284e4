"""Run the outbox relay: `python -m app.relay [--heartbeat FILE]`."""

import argparse
import asyncio
import signal
from pathlib import Path

from app.core.config import get_settings
from app.core.error_reports import configure_error_reports
from app.core.logging import configure_logging
from app.core.metrics import TASKS_SENT, TASKS_SET_ASIDE, serve_metrics, start_at_zero
from app.core.tracing import stop_tracing, trace_relay
from app.db.session import SessionFactory
from app.relay.backlog import report_backlog
from app.relay.relay import OutboxRelay
from app.worker.celery_app import celery_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Send committed outbox rows to the broker.")
    parser.add_argument(
        "--heartbeat", type=Path, help="a file touched on every pass (for health checks)"
    )
    options = parser.parse_args()
    configure_logging()
    configure_error_reports("relay")
    trace_relay()
    # The tasks' own modules, so each message is sent with its task's options.
    celery_app.loader.import_default_modules()
    settings = get_settings()
    relay = OutboxRelay(
        SessionFactory,
        celery_app,
        interval_seconds=settings.outbox_relay_interval_seconds,
        max_publish_attempts=settings.outbox_max_publish_attempts,
        # Redis, where the API announces its commits (see app.services.outbox).
        wakeup_url=settings.celery_result_backend,
        heartbeat=options.heartbeat,
    )
    with_metrics = serve_metrics()
    if with_metrics:
        start_at_zero((TASKS_SENT, TASKS_SET_ASIDE), celery_app.tasks)
    asyncio.run(_serve(relay, with_metrics))
    stop_tracing()


async def _serve(relay: OutboxRelay, with_metrics: bool) -> None:
    # `docker compose stop` sends SIGTERM: stop between batches, so none is sent twice.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relay.stop)
    if not with_metrics:
        await relay.run()
        return
    # Read as often as the relay looks for due rows unbidden.
    every = get_settings().outbox_relay_interval_seconds
    backlog = asyncio.create_task(report_backlog(SessionFactory, celery_app, every))
    await relay.run()
    backlog.cancel()


if __name__ == "__main__":
    main()
