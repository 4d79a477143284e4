"""ORM models. Importing this package registers every table on `Base.metadata` for Alembic."""

from app.models.outbox_message import OutboxMessage
from app.models.task_run import TaskRun
from app.models.user import User

__all__ = ["OutboxMessage", "TaskRun", "User"]
