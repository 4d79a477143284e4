"""A server that answers every request at once with the same bytes: the load generator's ceiling.

`python -m bench.canned_server PORT` prints "listening" once it accepts connections. It does
next to nothing per request, so the rate the load generator reaches against it is what the load
generator itself can drive on this machine.
"""

import asyncio
import sys
from typing import cast

from bench import eventloop

BODY = b'{"task_id":"00000000-0000-0000-0000-000000000000"}'
RESPONSE = (
    b"HTTP/1.1 202 Accepted\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: uvicorn\r\n"
    b"content-length: %d\r\ncontent-type: application/json\r\n\r\n%s" % (len(BODY), BODY)
)


class CannedResponses(asyncio.Protocol):
    """One canned response per request head received (requests carry no body)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        requests = self.buffer.count(b"\r\n\r\n")
        if requests:
            del self.buffer[: self.buffer.rfind(b"\r\n\r\n") + 4]
            self.transport.write(RESPONSE * requests)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(CannedResponses, "127.0.0.1", port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    eventloop.run(serve(int(sys.argv[1])))
