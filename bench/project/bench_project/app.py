"""The project's ASGI app plus bench-only routes, served by uvicorn like `app.main:app`.

Every enqueue endpoint writes the same row, a `TaskRun` owned by one user created at start-up,
and commits it with a session of its own; they differ only in how the task is enqueued:

    POST /bench/commit      (c) the row and nothing else: the floor of a transactional enqueue
    POST /bench/delay       (a) commit, then `noop.delay()` on the event loop
    POST /bench/threadpool  (b) commit, then `await run_in_threadpool(noop.delay)`
    POST /bench/outbox      (t) the template's way: the task joins the row's transaction

`POST /bench/accepted` is (t) with a task whose result is stored, its task id being the row's id
as the template's own endpoint records it. `POST /bench/register/{delay,threadpool}` are the
register endpoint done the (a) and (b) ways. `GET /bench/lag` reads the event-loop lag since the
last `DELETE /bench/lag` (see `bench_project.lag`).
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.core.security import hash_password
from app.db.session import SessionFactory
from app.main import create_app
from app.models.task_run import TaskRun
from app.models.user import User
from app.schemas.user import UserCreate
from app.services.user_service import normalize_email
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool

from bench_project import outbox_compat
from bench_project.lag import LagSampler
from bench_project.outbox_compat import send_welcome_email
from bench_project.tasks import noop, stamp

router = APIRouter(prefix="/bench", tags=["bench"])
Accepted = dict[str, str]


def _task_run(request: Request, task_id: str | None = None, task_name: str = noop.name) -> TaskRun:
    owner: int = request.app.state.bench_owner_id
    return TaskRun(id=task_id or str(uuid.uuid4()), user_id=owner, task_name=task_name)


@router.post("/commit", status_code=status.HTTP_202_ACCEPTED)
async def commit_only(request: Request) -> Accepted:
    async with SessionFactory() as session:
        run = _task_run(request)
        session.add(run)
        await session.commit()
    return {"task_id": run.id}


@router.post("/delay", status_code=status.HTTP_202_ACCEPTED)
async def commit_then_delay(request: Request) -> Accepted:
    async with SessionFactory() as session:
        session.add(_task_run(request))
        await session.commit()
    return {"task_id": noop.delay().id}


@router.post("/threadpool", status_code=status.HTTP_202_ACCEPTED)
async def commit_then_delay_in_threadpool(request: Request) -> Accepted:
    async with SessionFactory() as session:
        session.add(_task_run(request))
        await session.commit()
    result = await run_in_threadpool(noop.delay)
    return {"task_id": result.id}


@router.post("/outbox", status_code=status.HTTP_202_ACCEPTED)
async def commit_with_outbox(request: Request) -> Accepted:
    async with SessionFactory() as session:
        session.add(_task_run(request))
        task_id = outbox_compat.add_to_outbox(session, noop)
        await session.commit()
    return {"task_id": task_id}


@router.post("/accepted", status_code=status.HTTP_202_ACCEPTED)
async def accept_stamped_task(request: Request) -> Accepted:
    async with SessionFactory() as session:
        task_id = outbox_compat.add_to_outbox(session, stamp)
        session.add(_task_run(request, task_id, stamp.name))
        await session.commit()
    return {"task_id": task_id}


async def _create_user(user_in: UserCreate) -> int:
    """What the register endpoint stores, without its outbox row."""
    async with SessionFactory() as session:
        user = User(
            email=normalize_email(user_in.email),
            hashed_password=await hash_password(user_in.password),
            full_name=user_in.full_name,
        )
        session.add(user)
        await session.commit()
        return user.id


@router.post("/register/delay", status_code=status.HTTP_201_CREATED)
async def register_then_delay(user_in: UserCreate) -> dict[str, int]:
    user_id = await _create_user(user_in)
    send_welcome_email.delay(user_id)
    return {"id": user_id}


@router.post("/register/threadpool", status_code=status.HTTP_201_CREATED)
async def register_then_delay_in_threadpool(user_in: UserCreate) -> dict[str, int]:
    user_id = await _create_user(user_in)
    await run_in_threadpool(send_welcome_email.delay, user_id)
    return {"id": user_id}


@router.get("/info")
async def read_info() -> dict[str, str]:
    """What the harness must know: which outbox API this is."""
    return {"outbox_api": outbox_compat.API_NAME}


@router.get("/lag")
async def read_lag(request: Request) -> dict[str, float]:
    sampler: LagSampler = request.app.state.lag_sampler
    return sampler.summary()


@router.delete("/lag", status_code=status.HTTP_204_NO_CONTENT)
async def reset_lag(request: Request) -> None:
    sampler: LagSampler = request.app.state.lag_sampler
    sampler.lags = []


async def _create_owner() -> int:
    """The user every bench `TaskRun` belongs to: one per API process."""
    async with SessionFactory() as session:
        owner = User(
            email=f"bench-owner-{uuid.uuid4().hex[:12]}@example.com",
            hashed_password=await hash_password(uuid.uuid4().hex),
        )
        session.add(owner)
        await session.commit()
        return owner.id


def create_bench_app() -> FastAPI:
    """`app.main.create_app()` with the bench routes, the owner and the lag sampler."""
    application = create_app()
    application.include_router(router)
    sampler = LagSampler()
    application.state.lag_sampler = sampler
    project_lifespan = application.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with project_lifespan(app) as state:
            app.state.bench_owner_id = await _create_owner()
            sampler.start()
            try:
                yield state
            finally:
                await sampler.stop()

    application.router.lifespan_context = lifespan
    return application


app = create_bench_app()
