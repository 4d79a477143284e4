"""A stand-in for Sentry: an HTTP server on loopback that keeps every envelope the SDK posts.

Point `SENTRY_DSN` at `server.dsn`; envelopes are read back with the SDK's own `Envelope`.
"""

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.types import Event

PROJECT_ID = "1"


class SentryServer:
    """What the SDK sent: `envelopes` as posted (uncompressed), and the error `events` in them."""

    def __init__(self, port: int) -> None:
        self.dsn = f"http://public@127.0.0.1:{port}/{PROJECT_ID}"
        self.envelopes: list[bytes] = []
        self._lock = threading.Lock()

    def keep(self, envelope: bytes) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    @property
    def events(self) -> list[Event]:
        """The error events received, in order."""
        with self._lock:
            envelopes = list(self.envelopes)
        parsed = (Envelope.deserialize(envelope) for envelope in envelopes)
        return [event for envelope in parsed if (event := envelope.get_event()) is not None]


@contextmanager
def running_sentry_server() -> Iterator[SentryServer]:
    """A SentryServer on a free port of 127.0.0.1, until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.startswith(f"/api/{PROJECT_ID}/envelope/"):
                sentry.keep(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads what was sent, not an access log

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sentry = SentryServer(http.server_address[1])
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield sentry
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
