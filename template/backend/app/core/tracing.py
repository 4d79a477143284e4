"""OpenTelemetry tracing: one trace from a request through the outbox and the relay into its tasks.

Off unless an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, or `..._TRACES_ENDPOINT`).
Then each process exports its spans over OTLP/HTTP, configured by the standard `OTEL_*` variables
(service name, headers, sampler); off, no exporter is imported or started. The outbox stores the
context of the request that wrote a row (`app.services.outbox`), and the relay publishes the row
inside it, so the worker's run of the task joins the request's trace.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context, propagate, trace

if TYPE_CHECKING:  # imported where they are used: the logging setup imports this module
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

# This process's, once start_tracing has set it up.
_provider: "TracerProvider | None" = None


def tracing_configured() -> bool:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


def start_tracing(service_name: str) -> bool:
    """Export this process's spans, named `service_name` unless OTEL_SERVICE_NAME says otherwise,
    if tracing is configured; True if it is."""
    global _provider
    if not tracing_configured():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    return True


def stop_tracing() -> None:
    """Send the spans not yet exported: a pool process exits without running atexit hooks."""
    if _provider is not None:
        _provider.shutdown()


def trace_headers() -> dict[str, str]:
    """The current trace's context as W3C headers (`traceparent`), to send with a task; empty
    outside a trace, and whenever tracing is off."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@contextmanager
def publishing(task_name: str, headers: dict[str, str]) -> Iterator[None]:
    """A span for sending one task, in the trace whose context `headers` carry (the request's),
    after which `headers` carry the span's own: the worker's run of the task is its child.

    The relay's own, not the Celery instrumentation's: after a failed publish (a broker outage)
    that one leaves its span current, and the next try's message names the wrong parent.
    """
    token = context.attach(propagate.extract(headers))
    try:
        with trace.get_tracer(__name__).start_as_current_span(
            f"publish {task_name}", kind=trace.SpanKind.PRODUCER
        ):
            propagate.inject(headers)
            yield
    finally:
        context.detach(token)


def trace_api(application: "FastAPI", engine: "AsyncEngine") -> None:
    """The API's requests, its SQL and its Redis calls, if tracing is configured."""
    if not start_tracing("api"):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FastAPIInstrumentor.instrument_app(application)
    # It declares SQLAlchemy below 2.1 and would skip 2.1, whose engine events it uses unchanged
    # (tests/e2e/test_observability.py sees its spans).
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)
    RedisInstrumentor().instrument()


def trace_worker(engine: "AsyncEngine") -> None:
    """A worker process's task runs, with their SQL and Redis calls, if tracing is configured."""
    if not start_tracing("worker"):
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]  # untyped upstream
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)
    RedisInstrumentor().instrument()


def trace_relay() -> None:
    """The relay's publishes (see `publishing`), each in the trace of the request that wrote its
    row; its own polling of the outbox is left out, or every pass would make a trace."""
    start_tracing("relay")
