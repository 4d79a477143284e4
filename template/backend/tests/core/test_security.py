"""Password hashing, below the API."""

import re

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.security import hash_password, verify_password
from tests.support.users import PASSWORD


async def test_passwords_are_hashed_with_argon2id_salted_and_costly() -> None:
    first = await hash_password(PASSWORD)
    second = await hash_password(PASSWORD)

    assert first.startswith("$argon2id$v=19$")
    assert first != second  # a fresh salt each time
    parameters = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", first)
    assert parameters is not None
    memory_kib, iterations, _ = map(int, parameters.groups())
    # OWASP's floor for argon2id: 19 MiB of memory and 2 iterations.
    assert memory_kib >= 19 * 1024
    assert iterations >= 2
    assert await verify_password(PASSWORD, first)
    assert not await verify_password(PASSWORD.upper(), first)


async def test_checking_against_no_hash_fails() -> None:
    """What an unknown email costs: one real check, and never a match."""
    assert not await verify_password(PASSWORD, None)
    assert not await verify_password("a password nobody has", None)


def test_hashes_cheaper_than_owasps_floor_are_refused() -> None:
    with pytest.raises(ValidationError, match="password_hash_memory_kib"):
        Settings(password_hash_memory_kib=16 * 1024)
    with pytest.raises(ValidationError, match="password_hash_iterations"):
        Settings(password_hash_iterations=1)
    defaults = Settings.model_fields
    assert defaults["password_hash_memory_kib"].default == 64 * 1024
    assert defaults["password_hash_iterations"].default == 3
