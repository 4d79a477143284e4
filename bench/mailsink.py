"""An SMTP server that accepts every message and remembers who it was for.

The projects' workers send their welcome emails here, so the broker-down figure can count which
registrations got theirs.
"""

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from bench.processes import free_port


class MailSink:
    def __init__(self) -> None:
        self.port = free_port()
        self._received: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._received.update(address.lower() for address in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def received(self, recipients: set[str]) -> set[str]:
        """Which of `recipients` have had at least one message."""
        with self._lock:
            return {address for address in recipients if self._received[address]}


@contextmanager
def running_mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
