"""The login rate limiter and its settings, below the API."""

import uuid

import limits
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from app.core.config import Settings, get_settings
from app.core.rate_limit import RateLimiter, RateLimitExceededError


@pytest.mark.parametrize("limit", ["5/minute", "100 per hour", "10/2 minutes", "1 per 1 second"])
def test_settings_accept_a_limit_that_limits_parses(limit: str) -> None:
    settings = Settings(login_rate_limit_per_account=limit, login_rate_limit_per_ip=limit)

    assert limits.parse(settings.login_rate_limit_per_account).amount > 0


@pytest.mark.parametrize(
    "limit", ["lots", "5", "0/minute", "5/fortnight", "5/minute;10/hour", "5/0 minutes", ""]
)
@pytest.mark.parametrize("field", ["login_rate_limit_per_account", "login_rate_limit_per_ip"])
def test_settings_reject_anything_else(field: str, limit: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: limit})  # type: ignore[arg-type]


async def test_limits_each_account_and_keeps_emails_out_of_redis(rate_limit_storage: str) -> None:
    key_prefix = f"{get_settings().rate_limit_key_prefix}.{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter(
        rate_limit_storage,
        per_account="2/minute",
        per_ip="100/minute",
        key_prefix=key_prefix,
    )
    email = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    try:
        await limiter.hit("login", "192.0.2.1", email)
        await limiter.hit("login", "192.0.2.2", email)
        with pytest.raises(RateLimitExceededError) as exceeded:
            await limiter.hit("login", "192.0.2.3", email)
        await limiter.hit("login", "192.0.2.3", f"other-{email}")
    finally:
        await limiter.aclose()

    assert 1 <= exceeded.value.retry_after <= 60
    async with Redis.from_url(rate_limit_storage) as storage:
        keys = [key.decode() async for key in storage.scan_iter(f"{key_prefix}:*")]
    assert len(keys) == 5  # three client IPs, two accounts
    assert not [key for key in keys if "someone" in key or "example.com" in key]
