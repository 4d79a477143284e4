"""One logging setup for the API and the worker, so their lines look alike and go to stdout."""

import logging
import logging.config

from app.core.config import get_settings

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(processName)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Send every log record to stdout in one format. Safe to call more than once."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"default": {"format": LOG_FORMAT}},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stdout",
                    "formatter": "default",
                }
            },
            "root": {"handlers": ["stdout"], "level": level or get_settings().log_level},
        }
    )


def get_logger(name: str) -> logging.Logger:
    """A named logger; call `get_logger(__name__)` at the top of a module."""
    return logging.getLogger(name)
