"""`enqueue_on_commit`: a Celery call with its options, stored with the change that calls for it."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from celery import chain
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import SessionFactory
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.services.outbox import enqueue_on_commit
from app.tasks.emails import send_welcome_email
from tests.support.processes import BACKEND_DIR


async def stored(session: AsyncSession, task_id: str) -> OutboxMessage:
    message = await session.get(OutboxMessage, task_id)
    assert message is not None
    await session.delete(message)
    await session.commit()
    return message


async def test_the_calls_options_are_stored_and_its_countdown_becomes_a_due_time(
    database: URL,
) -> None:
    before = datetime.now(UTC)
    async with SessionFactory() as session:
        task_id = enqueue_on_commit(
            session,
            send_welcome_email.s(7).set(
                countdown=600, expires=900, priority=3, queue="emails", headers={"tenant": "a"}
            ),
        )
        await session.commit()

        message = await stored(session, task_id)

    assert message.args == [7]
    assert before + timedelta(seconds=600) <= message.due_at.replace(tzinfo=UTC)
    assert message.due_at.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=600)
    expires = datetime.fromisoformat(message.options.pop("expires"))
    assert before + timedelta(seconds=900) <= expires <= datetime.now(UTC) + timedelta(seconds=900)
    assert message.options == {"priority": 3, "queue": "emails", "headers": {"tenant": "a"}}


async def test_an_eta_is_the_due_time(database: URL) -> None:
    eta = datetime.now(UTC) + timedelta(days=3)
    async with SessionFactory() as session:
        task_id = enqueue_on_commit(session, send_welcome_email.s(7).set(eta=eta))
        await session.commit()

        message = await stored(session, task_id)

    assert abs(message.due_at.replace(tzinfo=UTC) - eta) < timedelta(seconds=1)


async def test_a_rolled_back_change_queues_nothing(database: URL) -> None:
    async with SessionFactory() as session:
        task_id = enqueue_on_commit(session, send_welcome_email.s(7))
        await session.rollback()
        assert await session.get(OutboxMessage, task_id) is None


@pytest.mark.parametrize(
    ("call", "refused"),
    [
        (send_welcome_email.s(7).set(link=send_welcome_email.s(8)), "link"),
        (chain(send_welcome_email.si(7), send_welcome_email.si(8)), "chain"),
    ],
)
def test_what_the_outbox_cannot_keep_is_refused_at_once(call: object, refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        enqueue_on_commit(SessionFactory(), call)  # type: ignore[arg-type]


def test_an_eta_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        enqueue_on_commit(SessionFactory(), send_welcome_email.s(7).set(eta=datetime.now()))


async def test_the_cli_lists_and_resends_dead_letters(database: URL) -> None:
    async with SessionFactory() as session:
        session.add(
            DeadLetter(
                id="00000000-0000-4000-8000-0000000000aa",
                task_name="emails.send_welcome_email",
                args=[2_000_000_000],
                kwargs={},
                set_aside_by="worker",
                error="PermanentEmailError('SMTP 550')",
            )
        )
        await session.commit()

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app.cli", *arguments]
        return subprocess.run(  # noqa: S603  (our own command line)
            command, cwd=BACKEND_DIR, capture_output=True, text=True, timeout=60, check=False
        )

    shown = cli()
    assert shown.returncode == 0, shown.stderr
    assert "00000000-0000-4000-8000-0000000000aa" in shown.stdout
    assert "SMTP 550" in shown.stdout

    resent = cli("resend", "00000000-0000-4000-8000-0000000000aa", "no-such-id")
    assert resent.returncode == 1  # one id was not a dead letter

    async with SessionFactory() as session:
        assert await session.get(DeadLetter, "00000000-0000-4000-8000-0000000000aa") is None
        message = await stored(session, "00000000-0000-4000-8000-0000000000aa")
    assert message.task_name == "emails.send_welcome_email"
    assert message.args == [2_000_000_000]
