"""The Redis result backend, without the subscription Celery starts for every task it sends.

Celery subscribes to a task's result channel as soon as the task is sent, in case the sender waits
for the result. The API never waits (the status endpoint reads states with one GET), so every task
it sent would leave a subscription behind, and a stream of result messages nobody reads, until
Redis drops the connection. `AsyncResult.get()` still subscribes, when it is called.
"""

from typing import Any

from celery.backends.redis import RedisBackend
from celery.result import AsyncResult


class RedisResultBackend(RedisBackend):
    # Celery's AsyncBackendMixin sets these; celery-types leaves them out.
    _pending_results: tuple[dict[str, Any], ...]
    result_consumer: Any

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Sending a task subscribes to nothing; see the module docstring."""

    def remove_pending_result(self, result: AsyncResult[Any]) -> None:
        """Called as each AsyncResult is dropped; free while nothing waits on any result.

        Celery would compute the result's key and take the subscriber's lock to unsubscribe from
        a channel never subscribed to: about a fifth of what publishing from the API costs.
        """
        if any(self._pending_results) or self.result_consumer.subscribed_to:
            super().remove_pending_result(result)
