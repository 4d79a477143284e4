import uuid
from urllib.parse import urlsplit

import pytest
from httpx import ASGITransport, AsyncClient

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.main import create_app
from app.models.dead_letter import DeadLetter
from app.worker.celery_app import celery_app


async def test_liveness_answers_without_checking_dependencies(client: AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_the_database_and_the_result_backend(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "results": "ok"}}


async def test_dead_letters_leave_the_api_ready(client: AsyncClient) -> None:
    """A task set aside waits for a person (`just outbox`); the API itself is fine."""
    async with SessionFactory() as session:
        letter = DeadLetter(
            id=str(uuid.uuid4()),
            task_name="emails.send_welcome_email",
            args=[1],
            kwargs={},
            set_aside_by="worker",
            error="PermanentEmailError('SMTP 550')",
        )
        session.add(letter)
        await session.commit()

        response = await client.get("/health/ready")

        await session.delete(letter)
        await session.commit()
    assert response.status_code == 200


def nowhere(url: str) -> str:
    """The same URL, but port 9 on loopback, where nothing listens."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:9" if credentials else "127.0.0.1:9"
    return parts._replace(netloc=netloc).geturl()


async def test_readiness_names_an_unreachable_result_backend(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "celery_result_backend", nowhere(settings.celery_result_backend))

    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "results": "unavailable"},
    }


async def test_the_api_stays_ready_while_the_broker_is_down(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere(celery_app.conf.broker_url))

    response = await client.get("/health/ready")

    assert response.status_code == 200


async def test_every_response_carries_a_request_id(client: AsyncClient) -> None:
    generated = await client.get("/health")
    forwarded = await client.get("/health", headers={"X-Request-ID": "edge-1234"})
    hostile = await client.get("/health", headers={"X-Request-ID": "forged ERROR line"})

    assert len(generated.headers["X-Request-ID"]) == 32
    assert forwarded.headers["X-Request-ID"] == "edge-1234"
    assert hostile.headers["X-Request-ID"] != "forged ERROR line"


async def test_an_unexpected_error_is_a_500_that_still_names_its_request_id() -> None:
    app = create_app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-me-500"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert response.headers["X-Request-ID"] == "trace-me-500"
