"""Authentication against hostile or careless clients: guessing, forged tokens, absurd input."""

import base64
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from httpx import ASGITransport, AsyncClient, Response
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import get_settings
from app.core.rate_limit import RateLimiter, get_rate_limiter
from app.main import app
from tests.support.processes import free_port
from tests.support.users import PASSWORD, bearer, login, register, sign_in

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
ONE_MEGABYTE = 1024 * 1024

InstallLimiter = Callable[..., RateLimiter]


async def attempt_login(client: AsyncClient, email: str, password: str = PASSWORD) -> Response:
    return await client.post(LOGIN, data={"username": email, "password": password})


def sign(claims: dict[str, object], key: str | None = None, algorithm: str = "HS256") -> str:
    secret = get_settings().secret_key.get_secret_value() if key is None else key
    return jwt.encode(claims, secret, algorithm=algorithm)


async def session_claims(client: AsyncClient, email: str) -> dict[str, object]:
    """The claims of a real session of a new user, freshly dated: what a forger starts from."""
    await register(client, email)
    token = await login(client, email)
    claims = jwt.decode(token, get_settings().secret_key.get_secret_value(), algorithms=["HS256"])
    now = datetime.now(UTC)
    return {
        "sub": claims["sub"],
        "sid": claims["sid"],
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }


@pytest.fixture
def argon2_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hash the argon2 hasher checks a password against, in order."""
    checked: list[str] = []
    original = Argon2Hasher.verify

    def spy(self: Argon2Hasher, password: str | bytes, hashed: str | bytes) -> bool:
        checked.append(hashed if isinstance(hashed, str) else hashed.decode())
        return original(self, password, hashed)

    monkeypatch.setattr(Argon2Hasher, "verify", spy)
    return checked


@pytest.fixture
async def install_limiter() -> AsyncIterator[InstallLimiter]:
    """Make the app use a limiter built with other settings, for one test; under this run's keys."""
    settings = get_settings()
    installed: list[RateLimiter] = []

    def install(
        *,
        storage_url: str = settings.rate_limit_storage_url,
        per_account: str = settings.login_rate_limit_per_account,
        per_ip: str = settings.login_rate_limit_per_ip,
        timeout_seconds: float = 1.0,
    ) -> RateLimiter:
        limiter = RateLimiter(
            storage_url,
            per_account=per_account,
            per_ip=per_ip,
            # A prefix of its own: counts from other tests do not carry over.
            key_prefix=f"{settings.rate_limit_key_prefix}.{uuid.uuid4().hex[:8]}",
            timeout_seconds=timeout_seconds,
        )
        installed.append(limiter)
        app.dependency_overrides[get_rate_limiter] = lambda: limiter
        return limiter

    yield install
    app.dependency_overrides.pop(get_rate_limiter, None)
    for limiter in installed:
        await limiter.aclose()


@pytest.fixture
def unresponsive_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers, like a hung Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


# Passwords


async def test_unknown_email_and_wrong_password_fail_alike_at_the_same_cost(
    client: AsyncClient, unique_email: str, argon2_verifications: list[str]
) -> None:
    await register(client, unique_email)
    argon2_verifications.clear()

    wrong_password = await attempt_login(client, unique_email, "wrong password")
    wrong_password_checks = len(argon2_verifications)
    unknown_email = await attempt_login(client, f"nobody-{unique_email}")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert (
        wrong_password.json() == unknown_email.json() == {"detail": "Incorrect email or password"}
    )
    assert wrong_password.headers["WWW-Authenticate"] == "Bearer"
    assert unknown_email.headers["WWW-Authenticate"] == "Bearer"
    # One argon2 check each: an unknown email costs as much as a wrong password.
    assert wrong_password_checks == 1
    assert len(argon2_verifications) == 2
    assert all(checked.startswith("$argon2id$") for checked in argon2_verifications)


async def test_long_passwords_at_login_are_refused_cleanly(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)

    long = await attempt_login(client, unique_email, "x" * (ONE_MEGABYTE // 2))
    absurd = await attempt_login(client, unique_email, "x" * ONE_MEGABYTE)

    assert long.status_code == 401
    # Over the form parser's limit (1 MB a field), before any hashing.
    assert absurd.status_code == 400
    assert "maximum size" in absurd.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": "Qz7!pk"}, "password"),
        ({"password": "x" * ONE_MEGABYTE}, "password"),
        ({"email": "a" * ONE_MEGABYTE + "@example.com"}, "email"),
        ({"full_name": "x" * ONE_MEGABYTE}, "full_name"),
        ({"full_name": "Ada\x00Lovelace"}, "full_name"),
        ({"full_name": "Ada\r\nBcc: everyone@example.com"}, "full_name"),
    ],
    ids=["short password", "1 MB password", "1 MB email", "1 MB name", "NUL", "line break"],
)
async def test_register_rejects_bad_input_naming_the_field(
    client: AsyncClient, unique_email: str, payload: dict[str, str], field: str
) -> None:
    body = {"email": unique_email, "password": PASSWORD, **payload}

    response = await client.post("/api/v1/auth/register", json=body)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    # The rejected value is not echoed back: it may be a password, and responses get logged.
    assert payload[field] not in response.text


async def test_a_nul_character_in_the_login_email_is_just_a_wrong_email(
    client: AsyncClient, unique_email: str
) -> None:
    """Text with NUL in it is a wrong email to the login, never a 500."""
    await register(client, unique_email)

    response = await attempt_login(client, f"{unique_email}\x00")

    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect email or password"}


async def test_emails_are_unique_whatever_their_case(client: AsyncClient) -> None:
    local_part = f"Case-{uuid.uuid4().hex[:12]}"
    await register(client, f"{local_part}@Example.com")

    response = await client.post(
        "/api/v1/auth/register",
        json={"email": f"{local_part.lower()}@EXAMPLE.com", "password": PASSWORD},
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


# Tokens


async def test_a_valid_token_is_accepted(client: AsyncClient, unique_email: str) -> None:
    """The control for the forgeries below: a token signed like theirs, but honestly."""
    claims = await session_claims(client, unique_email)

    response = await client.get(ME, headers={"Authorization": f"Bearer {sign(claims)}"})

    assert response.status_code == 200
    assert str(response.json()["id"]) == claims["sub"]


def expired(claims: dict[str, object]) -> str:
    now = datetime.now(UTC)
    return sign({**claims, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)})


def signature_changed(claims: dict[str, object]) -> str:
    header, payload, signature = sign(claims).split(".")
    # The first character carries the signature's first six bits: changing it changes the bytes.
    forged = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{header}.{payload}.{forged}"


def claims_changed(claims: dict[str, object]) -> str:
    """An expired token given a new expiry, its signature kept."""
    header, payload, signature = expired(claims).split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["exp"] = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def unsigned(claims: dict[str, object]) -> str:
    return jwt.encode(claims, None, algorithm="none")


def other_secret(claims: dict[str, object]) -> str:
    return sign(claims, key="another secret of at least 32 characters")


def without_expiry(claims: dict[str, object]) -> str:
    return sign({key: value for key, value in claims.items() if key != "exp"})


def without_session(claims: dict[str, object]) -> str:
    """Tokens issued before sessions existed look like this."""
    return sign({key: value for key, value in claims.items() if key != "sid"})


def another_session(claims: dict[str, object]) -> str:
    return sign({**claims, "sid": str(uuid.uuid4())})


@pytest.mark.parametrize(
    "forge",
    [
        expired,
        signature_changed,
        claims_changed,
        unsigned,
        other_secret,
        without_expiry,
        without_session,
        another_session,
    ],
)
async def test_forged_or_expired_tokens_are_rejected(
    client: AsyncClient, unique_email: str, forge: Callable[[dict[str, object]], str]
) -> None:
    claims = await session_claims(client, unique_email)

    response = await client.get(ME, headers={"Authorization": f"Bearer {forge(claims)}"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


# Rate limits


async def test_login_attempts_are_limited_per_account(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    other_email = f"other-{unique_email}"
    await register(client, other_email)

    # Five attempts (the limit the test run sets), whatever the case of the email.
    for email in [unique_email, unique_email.upper()] * 2 + [unique_email]:
        assert (await attempt_login(client, email, "wrong password")).status_code == 401
    sixth = await attempt_login(client, unique_email.title())  # the right password, too late

    assert sixth.status_code == 429
    retry_after = int(sixth.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert sixth.json() == {
        "detail": f"Too many login attempts; try again in {retry_after} seconds"
    }
    # Another account, from the same client, is not affected.
    assert await login(client, other_email)


async def test_login_attempts_are_limited_per_client_ip(
    client: AsyncClient, install_limiter: InstallLimiter
) -> None:
    install_limiter(per_ip="3/minute")
    transport = ASGITransport(app=app, client=("10.9.8.7", 1234))
    async with AsyncClient(transport=transport, base_url="http://testserver") as guesser:
        # A different account each time: only the limit per client can stop this.
        emails = [f"guess-{uuid.uuid4().hex[:8]}@example.com" for _ in range(4)]
        statuses = [(await attempt_login(guesser, email)).status_code for email in emails]
    from_elsewhere = await attempt_login(client, f"someone-{uuid.uuid4().hex[:8]}@example.com")

    assert statuses == [401, 401, 401, 429]
    assert from_elsewhere.status_code == 401


async def test_a_client_over_its_limit_does_not_lock_the_accounts_it_tries(
    client: AsyncClient, unique_email: str, install_limiter: InstallLimiter
) -> None:
    await register(client, unique_email)
    install_limiter(per_ip="1/minute", per_account="2/minute")
    transport = ASGITransport(app=app, client=("10.9.8.8", 1234))
    async with AsyncClient(transport=transport, base_url="http://testserver") as guesser:
        statuses = [
            (await attempt_login(guesser, unique_email, "wrong password")).status_code
            for _ in range(3)
        ]

    assert statuses == [401, 429, 429]
    # Refused attempts did not count against the account: its owner still gets in.
    assert await login(client, unique_email)


async def test_login_works_when_the_limiter_storage_is_down(
    client: AsyncClient,
    unique_email: str,
    install_limiter: InstallLimiter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register(client, unique_email)
    install_limiter(storage_url=f"redis://127.0.0.1:{free_port()}/0", per_account="1/minute")

    with caplog.at_level(logging.WARNING, logger="app.core.rate_limit"):
        statuses = [(await attempt_login(client, unique_email)).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.core.rate_limit"]
    assert len(warnings) == 3
    assert all("rate limit not enforced" in message for message in warnings)


async def test_login_works_when_the_limiter_storage_hangs(
    client: AsyncClient,
    unique_email: str,
    install_limiter: InstallLimiter,
    unresponsive_server: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register(client, unique_email)
    install_limiter(storage_url=f"redis://127.0.0.1:{unresponsive_server}/0", timeout_seconds=0.2)

    with caplog.at_level(logging.WARNING, logger="app.core.rate_limit"):
        response = await attempt_login(client, unique_email)

    assert response.status_code == 200
    assert any("rate limit not enforced" in r.getMessage() for r in caplog.records)


async def test_refreshes_and_password_changes_are_limited_per_account(
    client: AsyncClient, unique_email: str, install_limiter: InstallLimiter
) -> None:
    install_limiter(per_account="2/minute")
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    for _ in range(2):
        response = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
    wrong = {"current_password": "a wrong guess", "new_password": "a new password"}
    for _ in range(2):
        guess = await client.post("/api/v1/auth/password", json=wrong, headers=bearer(tokens))
        assert guess.status_code == 403

    third_refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    third_guess = await client.post("/api/v1/auth/password", json=wrong, headers=bearer(tokens))

    assert third_refresh.status_code == 429
    assert third_refresh.json()["detail"].startswith("Too many refresh attempts")
    assert third_guess.status_code == 429
    assert third_guess.json()["detail"].startswith("Too many password attempts")
    # Held back, not used up: the refresh token still works once the limit allows.
    install_limiter()
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("POST", "/api/v1/auth/email", {"new_email": "new-{email}"}, "email"),
        ("DELETE", "/api/v1/users/me", {}, "delete"),
    ],
    ids=["email change", "deletion"],
)
async def test_password_guesses_to_change_or_delete_the_account_are_limited_per_account(
    client: AsyncClient,
    unique_email: str,
    install_limiter: InstallLimiter,
    method: str,
    path: str,
    body: dict[str, str],
    action: str,
) -> None:
    install_limiter(per_account="2/minute")
    await register(client, unique_email)
    headers = bearer(await sign_in(client, unique_email))
    guess = {
        **{key: value.format(email=unique_email) for key, value in body.items()},
        "password": "a wrong guess",
    }

    answers = [await client.request(method, path, json=guess, headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [403, 403, 429]
    assert answers[2].json()["detail"].startswith(f"Too many {action} attempts")
