from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient

from app.worker.celery_app import celery_app


async def test_liveness_answers_without_checking_dependencies(client: AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_the_database_and_the_broker(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_readiness_names_an_unreachable_broker(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same broker URL, but port 9 on loopback, where nothing listens.
    broker = urlsplit(celery_app.conf.broker_url)
    credentials = broker.netloc.rpartition("@")[0]
    nowhere = broker._replace(netloc=f"{credentials}@127.0.0.1:9" if credentials else "127.0.0.1:9")
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere.geturl())

    response = await client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"


async def test_every_response_carries_a_request_id(client: AsyncClient) -> None:
    generated = await client.get("/health")
    forwarded = await client.get("/health", headers={"X-Request-ID": "edge-1234"})
    hostile = await client.get("/health", headers={"X-Request-ID": "forged ERROR line"})

    assert len(generated.headers["X-Request-ID"]) == 32
    assert forwarded.headers["X-Request-ID"] == "edge-1234"
    assert hostile.headers["X-Request-ID"] != "forged ERROR line"
