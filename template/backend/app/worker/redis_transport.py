"""kombu's Redis transport, with one Redis client per channel instead of one per command.

kombu builds a new redis-py client for every message it publishes; setting up its tables of
command callbacks is about a fifth of what a `.delay()` costs in CPU (profiled with `just bench`,
figure 4). A client is safe to share between threads, each command taking a connection from the
channel's pool, so the channel keeps one for as long as it keeps that pool.
"""

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()  # type: ignore[misc]
        return client


class Transport(redis.Transport):
    Channel = Channel
