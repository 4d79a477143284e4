"""The task status endpoint, and starting tasks for a user (no worker runs here)."""

import uuid

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from app.db.session import SessionFactory
from app.models.outbox_message import OutboxMessage
from app.models.task_run import TaskRun
from app.services.task_service import TaskService
from tests.support.tasks import long_task
from tests.support.users import auth_headers, create_user, sign_up


async def start_task_for(user_id: int) -> str:
    async with SessionFactory() as session:
        return await TaskService(session).start(long_task.s(1), user_id)


async def test_the_owner_reads_the_state_of_a_task_they_started(
    client: AsyncClient, unique_email: str
) -> None:
    user_id, headers = await sign_up(client, unique_email)
    task_id = await start_task_for(user_id)

    status = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)

    assert status.status_code == 200
    assert status.json()["task_id"] == task_id
    assert status.json()["task_name"] == "tests.long_task"
    assert status.json()["state"] in {"PENDING", "STARTED", "PROGRESS", "SUCCESS"}


async def test_another_users_task_is_not_found(client: AsyncClient) -> None:
    owner = await create_user(f"owner-{uuid.uuid4().hex[:8]}@example.com")
    other = await auth_headers(client, f"other-{uuid.uuid4().hex[:8]}@example.com")
    task_id = await start_task_for(owner.id)

    response = await client.get(f"/api/v1/tasks/{task_id}", headers=other)

    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found"}


async def test_an_unknown_task_is_not_found_rather_than_pending(
    client: AsyncClient, unique_email: str
) -> None:
    headers = await auth_headers(client, unique_email)

    response = await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=headers)

    assert response.status_code == 404


async def test_reading_a_task_needs_authentication(client: AsyncClient) -> None:
    response = await client.get(f"/api/v1/tasks/{uuid.uuid4()}")

    assert response.status_code == 401


async def test_a_task_is_recorded_and_queued_in_one_transaction(
    database: URL, unique_email: str
) -> None:
    """The run and its outbox row commit together: the broker need not be up to start a task."""
    user = await create_user(unique_email)

    task_id = await start_task_for(user.id)

    async with SessionFactory() as session:
        run = await session.get(TaskRun, task_id)
        message = await session.get(OutboxMessage, task_id)
        assert run is not None
        assert message is not None
        assert message.task_name == run.task_name == long_task.name
        assert run.user_id == user.id
        await session.delete(message)
        await session.commit()


async def queued_in_outbox() -> int:
    async with SessionFactory() as session:
        return await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


async def test_a_task_that_cannot_be_recorded_is_not_queued(database: URL) -> None:
    before = await queued_in_outbox()
    with pytest.raises(IntegrityError):  # no such user: the run's foreign key fails
        await start_task_for(2**31 - 1)

    assert await queued_in_outbox() == before


@pytest.mark.parametrize("task_id", ["not-a-uuid", "ab%00cd", "x" * 1000])
async def test_task_ids_that_are_not_uuids_are_not_found(
    client: AsyncClient, unique_email: str, task_id: str
) -> None:
    """Refused by their format, before the database is asked."""
    headers = await auth_headers(client, unique_email)

    response = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)

    assert response.status_code == 404
