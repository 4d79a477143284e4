"""HTTP load generator, run as a process of its own so it never shares the API's event loop.

`python -m bench.loadgen URL --connections 32 --duration 3` keeps each connection busy with
one request at a time (HTTP/1.1 keep-alive, no pipelining) and prints one JSON object: responses
per second within the measured window, statuses, errors and latency percentiles. Raw asyncio
protocols on uvloop keep its own cost per request far below the server's; `bench.throughput`
measures that ceiling against `bench.canned_server`.
"""

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import cast
from urllib.parse import urlsplit

from bench import eventloop
from bench.stats import latency_summary


@dataclass
class Window:
    """Responses are counted from `start` (after the warm-up) until `stop`."""

    start: float
    stop: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Client(asyncio.Protocol):
    """One keep-alive connection sending the same request again as soon as each answer is in."""

    def __init__(self, request: bytes, window: Window, finished: asyncio.Future[None]) -> None:
        self.request = request
        self.window = window
        self.finished = finished
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (head_end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:head_end]).lower()
            length_at = head.find(b"\r\ncontent-length:")
            if length_at < 0:
                self._fail("a response without Content-Length")
                return
            length_end = head.find(b"\r\n", length_at + 2)
            length = int(head[length_at + 17 : length_end if length_end >= 0 else None])
            size = head_end + 4 + length
            if len(self.buffer) < size:
                return
            del self.buffer[:size]
            self._answered(int(head[9:12]))

    def _answered(self, status: int) -> None:
        now = time.perf_counter()
        window = self.window
        if window.start <= now < window.stop:
            window.latencies.append(now - self.sent_at)
            window.statuses[status] = window.statuses.get(status, 0) + 1
        if now >= window.stop:
            self._finish()
        else:
            self.send()

    def _fail(self, error: str) -> None:
        self.window.errors.append(error)
        self._finish()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.finished.done():
            self.finished.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.window.errors.append(f"connection lost: {exc!r}")
            self.finished.set_result(None)


async def generate_load(
    url: str, method: str, connections: int, duration: float, warmup: float
) -> dict[str, object]:
    """Open every connection, then send for `warmup` + `duration` s; report the last `duration`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"{method} {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    window = Window(start=float("inf"), stop=float("inf"))
    clients = []
    for _ in range(connections):
        connecting = partial(Client, request, window, loop.create_future())
        _, client = await loop.create_connection(connecting, host, port)
        clients.append(client)
    started = time.perf_counter()
    window.start, window.stop = started + warmup, started + warmup + duration
    for client in clients:
        client.send()
    await asyncio.gather(*(client.finished for client in clients))
    ok = sum(count for status, count in window.statuses.items() if 200 <= status < 300)
    return {
        "connections": connections,
        "duration_s": duration,
        "responses": sum(window.statuses.values()),
        "rps": ok / duration,
        "statuses": {str(status): count for status, count in sorted(window.statuses.items())},
        "errors": len(window.errors) + sum(window.statuses.values()) - ok,
        "error_examples": window.errors[:3],
        "latency": latency_summary(window.latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    options = parser.parse_args()

    async def run() -> None:
        result = await generate_load(
            options.url, options.method, options.connections, options.duration, options.warmup
        )
        print(json.dumps(result))

    eventloop.run(run())


if __name__ == "__main__":
    main()
