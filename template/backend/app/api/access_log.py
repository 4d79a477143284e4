"""Access log written inside the request's context, so each line carries its request id, and
the HTTP metrics, by route template (`/api/v1/tasks/{task_id:uuid}`, never the path itself).

Uvicorn's own access log runs outside that context; the compose and just commands turn it off.
"""

import time

from starlette.routing import Route
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
            route = route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, status_code).inc()
            HTTP_REQUEST_DURATION.labels(scope["method"], route).observe(elapsed)


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (`/api/v1/tasks/{task_id:uuid}`).

    The router records the route it matched, its path without the prefixes of the routers that
    include it; those are the part of the URL before what the route's own pattern matches.
    Unmatched paths share one label, or scans of random URLs would each add a series.
    """
    route = scope.get("route")
    if not isinstance(route, Route):
        return "unmatched"
    path: str = scope["path"]
    for start, char in enumerate(path):
        if char == "/" and route.path_regex.fullmatch(path[start:]):
            return f"{path[:start]}{route.path}"
    return route.path
