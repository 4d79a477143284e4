"""The Redis result backend, without the subscription Celery starts for every task it sends.

Celery subscribes to a task's result channel as soon as the task is sent, in case the sender waits
for the result. The API never waits (the status endpoint reads states with one GET), so every task
it sent would leave a subscription behind, and a stream of result messages nobody reads, until
Redis drops the connection. `AsyncResult.get()` still subscribes, when it is called.
"""

from typing import Any

from celery.backends.redis import RedisBackend


class RedisResultBackend(RedisBackend):
    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Sending a task subscribes to nothing; see the module docstring."""
