"""Liveness and readiness probes, outside the versioned API."""

import asyncio
from collections.abc import Awaitable
from typing import Literal

import redis
from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text

from app.core.config import get_settings
from app.core.logging import get_logger
from app.db.session import engine

logger = get_logger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

CheckResult = Literal["ok", "unavailable"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: CheckResult
    # Each dependency by name; why one is unavailable goes to the log, not to the caller.
    checks: dict[str, CheckResult]


@router.get("")
async def live() -> Liveness:
    """The process is up and serving. Checks no dependency, so it stays cheap."""
    return Liveness()


@router.get("/ready", responses={503: {"model": Readiness, "description": "A dependency is down"}})
async def ready(response: Response) -> Readiness:
    """The database (migrated) and the result backend answer within the timeout.

    Not the broker: requests queue their tasks in the database, so the API keeps serving while the
    broker is down, and the relay sends the tasks once it is back.
    """
    timeout = get_settings().health_check_timeout_seconds
    probes: dict[str, Awaitable[None]] = {
        "database": _ping_database(),
        "results": run_in_threadpool(_ping_result_backend, timeout),
    }
    outcomes = await asyncio.gather(
        *(asyncio.wait_for(probe, timeout) for probe in probes.values()), return_exceptions=True
    )
    checks: dict[str, CheckResult] = {}
    for name, outcome in zip(probes, outcomes, strict=True):
        checks[name] = "ok" if outcome is None else "unavailable"
        if outcome is not None:
            logger.warning("Readiness: %s unavailable: %r", name, outcome)
    if all(check == "ok" for check in checks.values()):
        return Readiness(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="unavailable", checks=checks)


async def _ping_database() -> None:
    # Reading Alembic's table also proves the schema was migrated.
    async with engine.connect() as connection:
        await connection.execute(text("SELECT version_num FROM alembic_version"))


def _ping_result_backend(timeout: float) -> None:
    url = get_settings().celery_result_backend
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    with client:
        client.ping()
