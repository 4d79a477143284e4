"""The example job started over HTTP, relayed, run by a worker process, followed to its result."""

import asyncio
import time

from httpx import AsyncClient

from tests.support.processes import RelayProcess, WorkerProcess
from tests.support.users import auth_headers


async def test_a_started_job_reports_progress_then_its_result(
    client: AsyncClient, relay: RelayProcess, worker: WorkerProcess, unique_email: str
) -> None:
    headers = await auth_headers(client, unique_email)
    started = await client.post("/api/v1/tasks/example", json={"steps": 3}, headers=headers)
    assert started.status_code == 202
    status_url = started.headers["Location"]

    states: list[str] = []
    deadline = time.monotonic() + 30
    while not states or states[-1] not in {"SUCCESS", "FAILURE"}:
        assert time.monotonic() < deadline, f"The job did not finish within 30 s: {states}"
        await asyncio.sleep(0.1)
        response = await client.get(status_url, headers=headers)
        assert response.status_code == 200
        states.append(response.json()["state"])
        if states[-1] == "PROGRESS":
            assert response.json()["progress"]["total"] == 3

    assert states[-1] == "SUCCESS"
    assert "PROGRESS" in states
    assert response.json()["result"]["steps"] == 3
