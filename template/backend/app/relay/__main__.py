"""Run the outbox relay: `python -m app.relay [--heartbeat FILE]`."""

import argparse
import asyncio
import signal
from pathlib import Path

from app.core.config import get_settings
from app.core.error_reports import configure_error_reports
from app.core.logging import configure_logging
from app.core.metrics import serve_metrics
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
    interval = settings.outbox_relay_interval_seconds
    relay = OutboxRelay(
        SessionFactory,
        celery_app,
        interval_seconds=interval,
        max_publish_attempts=settings.outbox_max_publish_attempts,
        # Redis, where the API announces its commits (see app.services.outbox).
        wakeup_url=settings.celery_result_backend,
        heartbeat=options.heartbeat,
    )
    asyncio.run(_serve(relay, metrics_every=interval if serve_metrics() else None))
    stop_tracing()


async def _serve(relay: OutboxRelay, metrics_every: float | None) -> None:
    # `docker compose stop` sends SIGTERM: stop between batches, so none is sent twice.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relay.stop)
    if metrics_every is None:
        await relay.run()
        return
    backlog = asyncio.create_task(report_backlog(SessionFactory, celery_app, metrics_every))
    await relay.run()
    backlog.cancel()


if __name__ == "__main__":
    main()
