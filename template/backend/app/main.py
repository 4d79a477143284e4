"""The ASGI application: `uvicorn app.main:app`."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from app.api import health
from app.api.access_log import AccessLogMiddleware
from app.api.v1.router import api_router
from app.core.config import PROJECT_NAME, get_settings
from app.core.error_reports import configure_error_reports
from app.core.logging import configure_logging
from app.core.metrics import serve_metrics
from app.core.rate_limit import get_rate_limiter
from app.core.tracing import trace_api
from app.db.session import engine

# Request ids from a proxy are kept when they are plain tokens; anything else is replaced, so a
# client cannot write arbitrary text into the logs.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@asynccontextmanager
async def lifespan(application: FastAPI) -> AsyncIterator[None]:
    serve_metrics()
    yield
    await get_rate_limiter().aclose()
    await engine.dispose()


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 without the submitted values: they can be passwords, and bodies get logged."""
    assert isinstance(exc, RequestValidationError)
    errors = [{key: value for key, value in e.items() if key != "input"} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bare 500 that still names its request id, so a user's report leads to the logs."""
    return await http_exception_handler(
        request,
        HTTPException(
            status_code=500,
            detail="Internal server error",
            headers={"X-Request-ID": correlation_id.get() or ""},
        ),
    )


def create_app() -> FastAPI:
    configure_logging()
    configure_error_reports("api")
    application = FastAPI(title=PROJECT_NAME, lifespan=lifespan)
    if origins := get_settings().cors_allowed_origins:
        application.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Added last, runs first: every log line of the request, the access log included, has its id.
    application.add_middleware(AccessLogMiddleware)
    application.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=lambda request_id: REQUEST_ID_PATTERN.fullmatch(request_id) is not None,
    )
    trace_api(application, engine)
    application.add_exception_handler(RequestValidationError, _invalid_request)
    application.add_exception_handler(Exception, _internal_error)
    application.include_router(health.router)
    application.include_router(api_router, prefix="/api/v1")
    return application


app = create_app()
