"""The public-API checker (tests/public_api.py) on snippets: it catches each kind of violation
and passes ordinary code. Fast: nothing is rendered."""

from pathlib import Path
from textwrap import dedent

import pytest

from tests.public_api import check_project, check_source

FORBIDDEN = {
    # Private imports
    "private module": ("import celery._state", "imports the private module celery._state"),
    "from a private module": (
        "from celery._state import get_current_app",
        "imports the private module celery._state",
    ),
    "private name": (
        "from celery.app.task import _x",
        "imports the private name _x from celery.app.task",
    ),
    "private name, kombu": (
        "from kombu.transport.redis import _y",
        "imports the private name _y from kombu.transport.redis",
    ),
    "import_module": (
        "import importlib\nimportlib.import_module('celery._state')",
        "imports the private module celery._state",
    ),
    # Private attributes
    "on an annotated task": (
        """
        from celery import Task
        def options(task: Task) -> dict:
            return task._get_exec_options()
        """,
        "uses the private attribute _get_exec_options of an object from celery",
    ),
    "a known internal on any object": (
        """
        from app.worker.celery_app import celery_app
        waiting = celery_app.backend._pending_results
        """,
        "uses _pending_results, an internal of celery/kombu/redis/starlette",
    ),
    "a known internal, called": (
        "client = channel._create_client()",
        "uses _create_client, an internal",
    ),
    "on a library name": (
        "from kombu.transport.redis import Channel\nseparator = Channel._x",
        "uses the private attribute _x of kombu.transport.redis.Channel",
    ),
    "on a library module": (
        "import kombu.transport.redis\nkombu.transport.redis._y()",
        "uses the private attribute _y of kombu.transport.redis",
    ),
    "on a value made by a library": (
        """
        import redis
        client = redis.Redis.from_url("redis://127.0.0.1")
        pipeline = client.pipeline()
        pipeline._anything()
        """,
        "uses the private attribute _anything of an object from redis",
    ),
    "through getattr": (
        "getattr(task, '_get_exec_options')()",
        "uses _get_exec_options, an internal",
    ),
    "through monkeypatch": (
        "monkeypatch.setattr(celery_app.backend, '_pending_results', ())",
        "uses _pending_results, an internal",
    ),
    "through mock.patch": (
        "from unittest import mock\nmock.patch('kombu.transport.redis.Channel._create_client')",
        "patches the private name kombu.transport.redis.Channel._create_client",
    ),
    "through cast": (
        """
        from typing import cast
        from celery.backends.redis import RedisBackend
        backend = cast(RedisBackend, app.backend)
        backend._forget("id")
        """,
        "uses the private attribute _forget of an object from celery",
    ),
    # Transport and channel subclasses
    "transport by full path": (
        "import kombu.transport.redis\nclass T(kombu.transport.redis.Transport): pass",
        "subclasses the kombu transport/channel kombu.transport.redis.Transport",
    ),
    "channel by name": (
        "from kombu.transport.redis import Channel\nclass C(Channel): pass",
        "subclasses the kombu transport/channel kombu.transport.redis.Channel",
    ),
    "transport through the module": (
        "from kombu.transport import redis\nclass T(redis.Transport): pass",
        "subclasses the kombu transport/channel kombu.transport.redis.Transport",
    ),
    "virtual channel, renamed": (
        "from kombu.transport.virtual import Channel as Base\nclass C(Base): pass",
        "subclasses the kombu transport/channel kombu.transport.virtual.Channel",
    ),
    "overriding a channel internal": (
        """
        from kombu.transport import redis
        class C(redis.Channel):
            def _create_client(self, asynchronous=False):
                return super()._create_client(asynchronous)
        """,
        "calls super()._create_client, an internal of its library base class",
    ),
    # Result backend subclasses
    "redis backend": (
        "from celery.backends.redis import RedisBackend\nclass B(RedisBackend): pass",
        "subclasses the Celery result backend celery.backends.redis.RedisBackend",
    ),
    "any backend": (
        "import celery.backends.base\nclass B(celery.backends.base.KeyValueStoreBackend): pass",
        "subclasses the Celery result backend celery.backends.base.KeyValueStoreBackend",
    ),
    "a backend internal through self": (
        """
        from celery.backends.redis import RedisBackend
        class B(RedisBackend):
            def waiting(self):
                return any(self._pending_results)
        """,
        "uses _pending_results, an internal its library base class defines",
    ),
    # Hand-built messages
    "body_encoding": (
        "envelope = {'body': body, 'body_encoding': 'base64'}",
        "builds the wire-format key 'body_encoding' of a message",
    ),
    "delivery_tag, assigned": (
        "properties = {}\nproperties['delivery_tag'] = tag",
        "sets the wire-format key 'delivery_tag' of a hand-built message",
    ),
    "delivery_info, by keyword": (
        "properties = dict(delivery_info={'exchange': ''})",
        "builds the wire-format key 'delivery_info' of a message",
    ),
    "an envelope": (
        "message = {'body': b, 'headers': h, 'properties': {'priority': 0}}",
        "builds a kombu message envelope (body, headers, properties)",
    ),
    "message properties": (
        "message = {'properties': {'priority': 9, 'delivery_mode': 2}}",
        "builds the properties of a kombu message",
    ),
}

ALLOWED = {
    "public imports": """
        from celery import Celery, Task
        from celery.exceptions import SoftTimeLimitExceeded
        from celery.signals import before_task_publish
        from kombu import Exchange, Queue
        from kombu.exceptions import OperationalError
        from redis.asyncio import ConnectionPool
        from starlette.types import ASGIApp, Message
        import redis
        """,
    "sending tasks": """
        from celery import Celery
        celery_app = Celery("app", broker="redis://127.0.0.1")
        celery_app.send_task("app.tasks.x", args=[1], queue="default")
        result = task.delay(1)
        task.apply_async((1,), countdown=5, priority=3)
        result.get(timeout=1)
        """,
    "the project's own private names": """
        import redis
        _pool = None
        class Limiter:
            def __init__(self, client: redis.Redis) -> None:
                self._client = client
            def _send(self) -> None:
                self._client.ping()
        def use(limiter: Limiter) -> None:
            limiter._send()  # `_send` is a Starlette internal's name too, but defined here
        """,
    "a name that holds a library object only in another function": """
        import redis
        def make():
            client = redis.Redis()
            return client
        def use(client):
            client._ours()
        """,
    "a library subclass's own names": """
        from celery import Task
        class BaseTask(Task):
            _retries_seen = 0
            def _count(self) -> None:
                self._retries_seen += 1
        """,
    "namedtuple API and other modules' privates": """
        import os
        import sys
        from urllib.parse import urlsplit
        from kombu.utils.url import url_to_parts
        urlsplit("redis://127.0.0.1")._replace(netloc="x")
        url_to_parts("redis://127.0.0.1")._asdict()
        sys._getframe(0)
        os._exit(0)
        """,
    "reading delivery details": """
        def queue_of(self) -> str:
            return self.request.delivery_info["routing_key"]
        """,
    "ASGI and HTTP messages": """
        async def send_body(send, body: bytes) -> None:
            await send({"type": "http.response.body", "body": body, "headers": []})
        """,
    "publishing options": """
        task.apply_async((1,), priority=9, delivery_mode=2)
        options = {"queue": "emails", "priority": 3}
        """,
    "dunders": """
        from celery import Celery
        Celery.__name__
        monkeypatch.setattr(app.tasks, "__path__", ["x"])
        """,
}


@pytest.mark.parametrize(("source", "expected"), FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_each_forbidden_pattern_is_caught(source: str, expected: str) -> None:
    violations = check_source(dedent(source), "backend/app/snippet.py")
    assert any(expected in violation for violation in violations), violations
    assert all(violation.startswith("backend/app/snippet.py:") for violation in violations)


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_ordinary_code_passes(source: str) -> None:
    assert check_source(dedent(source)) == []


def test_a_project_is_checked_file_by_file_with_lines(tmp_path: Path) -> None:
    """Objects another module makes count as the library's; the virtualenv is not looked at."""
    files = {
        "backend/app/worker/celery_app.py": """
            from celery import Celery
            def build() -> Celery:
                return Celery("app")
            celery_app = build()
            """,
        "backend/app/api/tasks.py": """
            from app.worker.celery_app import celery_app

            def producers():
                return celery_app.amqp._producer_pool
            """,
        "backend/app/broken.py": "def (:\n",
        "backend/app/fine.py": "from celery import Celery\n",
        "backend/.venv/lib/python3.13/site-packages/celery/app/base.py": "import celery._state\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(dedent(source).lstrip())

    assert check_project(tmp_path) == [
        "backend/app/api/tasks.py:4: uses the private attribute _producer_pool of an object from"
        " celery",
        "backend/app/broken.py:1: does not parse: invalid syntax",
    ]


def test_a_private_import_added_to_a_clean_file_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "backend/app/worker/routing.py"
    module.parent.mkdir(parents=True)
    module.write_text("from kombu import Queue\n\nQUEUES = [Queue('default')]\n")
    assert check_project(tmp_path) == []

    module.write_text("from kombu.entity import _reprstr\n" + module.read_text())

    assert check_project(tmp_path) == [
        "backend/app/worker/routing.py:1: imports the private name _reprstr from kombu.entity"
    ]
