"""ORM models. Importing this package registers every table on `Base.metadata` for Alembic."""

from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.models.task_run import TaskRun
from app.models.user import User

__all__ = ["DeadLetter", "OutboxMessage", "TaskRun", "User"]
