"""The API dies right after a commit, before the relay has sent what it queued: nothing is lost.

A task queued with `enqueue_on_commit` is a row committed with the change; whichever relay runs
next sends it, once. Besides the welcome email that registering queues, the test starts a task
for the user (`TaskService.start`, as an endpoint would) and reads its state through the
restarted API.
"""

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app.db.session import SessionFactory
from app.models.outbox_message import OutboxMessage
from app.services.task_service import TaskService
from tests.faults.conftest import StartWorker
from tests.support.api_server import ApiServer
from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess
from tests.support.queues import queued_messages
from tests.support.tasks import long_task
from tests.support.users import sign_up
from tests.support.waiting import wait_until


async def start_a_task_for(user_id: int) -> str:
    async with SessionFactory() as session:
        return await TaskService(session).start(long_task.s(1), user_id)


async def state_once_done(http: httpx.AsyncClient, task_id: str, headers: dict[str, str]) -> str:
    deadline = time.monotonic() + 30
    while True:
        status = await http.get(f"/api/v1/tasks/{task_id}", headers=headers)
        assert status.status_code == 200, status.text
        state: str = status.json()["state"]
        if state in {"SUCCESS", "FAILURE"}:
            return state
        assert time.monotonic() < deadline, f"Task {task_id} did not finish within 30 s: {state}"
        await asyncio.sleep(0.1)


async def waiting_in_outbox() -> int:
    async with SessionFactory() as session:
        return await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


async def test_tasks_committed_before_the_api_was_killed_run_once(
    empty_outbox: None,
    mailbox: Mailbox,
    start_worker: StartWorker,
    tmp_path: Path,
    unique_email: str,
) -> None:
    with ApiServer(tmp_path / "api.log") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            user_id, headers = await sign_up(http, unique_email)
        task_id = await start_a_task_for(user_id)
        api.kill()  # SIGKILL: nothing of the process runs after its responses
    assert await waiting_in_outbox() == 2

    worker = start_worker()
    with ApiServer(tmp_path / "api-restarted.log") as api, RelayProcess(tmp_path / "relay.log"):
        await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            assert await state_once_done(http, task_id, headers) == "SUCCESS"

        # Everything the relay sent has reached the worker: a duplicate would show below.
        assert await waiting_in_outbox() == 0
        await asyncio.to_thread(
            wait_until,
            lambda: not any(queued_messages().values()),
            "Tasks still wait on the broker",
        )

    assert len(mailbox.to(unique_email)) == 1
    started = await asyncio.to_thread(worker.tasks_started)
    assert started == {"emails.send_welcome_email": 1, long_task.name: 1}
