"""The whole API against its own OpenAPI schema: Schemathesis fuzzes a live server.

Every operation gets generated requests, valid and invalid, as a signed-in user: none may be
answered with a 5xx, and every answer must be one the schema documents, in the documented shape.
Cases are generated from the app's schema (known at collection, one test per operation) and sent
to a real server process (the in-process app would share the test's event loop and engine).
"""

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from celery import Celery
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from sqlalchemy.engine import URL

from app.main import app
from tests.support.api_server import ApiServer
from tests.support.users import login, register

# A schema says which requests are well formed, not which links were emailed: a token that was
# never sent is refused (400), as Schemathesis itself lets a login refuse unknown credentials.
TAKE_AN_EMAILED_TOKEN = {
    "POST /api/v1/auth/verify-email",
    "POST /api/v1/auth/password-reset/confirm",
    "POST /api/v1/auth/email/confirm",
}
# Cases per operation. Generation is derandomized: every run tries the same cases.
MAX_EXAMPLES = 20

# The `email` format allows special-use domains (.test, .local) that email-validator, and so the
# app, refuses: valid cases get addresses the app accepts.
schemathesis.openapi.format("email", st.emails(domains=st.just("example.com")))
schema = schemathesis.openapi.from_dict(app.openapi())


@pytest.fixture(scope="module")
def fuzzed_server(
    tmp_path_factory: pytest.TempPathFactory,
    database: URL,
    broker: Celery,
    rate_limit_storage: str,
) -> Iterator[ApiServer]:
    """The API as a live server, on this run's services. No relay runs: the jobs and emails that
    the generated requests queue stay in the outbox, which the `relay` fixture empties first."""
    with ApiServer(tmp_path_factory.mktemp("contract") / "api.log") as server:
        yield server


def test_the_server_serves_the_schema_the_cases_come_from(fuzzed_server: ApiServer) -> None:
    assert httpx.get(f"{fuzzed_server.url}/openapi.json").json() == app.openapi()


@pytest.fixture
async def auth_headers(fuzzed_server: ApiServer) -> dict[str, str]:
    """A user registered, verified and signed in through the live server, for one operation: the
    cases of one (a logout, a password change) cannot sign out those of the next."""
    email = f"contract-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=fuzzed_server.url, timeout=30) as http:
        await register(http, email)
        return {"Authorization": f"Bearer {await login(http, email)}"}


@pytest.fixture(scope="module")
def cases_run(pytestconfig: pytest.Config) -> Iterator[Counter[str]]:
    """Counts the cases tried per operation, and reports them after the module."""
    counts: Counter[str] = Counter()
    yield counts
    summary = ", ".join(f"{label}: {count}" for label, count in sorted(counts.items()))
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # what `capsys.disabled()` does
            reporter.write_line(
                f"\nSchemathesis tried {counts.total()} cases on {len(counts)} operations"
                f" ({summary})"
            )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_honours_its_schema(
    case: schemathesis.Case[Any],
    fuzzed_server: ApiServer,
    auth_headers: dict[str, str],
    cases_run: Counter[str],
) -> None:
    cases_run[case.operation.label] += 1
    excluded = [positive_data_acceptance] if case.operation.label in TAKE_AN_EMAILED_TOKEN else []
    case.call_and_validate(
        base_url=fuzzed_server.url, headers=auth_headers, timeout=30, excluded_checks=excluded
    )
