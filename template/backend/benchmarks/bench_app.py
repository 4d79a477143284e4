"""The project's ASGI app plus a bench-only router, served by uvicorn like `app.main:app`.

`POST /bench/noop` and `POST /bench/enqueue` differ only in the enqueue, done the way the README
recommends (`await publish.delay(task)`), so their rates show what enqueueing costs a request.
A sampler started with the app's lifespan measures the event loop's lag from inside the process:
every few milliseconds it yields once and times how long the loop takes to come back to it, i.e.
how long any callback that is ready has to wait. `GET /bench/lag` reads the percentiles since the
last `DELETE /bench/lag`.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, status

from app.main import create_app
from app.worker import publish
from benchmarks.stats import latency_summary
from benchmarks.tasks import noop

LAG_SAMPLE_INTERVAL_SECONDS = 0.005


class LagSampler:
    """Times one trip round the event loop every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._sample(), name="bench-lag-sampler")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            yielded_at = time.perf_counter()
            await asyncio.sleep(0)  # back in the ready queue, behind whatever else is ready
            self.lags.append(time.perf_counter() - yielded_at)


router = APIRouter(prefix="/bench", tags=["bench"])


@router.post("/noop", status_code=status.HTTP_202_ACCEPTED)
async def accept_without_enqueueing() -> dict[str, str]:
    """The baseline: everything a request costs except the enqueue."""
    return {}


@router.post("/enqueue", status_code=status.HTTP_202_ACCEPTED)
async def accept_and_enqueue() -> dict[str, str]:
    """As the README shows: `.delay()` on the publishing thread (`app.worker.publish`)."""
    result = await publish.delay(noop)
    return {"task_id": result.id}


@router.get("/lag")
async def read_lag(request: Request) -> dict[str, float]:
    sampler: LagSampler = request.app.state.lag_sampler
    return latency_summary(sampler.lags)


@router.delete("/lag", status_code=status.HTTP_204_NO_CONTENT)
async def reset_lag(request: Request) -> None:
    sampler: LagSampler = request.app.state.lag_sampler
    sampler.lags = []


def create_bench_app() -> FastAPI:
    """`app.main.create_app()` with the bench router, and the lag sampler in its lifespan."""
    application = create_app()
    application.include_router(router)
    sampler = LagSampler(LAG_SAMPLE_INTERVAL_SECONDS)
    application.state.lag_sampler = sampler
    project_lifespan = application.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with project_lifespan(app) as state:
            sampler.start()
            try:
                yield state
            finally:
                await sampler.stop()

    application.router.lifespan_context = lifespan
    return application


app = create_bench_app()
