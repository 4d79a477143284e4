"""Access log written inside the request's context, so each line carries its request id, and
the HTTP metrics, by route template (`/api/v1/tasks/{task_id}`, never the path itself).

Uvicorn's own access log runs outside that context; the compose and just commands turn it off.
"""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import get_logger
from app.core.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

logger = get_logger("app.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            logger.info(
                '%s "%s %s" %s %.1f ms',
                scope["client"][0] if scope.get("client") else "-",
                scope["method"],
                scope["path"],
                status_code,
                elapsed * 1000,
            )
            # Set by the router on a match; unmatched paths share one label, or scans of
            # random URLs would each add a series.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, status_code).inc()
            HTTP_REQUEST_DURATION.labels(scope["method"], route).observe(elapsed)
