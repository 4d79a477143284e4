"""ORM models. Importing this package registers every table on `Base.metadata` for Alembic."""

from app.models.task_run import TaskRun
from app.models.user import User

__all__ = ["TaskRun", "User"]
