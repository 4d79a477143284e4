"""Tasks onto a Redis broker from the event loop itself, many of them per round trip.

`Task.apply_async` spends about 0.4 ms of CPU on one LPUSH (`just bench`, figure 4): a pooled
producer, retry wrappers, declaration checks and settings lookups around it, on a thread because
it blocks. Here the message Celery would send is built in a fraction of that (Celery's routing and
publish signals, its protocol 2 headers, kombu's Redis envelope), and its LPUSH joins every other
one queued while the previous batch was on the wire: a burst of tasks costs one round trip and no
thread. Only the common options take this path; `prepare` answers None for anything else, which the
caller hands to Celery. The tests compare what both paths leave in Redis, so a Celery or kombu
upgrade that changes the message fails them rather than the workers.
"""

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio
from celery import Celery, Task
from celery.app.routes import MapRoute
from celery.result import AsyncResult
from celery.signals import after_task_publish, before_task_publish
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu import Queue
from kombu.entity import maybe_delivery_mode
from kombu.exceptions import OperationalError
from kombu.transport.redis import Channel
from kombu.utils.json import JSONEncoder
from kombu.utils.uuid import uuid
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

# Options that only shape the message. Others (expires, link, exchange, ...) go through Celery.
SUPPORTED_OPTIONS = frozenset(
    {
        "task_id",
        "countdown",
        "eta",
        "queue",
        "priority",
        "headers",
        "ignore_result",
        "time_limit",
        "soft_time_limit",
    }
)

# kombu's `dumps`, less the encoder it builds on every call: the same text.
to_json = JSONEncoder().encode

Message = tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]]  # headers, properties, body


@dataclass
class PreparedMessage:
    key: str
    payload: str
    result: AsyncResult[Any]
    after_publish: dict[str, Any]  # what the after_task_publish signal is sent with


class RedisPublisher:
    """One per event loop: its Redis connections belong to the loop that opened them."""

    def __init__(self, app: Celery) -> None:
        conf = app.conf
        transport_options = conf.broker_transport_options or {}
        self.app = app
        self._amqp, self._tasks = app.amqp, app.tasks
        self._client = redis.asyncio.Redis.from_url(
            conf.broker_write_url or conf.broker_url,
            socket_connect_timeout=conf.broker_connection_timeout,
            socket_timeout=conf.broker_connection_timeout,
            # Once more at once, for a connection Redis closed while idle; a broker that is down
            # fails the call within the timeout instead of after redis-py's backoff of seconds.
            retry=Retry(NoBackoff(), 1),
        )
        self._key_prefix: str = transport_options.get("global_keyprefix", "")
        self._priority_steps: list[int] = transport_options.get(
            "priority_steps", Channel.priority_steps
        )
        self._separator: str = transport_options.get("sep", Channel.sep)
        self._retry_policy = dict(conf.task_publish_retry_policy)
        self._default_delivery_mode = conf.task_default_delivery_mode
        self._repr_maxlevels = conf.task_repr_maxlevels
        # A loop is made after any fork, so this process's node name stays what it is now.
        self._origin = anon_nodename()
        self._routes: dict[str, dict[str, Any]] = {}
        routers: list[Any] = getattr(self._amqp.router, "routes", [])
        self._routes_by_name_only = all(isinstance(router, MapRoute) for router in routers)
        # Messages waiting for the next batch, by Redis key, and their senders.
        self._waiting: dict[str, list[str]] = {}
        self._senders: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None

    @staticmethod
    def covers(app: Celery) -> bool:
        """Whether this app's settings leave the supported calls to this path."""
        conf = app.conf
        url = conf.broker_write_url or conf.broker_url
        return (
            isinstance(url, str)
            and url.startswith(("redis://", "rediss://"))
            and ";" not in url  # failover URLs are Celery's to handle
            and not conf.broker_use_ssl
            and not conf.task_always_eager
            and not conf.task_send_sent_event  # the task-sent event goes out with Celery's producer
            and not conf.task_compression
        )

    def prepare(
        self,
        task: Task[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
    ) -> PreparedMessage | None:
        """What `task.apply_async(args, kwargs, **options)` would LPUSH, or None if not covered."""
        task = self._tasks[task.name]  # the task, not the proxy that `@celery_app.task` returns
        covered = self._covered_options(task, options)
        if covered is None:
            return None
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, Mapping):
            return None  # for Celery to refuse
        args, kwargs = args or (), kwargs or {}
        if task.typing:  # a call that does not match the signature raises TypeError, as in Celery
            task.__header__(*args, **kwargs)  # type: ignore[attr-defined]
        options = covered
        task_id: str = options.pop("task_id", None) or uuid()
        countdown, eta = options.pop("countdown", None), options.pop("eta", None)
        limits = options.pop("time_limit", None), options.pop("soft_time_limit", None)
        ignore_result: bool = options.pop("ignore_result", task.ignore_result)
        extra_headers = options.pop("headers", None)
        shadow = task.shadow_name(args, kwargs, options)  # type: ignore[func-returns-value]
        route = self._route(task, args, kwargs, options)
        queue = route.pop("queue", None)
        if not isinstance(queue, Queue) or route.keys() - {"priority"} or not _is_plain(queue):
            return None
        if countdown is None and eta is None:
            headers, properties, body = self._task_message(
                task_id, task.name, args, kwargs, limits, shadow, ignore_result
            )
        else:  # the ETA, in the app's timezone, as Celery computes it
            headers, properties, body, _ = self._amqp.create_task_message(
                task_id,
                task.name,
                args,
                kwargs,
                countdown,
                eta,
                reply_to=self.app.thread_oid,
                time_limit=limits[0],
                soft_time_limit=limits[1],
                shadow=shadow,
                ignore_result=ignore_result,
            )
        if extra_headers:
            headers.update(extra_headers)
        before_task_publish.send(
            sender=task.name,
            body=body,
            exchange="",
            routing_key=queue.name,
            declare=[queue],
            headers=headers,
            properties=properties,
            retry_policy=dict(self._retry_policy),
        )
        priority: int = route.get("priority") or 0
        envelope = self._envelope((headers, properties, body), queue, priority)
        result = task.AsyncResult(task_id)
        result.ignored = ignore_result
        return PreparedMessage(
            key=self._key_for(queue.name, priority),
            payload=to_json(envelope),
            result=result,
            after_publish={"body": body, "headers": headers, "routing_key": queue.name},
        )

    async def send(self, message: PreparedMessage, task_name: str) -> None:
        """On the broker when this returns; OperationalError if the broker did not take it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(message.key, []).append(message.payload)
        self._senders.append(future)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name="redis-publisher")
        await future
        after_task_publish.send(sender=task_name, exchange="", **message.after_publish)

    async def aclose(self) -> None:
        if self._writer is not None:
            await self._writer
        await self._client.aclose()

    def _covered_options(
        self, task: Task[..., Any], options: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The task's own options (from its decorator) and the call's, if this path covers them."""
        declared: dict[str, Any] = task._get_exec_options()  # type: ignore[attr-defined]
        merged = {
            name: value for name, value in {**declared, **options}.items() if value is not None
        }
        if merged.pop("serializer", "json") != "json" or not merged.keys() <= SUPPORTED_OPTIONS:
            return None
        special = (
            task.__v2_compat__
            or getattr(task, "_dump_pydantic_arguments", None) is not None
            or self.app.current_worker_task is not None  # parent and root ids come from it
        )
        return None if special else merged

    def _route(
        self,
        task: Task[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """Celery's routing; remembered by task name where only the name decides it."""
        router = self._amqp.router
        if options or not self._routes_by_name_only:  # a queue= or priority= of the call's own
            return router.route(options, task.name, args, kwargs, task)  # type: ignore[arg-type]
        route = self._routes.get(task.name)
        if route is None:
            route = router.route({}, task.name, args, kwargs, task)  # type: ignore[arg-type]
            self._routes[task.name] = route
        return dict(route)

    def _task_message(
        self,
        task_id: str,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limits: tuple[int | None, int | None],
        shadow: str | None,
        ignore_result: bool,
    ) -> Message:
        """Celery's task message, protocol 2, with no ETA, parent, group or callbacks.

        As `celery.app.amqp.AMQP.as_task_v2` builds it, without the branches this path never takes.
        """
        amqp = self._amqp
        headers: dict[str, Any] = {
            "lang": "py",
            "task": name,
            "id": task_id,
            "shadow": shadow,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": list(limits),
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": self._repr(args, amqp.argsrepr_maxsize),
            "kwargsrepr": self._repr(kwargs, amqp.kwargsrepr_maxsize),
            "origin": self._origin,
            "ignore_result": ignore_result,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        properties = {"correlation_id": task_id, "reply_to": self.app.thread_oid}
        embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
        return headers, properties, (args, kwargs, embed)

    def _repr(self, arguments: tuple[Any, ...] | dict[str, Any], maxsize: int) -> str:
        """Celery's `saferepr` of a call's arguments, which costs about 20 µs even for `()`.

        For no arguments, or a few ints (ids, counts: most calls), it is `repr` when that fits.
        """
        if type(arguments) is dict and not arguments:
            return "{}"
        if type(arguments) is tuple and all(type(value) is int for value in arguments):
            text = repr(arguments)
            if len(text) < maxsize:
                return text
        return saferepr(arguments, maxsize, maxlevels=self._repr_maxlevels)

    def _envelope(self, message: Message, queue: Queue, priority: int) -> dict[str, Any]:
        """The message as kombu's Redis transport stores it (`Channel.basic_publish`)."""
        headers, properties, body = message
        delivery_mode = queue.exchange.delivery_mode or self._default_delivery_mode
        return {
            # kombu's "json" serializer, then the transport's base64 body encoding.
            "body": base64.b64encode(to_json(body).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                **properties,
                "delivery_mode": maybe_delivery_mode(delivery_mode),
                "delivery_info": {"exchange": "", "routing_key": queue.name},
                "priority": priority,
                "body_encoding": "base64",
                "delivery_tag": secrets.token_hex(16),  # unique, as kombu's uuid4 tags, cheaper
            },
        }

    def _key_for(self, queue_name: str, priority: int) -> str:
        """kombu's key for a queue at a priority: the queue's name, suffixed above step 0."""
        step = max(s for s in self._priority_steps if s <= min(max(int(priority), 0), 9))
        name = f"{queue_name}{self._separator}{step}" if step else queue_name
        return f"{self._key_prefix}{name}"

    async def _write_batches(self) -> None:
        """What was queued meanwhile goes out in one round trip, one LPUSH per queue, in order."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                senders, self._senders = self._senders, []
                try:
                    await self._push(batch)
                except (RedisError, OSError) as exc:
                    for future in senders:
                        if not future.done():
                            future.set_exception(OperationalError(f"Broker refused: {exc!r}"))
                else:
                    for future in senders:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._writer = None

    async def _push(self, batch: dict[str, list[str]]) -> None:
        if len(batch) == 1:
            [(key, payloads)] = batch.items()
            await cast(Awaitable[int], self._client.lpush(key, *payloads))
            return
        async with self._client.pipeline(transaction=False) as pipeline:
            for key, payloads in batch.items():
                pipeline.lpush(key, *payloads)
            await pipeline.execute()


def _is_plain(queue: Queue) -> bool:
    """Reached by its own name on the default exchange, as Celery sends to a direct queue."""
    return queue.exchange.type == "direct" and not getattr(queue, "expires", None)
