"""An outbox relay built as `python -m app.relay` builds it, with a test's own changes."""

from pathlib import Path

from celery import Celery

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.relay.relay import OutboxRelay
from app.worker.celery_app import celery_app


def new_relay(
    celery: Celery = celery_app,
    interval_seconds: float | None = None,
    max_publish_attempts: int | None = None,
    wakeup_url: str | None = None,
    heartbeat: Path | None = None,
) -> OutboxRelay:
    settings = get_settings()
    return OutboxRelay(
        SessionFactory,
        celery,
        interval_seconds=interval_seconds or settings.outbox_relay_interval_seconds,
        max_publish_attempts=max_publish_attempts or settings.outbox_max_publish_attempts,
        wakeup_url=wakeup_url or settings.celery_result_backend,
        heartbeat=heartbeat,
    )
