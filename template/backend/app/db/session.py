"""Async engines and sessions.

The API keeps a connection pool on its one event loop. A Celery task runs its coroutine in a fresh
loop (`asyncio.run`), and pooled async connections cannot cross loops, so the worker opens a
connection per task instead (`NullPool`).
"""

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import get_settings

engine = create_async_engine(get_settings().database_url, pool_pre_ping=True)
SessionFactory = async_sessionmaker(engine, expire_on_commit=False)

worker_engine = create_async_engine(get_settings().database_url, poolclass=NullPool)
WorkerSessionFactory = async_sessionmaker(worker_engine, expire_on_commit=False)


async def get_db_session() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request, closed when the response is sent."""
    async with SessionFactory() as session:
        yield session
