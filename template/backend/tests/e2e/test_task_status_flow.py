"""A task started for a user, relayed, run by a worker process, followed to its result over HTTP."""

import asyncio
import time

from httpx import AsyncClient

from app.db.session import SessionFactory
from app.services.task_service import TaskService
from tests.support.processes import RelayProcess, WorkerProcess
from tests.support.tasks import long_task
from tests.support.users import sign_up


async def test_a_started_task_reports_progress_then_its_result(
    client: AsyncClient, relay: RelayProcess, worker: WorkerProcess, unique_email: str
) -> None:
    user_id, headers = await sign_up(client, unique_email)
    async with SessionFactory() as session:
        task_id = await TaskService(session).start(long_task.s(3), user_id)

    states: list[str] = []
    deadline = time.monotonic() + 30
    while not states or states[-1] not in {"SUCCESS", "FAILURE"}:
        assert time.monotonic() < deadline, f"The task did not finish within 30 s: {states}"
        await asyncio.sleep(0.1)
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)
        assert response.status_code == 200
        states.append(response.json()["state"])
        if states[-1] == "PROGRESS":
            assert response.json()["progress"]["total"] == 3

    assert states[-1] == "SUCCESS"
    assert "PROGRESS" in states
    assert response.json()["result"] == {"steps": 3}
