"""Public API only: generated code uses no internals of Celery, kombu, redis-py or Starlette.

The developers' guide's rule, checked with `ast` on every `*.py` of a rendered project. A file
breaks it when it

1. imports a private name from one of those libraries: `import celery._state`,
   `from kombu.transport.redis import _y`, `from celery._state import x` (also through
   `importlib.import_module("celery._state")` with a literal name);
2. touches a private attribute (`._name`, `.__name`, not a dunder) of their objects, where that
   can be seen: on an expression rooted in a name imported from them (`celery._state`,
   `Channel._x`), or in a variable assigned from such an expression or annotated with their type
   (`client = redis.Redis(...)`, `def f(task: Task)`); or the attribute is one of
   `KNOWN_INTERNALS`, whatever it is read on, unless the project defines a name of its own so
   called (`celery_app.backend._pending_results`, `task._get_exec_options()`). `self._x` and
   `cls._x` are the project's own, except in a class with a library base, where `super()._x` and
   `self._x` for a known internal are flagged, as is overriding a known internal there.
   `getattr`/`setattr`/`hasattr`/`delattr` with a literal name count as attribute access.
   namedtuple's public `_replace`, `_asdict`, ... are allowed;
3. subclasses a kombu transport or channel (any base from `kombu.transport`, or a library class
   named `Transport` or `Channel`) or a Celery result backend (any base from `celery.backends`);
4. builds a message by hand: a dict display, `dict(...)` keyword or subscript assignment whose key
   is one of `WIRE_KEYS`; a dict display with all of `ENVELOPE_KEYS` as keys, or with a
   "properties" dict holding one of `PROPERTY_KEYS`. Reading them
   (`request.delivery_info["routing_key"]`) is public API and allowed.

Violations read `path:line: what`.
"""

import ast
import os
from collections.abc import Iterator
from pathlib import Path

LIBRARIES = frozenset({"celery", "kombu", "redis", "starlette"})

# Private attributes of those libraries' objects that code outside them has been seen to reach
# for; each one exists in Celery/kombu 5.7, redis-py 7 or Starlette 1.x. Names generic enough to
# be a project's own (`_client`, `_pool`, `_state`) are left out: the import-based rule covers
# those on the libraries' own names.
KNOWN_INTERNALS = frozenset(
    {
        # celery: Task, app, AMQP, result backends, proxies
        "_get_exec_options",
        "_exec_options",
        "_get_request",
        "_get_app",
        "_default_request",
        "_pending_results",
        "_pending_messages",
        "_add_pending_result",
        "_remove_pending_result",
        "_wait_for_pending",
        "_get_task_meta",
        "_get_task_meta_for",
        "_store_result",
        "_get_key_for",
        "_add_global_keyprefix",
        "_acquire_connection",
        "_acquire_producer",
        "_producer_pool",
        "_create_task_sender",
        "_task_from_fun",
        "_get_backend",
        "_get_current_object",
        # kombu: connections, producers, the Redis and virtual transports' channels
        "_create_client",
        "_get_client",
        "_brpop_start",
        "_brpop_read",
        "_do_restore_message",
        "_q_for_pri",
        "_next_delivery_tag",
        "_delivery_tags",
        "_inplace_augment_message",
        "_new_queue",
        "_has_queue",
        "_get_and_deliver",
        "_fanout_queues",
        "_queue_cycle",
        "_put_fanout",
        "_in_poll",
        "_in_listen",
        "_establish_connection",
        "_ensure_connection",
        "_default_channel",
        "_connection_factory",
        "_delivery_details",
        # redis-py: clients, pipelines, pools, connections
        "_execute_command",
        "_send_command_parse_response",
        "_execute_pipeline",
        "_execute_transaction",
        "_checkpid",
        "_available_connections",
        "_in_use_connections",
        "_created_connections",
        "_get_free_connections",
        "_get_in_use_connections",
        # starlette: requests
        "_receive",
        "_send",
        "_stream_consumed",
        "_is_disconnected",
        "_get_form",
    }
)

# namedtuple's public API (kombu and redis-py return namedtuples).
NAMEDTUPLE_API = frozenset({"_asdict", "_field_defaults", "_fields", "_make", "_replace"})

# Keys that only a kombu/Celery message built by hand has: the Redis transport's envelope
# properties and the delivery details kombu fills in itself.
WIRE_KEYS = frozenset({"body_encoding", "delivery_info", "delivery_tag"})
ENVELOPE_KEYS = frozenset({"body", "headers", "properties"})
# A "properties" dict holding these is a message's (kombu takes them as `publish()` keywords).
PROPERTY_KEYS = frozenset({"priority", "delivery_mode"})

SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        "node_modules",
    }
)

ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "hasattr", "delattr"})
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def is_private(name: str) -> bool:
    """`_x` and `__x`, not a dunder (`__init__`) nor `_` alone."""
    return len(name) > 1 and name.startswith("_") and not name.endswith("__")


def is_library_path(path: str | None) -> bool:
    return path is not None and path.split(".")[0] in LIBRARIES


def import_bindings(tree: ast.AST) -> dict[str, str]:
    """Each name an absolute import binds, anywhere in the module, to the dotted path it names."""
    bindings: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bindings[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bindings


def dotted(expr: ast.expr, bindings: dict[str, str]) -> str | None:
    """The dotted path an expression names through the imports: `kombu.transport.redis.Channel`
    for `redis.Channel` after `from kombu.transport import redis`."""
    if isinstance(expr, ast.Name):
        return bindings.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = dotted(expr.value, bindings)
        return f"{base}.{expr.attr}" if base else None
    if isinstance(expr, ast.Subscript):  # `Task[..., Any]`
        return dotted(expr.value, bindings)
    return None


def root_name(expr: ast.expr) -> str | None:
    """The name a chain of attributes and calls starts from: `redis` in `redis.Redis().x`."""
    while isinstance(expr, ast.Attribute | ast.Call | ast.Subscript | ast.Await):
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return expr.id if isinstance(expr, ast.Name) else None


def library_bases(node: ast.ClassDef, bindings: dict[str, str]) -> list[str]:
    paths = (dotted(base, bindings) for base in node.bases)
    return [path for path in paths if path is not None and is_library_path(path)]


def defined_private_names(tree: ast.AST) -> set[str]:
    """Private names the project defines itself (outside classes that extend a library class)."""
    bindings = import_bindings(tree)
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.ClassDef) and library_bases(node, bindings):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in names if is_private(name)}


def _scope_statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of a scope's body: nested functions and classes, not what is inside them."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, SCOPES):
            stack.extend(ast.iter_child_nodes(node))


class _FileChecker:
    def __init__(
        self,
        tree: ast.Module,
        path: str,
        project_names: frozenset[str],
        exports: dict[str, str] | None = None,
    ) -> None:
        self.tree = tree
        self.path = path
        self.project_names = project_names
        # Library objects other project modules make at their top level: `app.x.celery_app`.
        self.exports = exports or {}
        self.bindings = import_bindings(tree)
        # Per scope, each name assigned there: the library its value comes from, or None.
        self.scopes: list[dict[str, str | None]] = []
        self.library_classes: list[bool] = []
        self.violations: list[str] = []

    def report(self, node: ast.AST, what: str) -> None:
        self.violations.append(f"{self.path}:{getattr(node, 'lineno', 0)}: {what}")

    # Where values come from

    def origin(self, expr: ast.expr | None) -> str | None:
        """The library an expression's value comes from, when that can be seen."""
        while isinstance(expr, ast.Attribute | ast.Call | ast.Subscript | ast.Await):
            if isinstance(expr, ast.Call):
                if self.is_cast(expr):  # `cast(T, value)`: T's library, or value's
                    return self.annotation_origin(expr.args[0]) or self.origin(expr.args[1])
                expr = expr.func
            else:
                expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        for scope in reversed(self.scopes):
            if expr.id in scope:
                return scope[expr.id]
        path = self.bindings.get(expr.id)
        if path is not None and is_library_path(path):
            return path.split(".")[0]
        return self.exports.get(path) if path is not None else None

    def is_cast(self, call: ast.Call) -> bool:
        path = dotted(call.func, self.bindings)
        return path in {"typing.cast", "typing_extensions.cast"} and len(call.args) == 2

    def annotation_origin(self, annotation: ast.expr | None) -> str | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if annotation is None:
            return None
        for node in ast.walk(annotation):
            if isinstance(node, ast.Name | ast.Attribute):
                path = dotted(node, self.bindings)
                if path is not None and is_library_path(path):
                    return path.split(".")[0]
        return None

    def enter_scope(self, body: list[ast.stmt], arguments: ast.arguments | None = None) -> None:
        scope: dict[str, str | None] = {}
        if arguments is not None:
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
            for arg in every:
                scope[arg.arg] = self.annotation_origin(arg.annotation)
        self.scopes.append(scope)
        bound: list[tuple[ast.expr, ast.expr | None, ast.expr | None]] = []
        for node in _scope_statements(body):
            if isinstance(node, ast.Assign):
                bound += [(target, node.value, None) for target in node.targets]
            elif isinstance(node, ast.AnnAssign):
                bound.append((node.target, node.value, node.annotation))
            elif isinstance(node, ast.NamedExpr):
                bound.append((node.target, node.value, None))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                bound.append((node.optional_vars, node.context_expr, None))
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                bound.append((node.target, None, None))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # Calling it gives what it returns: `def build_celery_app() -> Celery`.
                scope[node.name] = scope.get(node.name) or self.annotation_origin(node.returns)
            elif isinstance(node, ast.ClassDef):  # its instances are a library class's
                scope[node.name] = scope.get(node.name) or next(
                    filter(None, map(self.origin, node.bases)), None
                )
        for _ in range(3):  # `a = redis.Redis(); b = a.pipeline()`: let origins flow on
            for target, value, annotation in bound:
                names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
                direct = isinstance(target, ast.Name)
                found = self.annotation_origin(annotation)
                found = found or (self.origin(value) if direct else None)
                for name in names:
                    scope[name] = scope.get(name) or found

    # The walk

    def module_origins(self) -> dict[str, str]:
        """The library objects this module makes at its top level, by name."""
        self.enter_scope(self.tree.body)
        scope = self.scopes.pop()
        return {name: library for name, library in scope.items() if library is not None}

    def run(self) -> list[str]:
        self.enter_scope(self.tree.body)
        for statement in self.tree.body:
            self.visit(statement)
        return self.violations

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self.visit_function(node)
            return
        if isinstance(node, ast.ClassDef):
            self.visit_class(node)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            self.check_import(node)
        elif isinstance(node, ast.Attribute):
            self.check_attribute(node, node.value, node.attr)
        elif isinstance(node, ast.Call):
            self.check_call(node)
        elif isinstance(node, ast.Dict):
            self.check_dict(node)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in WIRE_KEYS:
                self.report(node, f"sets the wire-format key {key.value!r} of a hand-built message")
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        arguments = node.args
        outer = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None]
        outer += [arg.annotation for arg in every if arg.annotation is not None]
        if not isinstance(node, ast.Lambda):
            outer += node.decorator_list
            outer += [node.returns] if node.returns is not None else []
            if self.library_classes and self.library_classes[-1] and node.name in KNOWN_INTERNALS:
                self.report(node, f"overrides {node.name}, an internal of its library base class")
        for child in outer:
            self.visit(child)
        body = [ast.Expr(node.body)] if isinstance(node, ast.Lambda) else node.body
        self.enter_scope(body, node.args)
        for statement in body:
            self.visit(statement)
        self.scopes.pop()

    def visit_class(self, node: ast.ClassDef) -> None:
        for path in library_bases(node, self.bindings):
            if path.startswith("celery.backends."):
                self.report(node, f"subclasses the Celery result backend {path}")
            elif path.startswith("kombu.transport.") or path.rsplit(".", 1)[-1] in {
                "Transport",
                "Channel",
            }:
                self.report(node, f"subclasses the kombu transport/channel {path}")
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        from_library = any(self.origin(base) for base in node.bases)
        self.library_classes.append(from_library)
        self.enter_scope(node.body)
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()
        self.library_classes.pop()

    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.check_module(node, alias.name)
            return
        if node.level or not node.module or not is_library_path(node.module):
            return
        if not self.check_module(node, node.module):
            for alias in node.names:
                if is_private(alias.name):
                    self.report(node, f"imports the private name {alias.name} from {node.module}")

    def check_module(self, node: ast.AST, module: str, verb: str = "imports") -> bool:
        parts = module.split(".")
        if parts[0] in LIBRARIES and any(is_private(part) for part in parts[1:]):
            what = "module" if verb == "imports" else "name"
            self.report(node, f"{verb} the private {what} {module}")
            return True
        return False

    def check_attribute(self, node: ast.AST, base: ast.expr, attr: str) -> None:
        if not is_private(attr) or attr in NAMEDTUPLE_API:
            return
        in_library_class = bool(self.library_classes) and self.library_classes[-1]
        if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
            if in_library_class and attr in KNOWN_INTERNALS:
                self.report(node, f"uses {attr}, an internal its library base class defines")
            return
        if (
            isinstance(base, ast.Call)
            and isinstance(base.func, ast.Name)
            and base.func.id == "super"
        ):
            if in_library_class:
                self.report(node, f"calls super().{attr}, an internal of its library base class")
            return
        path = dotted(base, self.bindings)
        if path is not None and is_library_path(path):
            self.report(node, f"uses the private attribute {attr} of {path}")
            return
        if attr in self.project_names:  # the project's own name, on an object of its own
            return
        library = self.origin(base)
        if library is not None:
            self.report(node, f"uses the private attribute {attr} of an object from {library}")
        elif attr in KNOWN_INTERNALS:
            self.report(node, f"uses {attr}, an internal of celery/kombu/redis/starlette")

    def check_call(self, node: ast.Call) -> None:
        func, args = node.func, node.args
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        literals = [
            arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            for arg in args[:2]
        ]
        # getattr(obj, "_x"), monkeypatch.setattr(obj, "_x", ...), mock.patch.object(obj, "_x")
        if name in ATTRIBUTE_FUNCTIONS | {"object"} and len(literals) == 2 and literals[1]:
            self.check_attribute(node, args[0], literals[1])
        first = literals[0] if literals else None
        if first is None:
            pass
        elif name in {"import_module", "__import__"}:
            self.check_module(node, first)
        elif name in {"patch", "setattr", "delattr"}:  # mock.patch("kombu.transport.redis._x")
            self.check_module(node, first, "patches")
        if isinstance(func, ast.Name) and func.id == "dict":
            for keyword in node.keywords:
                if keyword.arg in WIRE_KEYS:
                    self.report(node, f"builds the wire-format key {keyword.arg!r} of a message")

    def check_dict(self, node: ast.Dict) -> None:
        keys = {
            key.value
            for key in node.keys
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
        for key in sorted(keys & WIRE_KEYS):
            self.report(node, f"builds the wire-format key {key!r} of a message")
        if keys >= ENVELOPE_KEYS:
            self.report(node, "builds a kombu message envelope (body, headers, properties)")
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and key.value == "properties"
                and isinstance(value, ast.Dict)
                and any(
                    isinstance(inner, ast.Constant) and inner.value in PROPERTY_KEYS
                    for inner in value.keys
                )
            ):
                self.report(node, "builds the properties of a kombu message")


def parse(source: str, path: str) -> ast.Module | str:
    """The module, or the violation a file that does not parse is."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as error:
        return f"{path}:{error.lineno or 0}: does not parse: {error.msg}"


def check_source(
    source: str,
    path: str = "<snippet>",
    project_names: frozenset[str] | None = None,
    exports: dict[str, str] | None = None,
) -> list[str]:
    """The violations in one module's source; `project_names` defaults to the module's own."""
    tree = parse(source, path)
    if isinstance(tree, str):
        return [tree]
    if project_names is None:
        project_names = frozenset(defined_private_names(tree))
    return _FileChecker(tree, path, project_names, exports).run()


def module_names(path: str) -> list[str]:
    """What `backend/app/worker/celery_app.py` may be imported as: `app.worker.celery_app`, ..."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return [".".join(parts[start:]) for start in range(len(parts))]


def python_files(project: Path) -> list[Path]:
    """Every `*.py` of the project, not descending into `SKIP_DIRS` (the virtualenv, caches)."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(project):
        subfolders[:] = [name for name in subfolders if name not in SKIP_DIRS]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


def check_project(project: Path) -> list[str]:
    """The violations in every Python file of a rendered project, as `path:line: what`."""
    names = [file.relative_to(project).as_posix() for file in python_files(project)]
    trees = {name: parse((project / name).read_text(), name) for name in names}
    modules = {path: tree for path, tree in trees.items() if isinstance(tree, ast.Module)}
    project_names = frozenset().union(*map(defined_private_names, modules.values()))
    exports: dict[str, str] = {}
    for _ in range(2):  # a module may re-export another's: `from app.worker import celery_app`
        for path, tree in modules.items():
            made = _FileChecker(tree, path, project_names, exports).module_origins()
            for module in module_names(path):
                exports |= {f"{module}.{name}": library for name, library in made.items()}
    violations: list[str] = []
    for path, tree in trees.items():
        if isinstance(tree, str):
            violations.append(tree)
        else:
            violations += _FileChecker(tree, path, project_names, exports).run()
    return violations
