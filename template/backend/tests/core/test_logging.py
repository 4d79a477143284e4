import json
import os
import subprocess
import sys

import pytest

from tests.support.processes import BACKEND_DIR

LOG_ONE_LINE = (
    "from asgi_correlation_id import correlation_id\n"
    "from app.core.logging import configure_logging, get_logger\n"
    "configure_logging()\n"
    "correlation_id.set('req-42')\n"
    "get_logger('app.example').warning('Something happened')\n"
)


def log_one_line(log_format: str) -> str:
    completed = subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-c", LOG_ONE_LINE],
        cwd=BACKEND_DIR,
        env={**os.environ, "LOG_FORMAT": log_format},
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def test_json_lines_carry_the_request_id_as_a_field() -> None:
    record = json.loads(log_one_line("json"))

    assert record["message"] == "Something happened"
    assert record["level"] == "WARNING"
    assert record["logger"] == "app.example"
    assert record["request_id"] == "req-42"


def test_text_lines_carry_the_request_id() -> None:
    line = log_one_line("text")

    assert "WARNING" in line
    assert "[req-42] app.example: Something happened" in line


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(subprocess.CalledProcessError):
        log_one_line("xml")
