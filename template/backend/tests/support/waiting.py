"""Bounded waits: each gives up after its timeout and fails saying what did not happen."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import celery.exceptions
from celery.result import AsyncResult


def wait_until(condition: Callable[[], object], what: str, seconds: float = 30) -> None:
    """Until `condition()` is true; otherwise fail with `what` (say what did not happen)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {seconds} s)")
        time.sleep(0.05)


async def eventually(
    check: Callable[[], Awaitable[object]], what: str, seconds: float = 30
) -> None:
    """The same for a coroutine: until `await check()` is true."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {seconds} s)")
        await asyncio.sleep(0.05)


def task_result(result: AsyncResult[Any], timeout: float = 30, propagate: bool = True) -> Any:
    """What the task returned (or raised, with `propagate` off), once it has finished."""
    try:
        return result.get(timeout=timeout, propagate=propagate)
    except celery.exceptions.TimeoutError:
        raise AssertionError(f"Task {result.id} did not finish (waited {timeout} s)") from None
