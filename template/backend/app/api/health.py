"""Liveness and readiness probes, outside the versioned API."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text

from app.core.config import get_settings
from app.db.session import engine
from app.worker.celery_app import celery_app

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    # "ok", or what went wrong, for each dependency
    checks: dict[str, str]


@router.get("")
async def live() -> Liveness:
    """The process is up and serving. Checks no dependency, so it stays cheap."""
    return Liveness()


@router.get("/ready", responses={503: {"model": Readiness, "description": "A dependency is down"}})
async def ready(response: Response) -> Readiness:
    """The database and the broker answer within the timeout; 503 names the ones that do not."""
    timeout = get_settings().health_check_timeout_seconds
    names = ("database", "broker")
    outcomes = await asyncio.gather(
        asyncio.wait_for(_ping_database(), timeout),
        asyncio.wait_for(run_in_threadpool(_ping_broker, timeout), timeout),
        return_exceptions=True,
    )
    checks = {
        name: "ok" if outcome is None else f"{type(outcome).__name__}: {outcome}".rstrip(": ")
        for name, outcome in zip(names, outcomes, strict=True)
    }
    if all(check == "ok" for check in checks.values()):
        return Readiness(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="unavailable", checks=checks)


async def _ping_database() -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _ping_broker(timeout: float) -> None:
    with celery_app.connection_for_write(connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0)
