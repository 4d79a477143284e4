"""One logging setup for the API and the worker, so their lines look alike and go to stdout.

Every line carries the request id (`X-Request-ID`) of the request it serves; the worker gets the id
from the headers of the task the request enqueued, so one id follows a request into its tasks.
With tracing on (see app.core.tracing), lines also carry the id of the trace they belong to.
"""

import logging
import logging.config
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS

from app.core.config import get_settings
from app.core.tracing import tracing_configured

TEXT_FORMAT = "%(asctime)s %(levelname)-8s [%(correlation_id)s] %(name)s: %(message)s"
TRACED_TEXT_FORMAT = (
    "%(asctime)s %(levelname)-8s [%(correlation_id)s trace=%(trace_id)s] %(name)s: %(message)s"
)
JSON_FIELDS = (
    "%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(trace_id)s %(process)d %(message)s"
)


class TraceIdFilter(logging.Filter):
    """Gives each record the id of the trace it was logged in, as `trace_id` ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else "-"
        return True


def configure_logging() -> None:
    """Send every log record to stdout in the configured format. Safe to call more than once."""
    settings = get_settings()
    formatters: dict[str, dict[str, Any]] = {
        "text": {"format": TRACED_TEXT_FORMAT if tracing_configured() else TEXT_FORMAT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            # Uvicorn's color_message duplicates the message with terminal colour codes.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        },
    }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {
                "request_id": {
                    "()": "asgi_correlation_id.CorrelationIdFilter",
                    "default_value": "-",
                },
                "trace_id": {"()": TraceIdFilter},
            },
            "formatters": {"default": formatters[settings.log_format]},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stdout",
                    "formatter": "default",
                    "filters": ["request_id", "trace_id"],
                }
            },
            "root": {"handlers": ["stdout"], "level": settings.log_level},
            # Uvicorn's own lines go through the root handler, in the same format; its access
            # log is replaced by app.access, which knows the request id.
            "loggers": {
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": False},
            },
        }
    )


def get_logger(name: str) -> logging.Logger:
    """A named logger; call `get_logger(__name__)` at the top of a module."""
    return logging.getLogger(name)
