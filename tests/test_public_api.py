"""The public-API rule: generated code uses Celery, kombu, redis-py and Starlette through their
public API only.

`ast` reads every Python file a rendered project commits. A file breaks the rule when it
- imports a private module or name of those libraries, or names one in a string
  (`importlib.import_module("celery._state")`, `mock.patch("kombu.transport.redis._x")`);
- reads or sets an underscore attribute that is not the project's own: one on a name imported
  from those libraries (`Channel._x`), or one the project never defines, on anything but `self`
  (`celery_app.amqp._producer_pool`, `getattr(task, "_get_exec_options")`); in a subclass of a
  library class, `super()._x` and a `self._x` the class does not set itself;
- subclasses a kombu transport or channel, or a Celery result backend;
- builds a kombu message by hand (its wire keys in a dict it writes).
The standard library's (`sys._getframe`) and namedtuple's `_replace`, `_asdict`, ... pass.
"""

import ast
import re
import sys
from textwrap import dedent
from typing import Any

import pytest

from tests.conftest import Projects
from tests.helpers import run
from tests.variants import variant_params

LIBRARIES = {"celery", "kombu", "redis", "starlette"}
NAMEDTUPLE_API = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr", "object"}
LIBRARY_PATH = re.compile(r"(celery|kombu|redis|starlette)(\.\w+)+")
# Keys only a message built by hand has (kombu fills them in), and a whole envelope's.
WIRE_KEYS = {"body_encoding", "delivery_info", "delivery_tag"}
ENVELOPE_KEYS = {"body", "headers", "properties"}
PROPERTY_KEYS = {"priority", "delivery_mode"}


def is_private(name: str) -> bool:
    return len(name) > 1 and name.startswith("_") and not name.endswith("__")


def private_path(path: str) -> bool:
    parts = path.split(".")
    return parts[0] in LIBRARIES and any(map(is_private, parts[1:]))


def dotted(expr: ast.expr, imports: dict[str, str]) -> str | None:
    """The dotted path an expression names through the module's imports."""
    if isinstance(expr, ast.Name):
        return imports.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = dotted(expr.value, imports)
        return base and f"{base}.{expr.attr}"
    return None


def bound_names(nodes: list[Any], skip: set[Any]) -> set[str]:
    """Every name these trees define or assign (`def`, `x =`, `obj.x =`, arguments)."""
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node in skip:
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(getattr(node, "id", getattr(node, "attr", "")))
        if isinstance(node, ast.arg):
            names.add(node.arg)
        stack.extend(ast.iter_child_nodes(node))
    return names


def imported(tree: ast.Module) -> dict[str, str]:
    """Each name an absolute import binds, to the dotted path it names."""
    imports = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                imports[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return imports


def library_bases(node: ast.ClassDef, imports: dict[str, str]) -> list[str]:
    paths = [dotted(base, imports) or "" for base in node.bases]
    return [path for path in paths if path.split(".")[0] in LIBRARIES]


def check(sources: dict[str, str]) -> list[str]:
    """The violations in these files (path: source), as `path:line: what`."""
    trees = {path: ast.parse(dedent(source), path) for path, source in sources.items()}
    imports = {path: imported(tree) for path, tree in trees.items()}
    library_classes = {
        node
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and library_bases(node, imports[path])
    }
    project_names = bound_names(list(trees.values()), skip=library_classes)
    found: list[str] = []
    for file, tree in trees.items():
        found += check_module(file, tree, imports[file], library_classes, project_names)
    return found


def check_module(
    file: str,
    tree: ast.Module,
    imports: dict[str, str],
    library_classes: set[ast.ClassDef],
    project_names: set[str],
) -> list[str]:
    found: list[str] = []

    def check_attribute(node: ast.AST, base: ast.expr, attr: str, own: set[str] | None) -> None:
        if not is_private(attr) or attr in NAMEDTUPLE_API:
            return
        path = dotted(base, imports)
        is_super = isinstance(base, ast.Call) and getattr(base.func, "id", None) == "super"
        top = path and path.split(".")[0]
        if top in LIBRARIES:
            report(node, f"uses {attr} of {path}")
        elif top in sys.stdlib_module_names:
            pass  # the standard library's own business
        elif is_super or (isinstance(base, ast.Name) and base.id in {"self", "cls"}):
            if own is not None and (is_super or attr not in own):
                report(node, f"uses {attr}, an internal of its library base class")
        elif attr not in project_names:
            report(node, f"uses {attr}, which the project does not define: a library's internal")

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{file}:{getattr(node, 'lineno', 0)}: {what}")

    def visit(node: ast.AST, own: set[str] | None) -> None:
        """`own`: inside a subclass of a library class, the names that class sets itself."""
        if isinstance(node, ast.ClassDef):
            own = bound_names(node.body, skip=set()) if node in library_classes else None
            for path in library_bases(node, imports):
                if path.startswith(("celery.backends.", "kombu.transport.")) or path.endswith(
                    (".Transport", ".Channel")
                ):
                    report(node, f"subclasses {path}")
        if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
            module = getattr(node, "module", None)
            for name in (f"{module}.{a.name}" if module else a.name for a in node.names):
                if private_path(name):
                    report(node, f"imports {name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if LIBRARY_PATH.fullmatch(node.value) and private_path(node.value):
                report(node, f"names {node.value}")
        elif isinstance(node, ast.Attribute):
            check_attribute(node, node.value, node.attr, own)
        elif isinstance(node, ast.Call):
            name, args = getattr(node.func, "id", getattr(node.func, "attr", None)), node.args
            literal = len(args) > 1 and isinstance(getattr(args[1], "value", None), str)
            if name in ATTRIBUTE_FUNCTIONS and literal:  # getattr(x, "_y"), patch.object(x, "_y")
                check_attribute(node, args[0], getattr(args[1], "value", ""), own)
            if name == "dict":
                for key in {keyword.arg for keyword in node.keywords} & WIRE_KEYS:
                    report(node, f"builds a message's {key!r}")
        elif isinstance(node, ast.Dict):
            keys = {
                getattr(key, "value", None): value
                for key, value in zip(node.keys, node.values, strict=True)
            }
            for key in sorted(keys.keys() & WIRE_KEYS):
                report(node, f"builds a message's {key!r}")
            properties = keys.get("properties")
            if keys.keys() >= ENVELOPE_KEYS or (
                isinstance(properties, ast.Dict)
                and {getattr(key, "value", None) for key in properties.keys} & PROPERTY_KEYS
            ):
                report(node, "builds a kombu message envelope")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            key = getattr(node.slice, "value", None)
            if key in WIRE_KEYS:
                report(node, f"builds a message's {key!r}")
        for child in ast.iter_child_nodes(node):
            visit(child, own)

    visit(tree, None)
    return found


@pytest.mark.parametrize("variant", variant_params())
def test_generated_code_uses_only_public_library_api(projects: Projects, variant: str) -> None:
    project = projects(variant)
    paths = run(["git", "ls-files", "*.py"], project).stdout.split()
    assert len(paths) > 20
    violations = check({path: (project / path).read_text() for path in paths})
    assert not violations, "\n".join(["Library internals used:", *violations])


FORBIDDEN = {
    "import celery._state": "imports celery._state",
    "from celery._state import get_current_app": "imports celery._state.get_current_app",
    "from kombu.transport.redis import _y": "imports kombu.transport.redis._y",
    "importlib.import_module('celery._state')": "names celery._state",
    "mock.patch('kombu.transport.redis.Channel._create_client')": "names kombu.transport.redis",
    "def options(task: Task):\n    return task._get_exec_options()": "_get_exec_options, which",
    "waiting = celery_app.backend._pending_results": "uses _pending_results, which",
    "producers = celery_app.amqp._producer_pool": "uses _producer_pool, which",
    "client = redis.Redis()\nclient.pipeline()._anything()": "uses _anything, which",
    "getattr(task, '_get_exec_options')()": "uses _get_exec_options, which",
    "monkeypatch.setattr(celery_app.backend, '_pending_results', ())": "_pending_results, which",
    "from kombu.transport.redis import Channel\nChannel._x": "uses _x of kombu.transport.redis.C",
    "import kombu.transport.redis\nkombu.transport.redis._y()": "uses _y of kombu.transport.redis",
    "backend = cast(RedisBackend, app.backend)\nbackend._forget('id')": "uses _forget, which",
    "import kombu.transport.redis\nclass T(kombu.transport.redis.Transport): ...": "subclasses",
    "from kombu.transport.redis import Channel\nclass C(Channel): ...": "subclasses kombu",
    "from kombu.transport import redis\nclass T(redis.Transport): ...": "subclasses kombu",
    "from kombu.transport.virtual import Channel as B\nclass C(B): ...": "subclasses kombu",
    "from celery.backends.redis import RedisBackend\nclass B(RedisBackend): ...": "subclasses",
    "from celery.backends import base\nclass B(base.KeyValueStoreBackend): ...": "subclasses",
    """
    from celery import Task
    class T(Task):
        def _get_exec_options(self):
            return super()._get_exec_options()
    """: "uses _get_exec_options, an internal of its library base class",
    """
    from celery.backends.redis import RedisBackend
    class B(RedisBackend):
        def waiting(self):
            return any(self._pending_results)
    """: "uses _pending_results, an internal of its library base class",
    "envelope = {'body': body, 'body_encoding': 'base64'}": "builds a message's 'body_encoding'",
    "properties = {}\nproperties['delivery_tag'] = tag": "builds a message's 'delivery_tag'",
    "properties = dict(delivery_info={'exchange': ''})": "builds a message's 'delivery_info'",
    "message = {'body': b, 'headers': h, 'properties': p}": "builds a kombu message envelope",
    "message = {'properties': {'priority': 9}}": "builds a kombu message envelope",
}

ALLOWED = """
    import os
    import sys
    from urllib.parse import urlsplit
    from celery import Celery, Task
    from kombu.utils.url import url_to_parts
    import redis

    celery_app = Celery("app", broker="redis://127.0.0.1")
    celery_app.send_task("app.tasks.x", args=[1], queue="default")
    task.apply_async((1,), countdown=5, priority=3, delivery_mode=2)
    options = {"queue": "emails", "priority": 3}
    queue = request.delivery_info["routing_key"]
    send({"type": "http.response.body", "body": b"", "headers": []})
    _pool = None

    class Limiter:
        def __init__(self, client: redis.Redis) -> None:
            self._client = client

        def _send(self) -> None:
            self._client.ping()

    def use(limiter: Limiter) -> None:
        limiter._send()  # `_send` is a Starlette internal's name too, but defined here

    class BaseTask(Task):
        _retries_seen = 0

        def _count(self) -> None:
            self._retries_seen += 1

    urlsplit("redis://127.0.0.1")._replace(netloc="x")
    url_to_parts("redis://127.0.0.1")._asdict()
    sys._getframe(0)
    os._exit(0)
    Celery.__name__
    monkeypatch.setattr(app.tasks, "__path__", ["x"])
"""


@pytest.mark.parametrize(("source", "expected"), FORBIDDEN.items(), ids=range(len(FORBIDDEN)))
def test_each_way_of_using_an_internal_is_caught(source: str, expected: str) -> None:
    violations = check({"backend/app/snippet.py": source})
    assert any(expected in violation for violation in violations), violations


def test_public_api_and_the_projects_own_private_names_pass() -> None:
    assert check({"backend/app/fine.py": ALLOWED}) == []


def test_an_internal_used_in_another_module_is_reported_with_its_line() -> None:
    sources = {
        "backend/app/worker/celery_app.py": "from celery import Celery\ncelery_app = Celery()\n",
        "backend/app/api/tasks.py": """
            from app.worker.celery_app import celery_app

            def producers():
                return celery_app.amqp._producer_pool
            """,
    }
    assert check(sources) == [
        "backend/app/api/tasks.py:5: uses _producer_pool, which the project does not define:"
        " a library's internal"
    ]
