"""ORM models. Importing this package registers every table on `Base.metadata` for Alembic."""

from app.models.account_token import AccountToken
from app.models.auth_session import AuthSession
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.models.refresh_token import RefreshToken
from app.models.sent_email import SentEmail
from app.models.task_run import TaskRun
from app.models.user import User

__all__ = [
    "AccountToken",
    "AuthSession",
    "DeadLetter",
    "OutboxMessage",
    "RefreshToken",
    "SentEmail",
    "TaskRun",
    "User",
]
