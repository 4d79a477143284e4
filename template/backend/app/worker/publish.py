"""Send tasks from async code without stalling the event loop: `await publish.delay(task, ...)`.

`.delay()` and `.apply_async()` block on the broker and cost about 0.4 ms of CPU each, so on the
event loop they would stall every other request. On a Redis broker the loop publishes the message
itself instead, many per round trip (`app.worker.redis_publisher`; `just bench`, figure 1). Other
brokers, and options that path does not cover, go through Celery on one thread of its own: one
publishes about as many tasks per second as several (the GIL is the limit), and the loop waits
behind one publish at most. A broker that is down holds up only these calls.
"""

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task
from celery.result import AsyncResult

from app.worker.redis_publisher import RedisPublisher

PUBLISH_THREADS = 1

_executor = ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="publish")
# The publisher of the event loop it was made on, for the Celery app it was made for.
_publisher: tuple[asyncio.AbstractEventLoop, Celery, RedisPublisher | None] | None = None


async def delay(task: Task[..., Any], /, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
    """`task.delay(*args, **kwargs)`, awaited: the task is on the broker when this returns."""
    return await apply_async(task, args, kwargs)


async def apply_async(
    task: Task[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncResult[Any]:
    """`task.apply_async(args, kwargs, **options)`, awaited (`countdown=`, `queue=`, ...)."""
    kwargs = kwargs or {}
    publisher = _redis_publisher(task)
    message = publisher.prepare(task, args, kwargs, options) if publisher else None
    if publisher is not None and message is not None:
        await publisher.send(message, task.name)
        return message.result
    call = functools.partial(task.apply_async, args, kwargs, **options)
    result: AsyncResult[Any] = await _submit(call)
    return result


async def aclose() -> None:
    """Close this event loop's broker connections (the API's lifespan ends with it)."""
    global _publisher
    if _publisher is not None and _publisher[0] is asyncio.get_running_loop():
        publisher, _publisher = _publisher[2], None
        if publisher is not None:
            await publisher.aclose()


def _redis_publisher(task: Task[..., Any]) -> RedisPublisher | None:
    """This loop's publisher, when the task's app publishes to Redis."""
    global _publisher
    loop, app = asyncio.get_running_loop(), task.app
    if _publisher is None or _publisher[0] is not loop or _publisher[1] is not app:
        _publisher = (loop, app, RedisPublisher(app) if RedisPublisher.covers(app) else None)
    return _publisher[2]


def _submit(call: Callable[[], Any]) -> "asyncio.Future[Any]":
    """`call` on the publishing thread, in this request's context (the request id goes with it)."""
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(_executor, context.run, call)
