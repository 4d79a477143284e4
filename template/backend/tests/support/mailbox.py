"""A real SMTP server (aiosmtpd) for tests, and a mailbox to wait on what it receives.

Tests can make deliveries to one recipient fail with a given reply, or hold them at RCPT until
released (a delivery in flight, for killing the worker that sends it).
"""

import asyncio
import email
import email.policy
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """Every message the test SMTP server accepted, in arrival order."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.attempts: Counter[str] = Counter()
        self._failures: dict[str, list[str]] = {}
        self._held: set[str] = set()
        self.waiting: Counter[str] = Counter()
        self._changed = threading.Condition()

    def fail(self, recipient: str, times: int, reply: str) -> None:
        """Answer the next `times` deliveries to `recipient` with `reply` (e.g. "421 ...")."""
        with self._changed:
            self._failures[recipient] = [reply] * times

    @contextmanager
    def holding(self, recipient: str) -> Iterator[None]:
        """Keep deliveries to `recipient` waiting at RCPT until the block ends."""
        with self._changed:
            self._held.add(recipient)
        try:
            yield
        finally:
            with self._changed:
                self._held.discard(recipient)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self._changed:
            self.attempts[address] += 1
            failures = self._failures.get(address)
            if failures:
                return failures.pop()
            self.waiting[address] += 1
            self._changed.notify_all()
        try:
            # Released from the test's thread, not from this event loop: polled.
            while address in self._held:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        finally:
            with self._changed:
                self.waiting[address] -= 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == recipient]

    def wait_for(self, recipient: str, timeout: float = 30, nth: int = 1) -> EmailMessage:
        """The `nth` message to `recipient`, waiting up to `timeout` seconds for it to arrive."""
        self._wait_until(
            lambda: len(self.to(recipient)) >= nth, f"No email #{nth} to {recipient}", timeout
        )
        return self.to(recipient)[nth - 1]

    def wait_for_waiting(self, recipients: list[str], count: int, timeout: float = 30) -> None:
        """Wait until deliveries to `count` of the recipients are held at RCPT."""
        self._wait_until(
            lambda: sum(self.waiting[r] > 0 for r in recipients) >= count,
            f"{count} deliveries to {recipients} not in flight",
            timeout,
        )

    def _wait_until(self, condition: Callable[[], bool], failure: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{failure} within {timeout} s")
                self._changed.wait(remaining)


@contextmanager
def running_smtp_server(host: str, port: int) -> Iterator[Mailbox]:
    mailbox = Mailbox(port)
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message (the app's emails carry an HTML alternative too)."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, f"The message has no plain-text part: {message}"
    return str(body.get_content())


def link_token_of(message: EmailMessage) -> str:
    """The token of the link in a message's plain text."""
    found = re.search(r"\?token=([\w-]+)", text_of(message))
    assert found is not None, f"The message has no link: {text_of(message)}"
    return found.group(1)
