"""Tasks land on the queue their name is routed to (no worker consumes here)."""

from celery import Celery

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.services.outbox import enqueue_on_commit
from app.tasks.emails import send_welcome_email
from app.worker.celery_app import TASK_QUEUES, celery_app, queue_names
from tests.support.queues import queued_messages
from tests.support.relay import new_relay
from tests.support.tasks import long_task


def test_the_project_declares_a_default_and_an_emails_queue() -> None:
    assert queue_names() == ["default", "emails"]


def test_every_task_has_a_name_of_its_own_and_a_route_to_a_declared_queue() -> None:
    """Names that follow the module would change, and strand queued tasks, when a file moves."""
    celery_app.loader.import_default_modules()
    # The tests' own tasks (tests.support.tasks) are held to the same rules.
    ours = {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}

    assert any(task.run.__module__.startswith("app.") for task in ours.values()), (
        "no task of the project's was registered"
    )
    for name, task in ours.items():
        assert name != f"{task.run.__module__}.{task.run.__name__}", f"{name}: give it name=..."
    assert set(TASK_QUEUES) <= set(ours), "TASK_QUEUES names a task that does not exist"
    prefix = get_settings().celery_key_prefix
    declared = {queue.name for queue in celery_app.conf.task_queues}
    for name in ours:
        route = celery_app.amqp.router.route({}, name)
        assert route["queue"].name in declared, f"{name} goes to a queue no worker consumes"
    assert route["queue"].name.startswith(prefix)


def test_each_task_lands_on_its_queue(broker: Celery) -> None:
    before = queued_messages()

    send_welcome_email.delay(1)
    long_task.delay(1)
    long_task.delay(1)

    after = queued_messages()
    assert after["emails"] - before["emails"] == 1
    assert after["default"] - before["default"] == 2


async def test_tasks_sent_through_the_outbox_land_on_their_queue(
    broker: Celery, empty_outbox: None
) -> None:
    before = queued_messages()
    async with SessionFactory() as session:
        enqueue_on_commit(session, send_welcome_email.s(1))
        enqueue_on_commit(session, long_task.s(1))
        enqueue_on_commit(session, long_task.s(1))
        await session.commit()

    assert await new_relay().relay_pending() == 3

    after = queued_messages()
    assert after["emails"] - before["emails"] == 1
    assert after["default"] - before["default"] == 2
