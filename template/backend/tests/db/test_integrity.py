"""What the database itself guarantees, whichever database the project uses."""

from sqlalchemy import func, select
from sqlalchemy.engine import URL

from app.db.session import SessionFactory
from app.models.task_run import TaskRun
from app.models.user import User


async def test_deleting_a_user_deletes_their_task_runs(database: URL, unique_email: str) -> None:
    async with SessionFactory() as session:
        user = User(email=unique_email, hashed_password="-")
        session.add(user)
        await session.flush()
        session.add(TaskRun(id=f"run-{user.id}", user_id=user.id, task_name="example"))
        await session.commit()

        await session.delete(user)
        await session.commit()

        orphans = await session.scalar(select(func.count()).where(TaskRun.user_id == user.id))
    assert orphans == 0


async def test_a_deleted_users_id_is_never_given_to_a_new_user(
    database: URL, unique_email: str
) -> None:
    async with SessionFactory() as session:
        newest = User(email=f"newest-{unique_email}", hashed_password="-")
        session.add(newest)
        await session.commit()
        await session.delete(newest)
        await session.commit()

        next_user = User(email=f"next-{unique_email}", hashed_password="-")
        session.add(next_user)
        await session.commit()

    assert next_user.id > newest.id
