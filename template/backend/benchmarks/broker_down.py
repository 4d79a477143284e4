"""Figure 5: registering while the broker is down must stay fast (the outbox takes the task).

With a Redis broker, an API process of its own is pointed at a private `redis-server` (as broker,
result backend and rate-limit store, like compose's single Redis), which is then stopped. With
another broker, which cannot be started here, the API gets the broker's URL with a port nothing
listens on: what a stopped broker looks like to a client.
"""

import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from benchmarks.environment import API_OPTIONS, Isolation
from benchmarks.stats import latency_over_runs, latency_summary
from tests.support.api_server import ApiServer
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer
from tests.support.users import PASSWORD

BROKER_DOWN_LOG_LINE = "Broker unavailable, tasks wait in the outbox"
RELAY_NOTICE_TIMEOUT_SECONDS = 15


def measure_register_with_broker_down(
    requests: int, runs: int, isolation: Isolation, logs: Path
) -> dict[str, Any]:
    redis_server: RedisServer | None = None
    if isolation.broker_is_redis:
        if shutil.which("redis-server") is None:
            return {"runs": 0, "skipped": "redis-server is not on PATH: no private Redis to stop"}
        redis_server = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-")))
        redis_server.start()
        url = redis_server.url.removesuffix("/0")
        environment = {
            "CELERY_BROKER_URL": f"{url}/0",
            "CELERY_RESULT_BACKEND": f"{url}/1",
            "RATE_LIMIT_STORAGE_URL": f"{url}/2",
        }
        down = "a private redis-server (broker, results, rate limits), stopped"
    else:
        parts = urlsplit(isolation.broker_url)
        credentials = parts.netloc.rpartition("@")[0]
        address = f"127.0.0.1:{free_port()}"
        netloc = f"{credentials}@{address}" if credentials else address
        environment = {"CELERY_BROKER_URL": urlunsplit(parts._replace(netloc=netloc))}
        down = f"its URL with a port nothing listens on ({address})"
    try:
        api = ApiServer(logs / "api-broker-down.log", options=API_OPTIONS, **environment)
        try:
            with httpx.Client(base_url=api.url, timeout=30) as http:
                unreachable_since = time.monotonic()
                _register(http)  # warm: connections, the first password hash, a publish
                if redis_server is not None:
                    redis_server.stop()
                    unreachable_since = time.monotonic()
                summaries = []
                for _ in range(runs):
                    summaries.append(latency_summary([_register(http) for _ in range(requests)]))
            relay_noticed_after = _wait_for_relay_notice(api, unreachable_since)
        finally:
            api.stop()
    finally:
        if redis_server is not None:
            redis_server.stop()
            shutil.rmtree(redis_server.data_dir, ignore_errors=True)
    return {
        "runs": runs,
        "requests_per_run": requests,
        "broker_down": down,
        # From when the broker became unreachable to the relay's warning (None: no warning).
        "relay_noticed_after_s": relay_noticed_after,
        "latency": latency_over_runs(summaries),
    }


def _register(http: httpx.Client) -> float:
    """Seconds one POST /api/v1/auth/register took; anything but 201 fails the run."""
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    started = time.perf_counter()
    response = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"Register answered {response.status_code}: {response.text}")
    return elapsed


def _wait_for_relay_notice(api: ApiServer, since: float) -> float | None:
    """Seconds from `since` until the relay logged the outage; the log is read every 0.1 s."""
    while BROKER_DOWN_LOG_LINE not in api.log:
        if time.monotonic() - since > RELAY_NOTICE_TIMEOUT_SECONDS:
            return None
        time.sleep(0.1)
    return time.monotonic() - since
