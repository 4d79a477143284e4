"""The event loop the load generator and the canned server run on: uvloop, as uvicorn's."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

try:
    import uvloop
except ImportError:  # uvloop is not built for Windows: asyncio's own loop then
    uvloop = None  # type: ignore[assignment]


def run(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run(main)` on the fastest loop available."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = (
        uvloop.new_event_loop if uvloop is not None else None
    )
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)
