"""A real SMTP server (aiosmtpd) for tests, and a mailbox to wait on what it receives."""

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """Every message the test SMTP server accepted, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == recipient]

    def wait_for(self, recipient: str, timeout: float = 30) -> EmailMessage:
        """The first message to `recipient`, waiting up to `timeout` seconds for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.to(recipient):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"No email to {recipient} within {timeout} s")
                self._changed.wait(remaining)
        return self.to(recipient)[0]


@contextmanager
def running_smtp_server(host: str, port: int) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
