"""Attempts counted in Redis, per account and per client IP (the `limits` library).

For each endpoint that checks a password or a token (`action`: "login", "refresh", ...). A moving
window: at most N attempts within any period, not just within each clock minute. Every attempt
counts, successful or not, and it is counted before the check, so parallel guesses cannot slip
past the limit.
"""

import asyncio
import hashlib
import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool

from app.core.config import get_settings
from app.core.logging import get_logger

logger = get_logger(__name__)


class RateLimitExceededError(Exception):
    """Too many attempts; another one is allowed in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Rate limit exceeded; retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """Limits attempts per account and per client IP.

    If Redis is down or slow, the attempt is let through and a warning logged: an outage of the
    limiter must not lock every user out, nor hold a login longer than `timeout_seconds`.
    """

    def __init__(
        self,
        storage_url: str,
        *,
        per_account: str,
        per_ip: str,
        key_prefix: str,
        timeout_seconds: float = 1.0,
    ) -> None:
        self.per_account: RateLimitItem = parse(per_account)
        self.per_ip: RateLimitItem = parse(per_ip)
        self.timeout_seconds = timeout_seconds
        self._pool = ConnectionPool.from_url(
            storage_url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
        )
        storage = RedisStorage(
            f"async+{storage_url}",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            # A documented option, though typed as a scalar.
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, action: str, client_ip: str, account: str | None) -> None:
        """Count one attempt at `action`; raise RateLimitExceededError if it is over a limit.

        `account` is what the attempt names (an email, a user id), None if it names none that
        exists. The client's limit is checked first, so a client over its limit cannot also use
        up (and so lock) the accounts it tries.
        """
        try:
            async with asyncio.timeout(self.timeout_seconds):
                retry_after = await self._hit(action, client_ip, account)
        except (StorageError, TimeoutError) as exc:
            logger.warning(
                "%s rate limit not enforced: its Redis is unavailable: %r", action.title(), exc
            )
            return
        if retry_after is not None:
            raise RateLimitExceededError(retry_after)

    async def _hit(self, action: str, client_ip: str, account: str | None) -> int | None:
        limits = [(self.per_ip, (action, "ip", client_ip))]
        if account is not None:
            # A digest keeps the key short whatever was typed, and keeps emails out of Redis.
            digest = hashlib.sha256(account.encode()).hexdigest()
            limits.append((self.per_account, (action, "account", digest)))
        for item, identifiers in limits:
            if not await self._limiter.hit(item, *identifiers):
                stats = await self._limiter.get_window_stats(item, *identifiers)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def aclose(self) -> None:
        await self._pool.disconnect()


@lru_cache
def get_rate_limiter() -> RateLimiter:
    """The process-wide limiter, from the settings (a FastAPI dependency)."""
    settings = get_settings()
    return RateLimiter(
        settings.rate_limit_storage_url,
        per_account=settings.login_rate_limit_per_account,
        per_ip=settings.login_rate_limit_per_ip,
        key_prefix=settings.rate_limit_key_prefix,
    )
