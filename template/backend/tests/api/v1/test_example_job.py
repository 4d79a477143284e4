"""The example job's endpoint: accepted with where to follow it (no worker runs here)."""

import pytest
from httpx import AsyncClient

from app.db.session import SessionFactory
from app.models.outbox_message import OutboxMessage
from app.models.task_run import TaskRun
from app.tasks.example_job import run_example_job
from tests.support.users import auth_headers


async def test_starting_a_job_answers_202_with_where_to_follow_it(
    client: AsyncClient, unique_email: str
) -> None:
    headers = await auth_headers(client, unique_email)

    response = await client.post("/api/v1/tasks/example", json={"steps": 1}, headers=headers)

    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == body["status_url"]
    assert body["status_url"].endswith(f"/api/v1/tasks/{body['task_id']}")
    status = await client.get(body["status_url"], headers=headers)
    assert status.status_code == 200
    assert status.json()["task_id"] == body["task_id"]
    assert status.json()["task_name"] == "example.run_example_job"
    assert status.json()["state"] in {"PENDING", "STARTED", "PROGRESS", "SUCCESS"}


async def test_starting_a_job_needs_authentication(client: AsyncClient) -> None:
    response = await client.post("/api/v1/tasks/example", json={"steps": 1})

    assert response.status_code == 401


@pytest.mark.parametrize("steps", [0, 61, True, "5", 2.5, None])
async def test_job_size_is_validated(client: AsyncClient, unique_email: str, steps: object) -> None:
    headers = await auth_headers(client, unique_email)

    response = await client.post("/api/v1/tasks/example", json={"steps": steps}, headers=headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "steps"]


async def test_a_job_is_recorded_and_queued_in_one_transaction(
    client: AsyncClient, unique_email: str
) -> None:
    """The run and its outbox row commit together: the broker need not be up to accept a job."""
    headers = await auth_headers(client, unique_email)

    response = await client.post("/api/v1/tasks/example", json={"steps": 1}, headers=headers)

    assert response.status_code == 202
    task_id = response.json()["task_id"]
    async with SessionFactory() as session:
        run = await session.get(TaskRun, task_id)
        message = await session.get(OutboxMessage, task_id)
        assert run is not None
        assert message is not None
        assert message.task_name == run.task_name == run_example_job.name
        await session.delete(message)
        await session.commit()


async def test_tasks_example_answers_only_post(client: AsyncClient, unique_email: str) -> None:
    headers = await auth_headers(client, unique_email)

    response = await client.get("/api/v1/tasks/example", headers=headers)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
