"""Send tasks from async code without stalling the event loop: `await publish.delay(task, ...)`.

`.delay()` and `.apply_async()` talk to the broker synchronously, so they must leave the event
loop. In the shared thread pool (forty threads) a burst of requests runs dozens of them at once,
each holding the GIL for a few hundred microseconds of message building, and the event loop waits
its turn behind them (`just bench`, figure 2: p99 lag 28 ms at 32 connections). One thread of
their own publishes about as many tasks per second as two or four do (the GIL is the limit) and
leaves the loop waiting for one publish at most (p99 about 1 ms). A broker that is down holds up
only these calls: the rest of the API keeps the shared pool.
"""

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Task
from celery.result import AsyncResult

PUBLISH_THREADS = 1

_executor = ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="publish")


def _submit(call: Callable[[], Any]) -> "asyncio.Future[Any]":
    """`call` on the publishing thread, in this request's context (the request id goes with it)."""
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(_executor, context.run, call)


async def delay(task: Task[..., Any], /, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
    """`task.delay(*args, **kwargs)`, awaited: the task is on the broker when this returns."""
    result: AsyncResult[Any] = await _submit(functools.partial(task.apply_async, args, kwargs))
    return result


async def apply_async(
    task: Task[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncResult[Any]:
    """`task.apply_async(args, kwargs, **options)`, awaited (`countdown=`, `queue=`, ...)."""
    call = functools.partial(task.apply_async, args, kwargs, **options)
    result: AsyncResult[Any] = await _submit(call)
    return result
