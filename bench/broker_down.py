"""Registering while the broker is down: latency, errors, and welcome emails lost for good.

Each ref gets an API (and relay) of its own pointed at a private `redis-server` as its broker,
with persistence off, which is stopped after one warm-up registration per endpoint: what a
crashed broker looks like to a client. The result backend and the rate-limit store stay on the
shared Redis, so only the broker is missing. Then N registrations go to each of:

    (t) POST /api/v1/auth/register          the template's: the email task is in the outbox
    (a) POST /bench/register/delay          commit the user, then `send_welcome_email.delay()`
    (b) POST /bench/register/threadpool     the same `.delay()` in the thread pool

one endpoint after another, with the API's loop lag read for each. The broker then comes back
(empty, as a crashed one without persistence would) with a worker sending to the bench's SMTP
sink; a registered user whose email never arrives has lost it.
"""

import http.client
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from bench import isolation
from bench.deployment import Api, Deployment, serving
from bench.errors import BenchError
from bench.mailsink import MailSink
from bench.plan import Plan
from bench.processes import Process, free_port
from bench.stats import latency_summary

ENDPOINTS = {
    "t": "/api/v1/auth/register",
    "a": "/bench/register/delay",
    "b": "/bench/register/threadpool",
}
PASSWORD = "correct horse battery"
REQUEST_TIMEOUT_SECONDS = 60
EMAIL_TIMEOUT_SECONDS = 60
# After the outbox's emails are in, how long the others get to turn up (they never do if lost).
STRAGGLER_SECONDS = 2.0


def start_private_redis(port: int, logs: Path, name: str) -> Process:
    """redis-server on `port`, nothing persisted: a restart comes back empty."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise BenchError("The broker-down figure needs redis-server on PATH")
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    command += ["--appendonly", "no", "--dir", str(logs)]
    server = Process(f"The private redis-server ({name})", command, logs / f"{name}.log", logs, {})
    try:
        server.wait_for_log("Ready to accept connections", timeout=10)
    except BaseException:
        server.stop()
        raise
    return server


def _register(api: Api, key: str, email: str) -> tuple[float, int]:
    """Seconds and status of one registration, on a connection of its own: uvicorn closes a
    connection whose request raised, and a reused one would fail the next request instead."""
    client = api.client(timeout=REQUEST_TIMEOUT_SECONDS)
    started = time.perf_counter()
    try:
        status, _ = client.request("POST", ENDPOINTS[key], {"email": email, "password": PASSWORD})
    except (OSError, http.client.HTTPException):
        status = 0  # no answer
    finally:
        client.close()
    return time.perf_counter() - started, status


def _wait_for_emails(sink: MailSink, expected: set[str]) -> None:
    deadline = time.monotonic() + EMAIL_TIMEOUT_SECONDS
    while sink.received(expected) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(STRAGGLER_SECONDS)


def measure_broker_down(
    deployment: Deployment, plan: Plan, sink: MailSink, logs: Path
) -> dict[str, Any]:
    port = free_port()
    env = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    name = f"{deployment.isolation.name}-broker"
    run = uuid.uuid4().hex[:6]
    latencies: dict[str, list[float]] = {key: [] for key in ENDPOINTS}
    statuses: dict[str, list[int]] = {key: [] for key in ENDPOINTS}
    lags: dict[str, dict[str, float]] = {}
    broker = start_private_redis(port, logs, name)
    try:
        with serving(deployment, "api-broker-down", **env) as api:
            client = api.client(timeout=REQUEST_TIMEOUT_SECONDS)
            try:
                for key in ENDPOINTS:  # warm: connections, password hashing, a first publish
                    email = f"warm-{run}-{key}@example.com"
                    if (status := _register(api, key, email)[1]) != 201:
                        raise BenchError(f"{ENDPOINTS[key]} answered {status} with the broker up")
                broker.stop()
                for key in ENDPOINTS:
                    client.expect("DELETE", "/bench/lag", 204)
                    for _ in range(plan.register_requests):
                        email = f"down-{run}-{key}-{uuid.uuid4().hex[:8]}@example.com"
                        elapsed, status = _register(api, key, email)
                        latencies[key].append(elapsed)
                        statuses[key].append(status)
                    lags[key] = client.expect("GET", "/bench/lag", 200)
            finally:
                client.close()
            broker = start_private_redis(port, logs, f"{name}-back")
            with deployment.start_worker(plan.concurrency, "worker-broker-back", **env):
                users = _users_by_endpoint(deployment, run)
                _wait_for_emails(sink, users["t"])
                received = {key: sink.received(emails) for key, emails in users.items()}
    finally:
        broker.stop()
    return {
        "requests_per_endpoint": plan.register_requests,
        "broker": "a private redis-server without persistence, stopped, then started empty",
        "by_endpoint": {
            key: {
                "endpoint": f"POST {path}",
                "latency": latency_summary(latencies[key]),
                "loop_lag": lags[key],
                "http_errors": sum(1 for status in statuses[key] if status != 201),
                "statuses": {str(s): statuses[key].count(s) for s in sorted(set(statuses[key]))},
                "users_created": len(users[key]),
                "emails_lost": len(users[key]) - len(received[key]),
            }
            for key, path in ENDPOINTS.items()
        },
    }


def _users_by_endpoint(deployment: Deployment, run: str) -> dict[str, set[str]]:
    """The users each endpoint stored while the broker was down, failed requests included."""
    rows = isolation.query(
        deployment.isolation, "SELECT email FROM users WHERE email LIKE %s", f"down-{run}-%"
    )
    emails = [str(row[0]) for row in rows]
    return {key: {e for e in emails if e.startswith(f"down-{run}-{key}-")} for key in ENDPOINTS}
