"""Name the project's Python files that still use what a release moved or removed (a migration).

Run by copier in the "after" stage, from the project's root, with the release whose changes to
look for. It prints `path:line: what, removed in RELEASE: what replaces it` for each use (or
"renamed", "changed", "no longer read"), in Python files, and for settings also in env files
(`.env` included) and YAML files. It changes no file and always exits 0: the user edits the code.

    python removed_modules.py v0.6.0|v0.9.0|v0.10.0
"""

import ast
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Release:
    """What one release took away from the project's code, each with what replaces it."""

    # Modules, or names in a module, that an import may no longer name.
    modules: dict[str, str]
    # Names used in code, matched on their dotted tail (`outbox.delay` matches `self.outbox.delay`).
    names: dict[str, str] = field(default_factory=dict)
    # Task names as strings (send_task, a beat schedule, a test) that no task has any more.
    task_names: dict[str, str] = field(default_factory=dict)
    # What replaces enqueue_on_commit(session, task, *args), if the release changed that call.
    enqueue_call: str | None = None
    # Settings no longer read, by environment variable: named where Python reads the attribute
    # (`settings.jwt_algorithm`) and where an env or YAML file sets the variable.
    settings: dict[str, str] = field(default_factory=dict)
    # Of those, the ones still read in a project whose broker is Redis.
    settings_kept_with_redis: frozenset[str] = frozenset()


ENQUEUE = (
    "queue tasks with enqueue_on_commit(session, task.s(*args)) from app.services.outbox in "
    "request code (the relay sends them after `await session.commit()`), with task.delay(*args) "
    "in sync code"
)
V0_6_0 = Release(
    modules={
        "app.worker.publish": ENQUEUE,
        "app.worker.redis_publisher": ENQUEUE,
        "app.worker.redis_transport": "drop the import; kombu's own Redis transport is used again",
        "app.worker.result_backend": (
            "drop the import; Celery's own Redis result backend is used again"
        ),
        "benchmarks": (
            "drop the import; the benchmarks and `just bench` are no longer in the project"
        ),
    },
    # Names the v0.5.1 README showed beside those modules, gone with them.
    names={
        "outbox.delay": "call enqueue_on_commit(session, task.s(*args)) from app.services.outbox",
        "outbox_relay.notify": "drop the call; the commit itself wakes the relay",
        "get_outbox_relay": "drop the dependency; the relay is a process of its own",
    },
)

TRANSPORT_OPTIONS = "drop it; build_celery_app sets the broker's transport options itself"
V0_9_0 = Release(
    modules={
        "app.tasks.example_task": (
            "send_welcome_email is in app.tasks.emails, run_example_job in app.tasks.example_job"
        ),
        "app.tasks.example_task.send_welcome_email": "import it from app.tasks.emails",
        "app.tasks.example_task.run_example_job": "import it from app.tasks.example_job",
        "app.schemas.task.ExampleJobCreate": "import it from app.api.v1.endpoints.example_job",
        "app.services.email_service": "the same module is now app.core.email",
        "app.services.outbox_relay": (
            "the relay is app.relay (`python -m app.relay`), its class app.relay.relay.OutboxRelay"
        ),
        "app.db.session.notifications": (
            "drop it; the API wakes the relay through Redis after a commit that queued tasks"
        ),
        "app.worker.celery_app.broker_is_redis": TRANSPORT_OPTIONS,
        "app.worker.celery_app.broker_transport_options": TRANSPORT_OPTIONS,
    },
    names={
        "celery_task_routes": (
            "route tasks in TASK_QUEUES in app/worker/celery_app.py, by the name each task "
            "declares; the CELERY_TASK_ROUTES setting is no longer read"
        ),
        "celery_default_queue": (
            "the default queue is DEFAULT_QUEUE in app/worker/celery_app.py; the "
            "CELERY_DEFAULT_QUEUE setting is no longer read"
        ),
    },
    task_names={
        "app.tasks.example_task.send_welcome_email": "emails.send_welcome_email",
        "app.tasks.example_task.run_example_job": "example.run_example_job",
        "app.tasks.maintenance.purge_inactive_users": "maintenance.purge_inactive_users",
    },
    enqueue_call=(
        "pass the call as one Celery signature, enqueue_on_commit(session, task.s(*args)), "
        "with options such as a countdown in .set(countdown=60)"
    ),
)
CELERY_APP = "app/worker/celery_app.py"
V0_10_0 = Release(
    modules={
        "app.core.rate_limit.LoginRateLimiter": (
            'renamed RateLimiter; it limits each action apart: hit("login", client_ip, email)'
        ),
        "app.core.rate_limit.get_login_rate_limiter": "renamed get_rate_limiter",
    },
    names={
        "welcome_email_sent_at": (
            "sent emails are recorded in sent_emails (app.models.sent_email.SentEmail), the "
            "welcome email under the key welcome:<user id>"
        ),
    },
    settings={
        "PROJECT_NAME": "the API's title is PROJECT_NAME in app/core/config.py",
        "JWT_ALGORITHM": "tokens are signed with JWT_ALGORITHM (HS256) in app/core/security.py",
        "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT_SECONDS": (
            f"SOFT_SHUTDOWN_TIMEOUT_SECONDS in {CELERY_APP}"
        ),
        "CELERY_RESULT_EXPIRES_SECONDS": f"RESULT_EXPIRES in {CELERY_APP}",
        "CELERY_BROKER_CONNECTION_TIMEOUT_SECONDS": (
            f"BROKER_CONNECTION_TIMEOUT_SECONDS in {CELERY_APP}, and WAKEUP_TIMEOUT_SECONDS in "
            "app/services/outbox.py for the relay's wake-ups"
        ),
        "CELERY_UNACKED_RESTORE_INTERVAL_SECONDS": (
            f"UNACKED_RESTORE_INTERVAL_SECONDS in {CELERY_APP} (a Redis broker's), now 1 second"
        ),
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": (
            "drop it; only a Redis broker has a visibility timeout (the result backend never "
            "read it)"
        ),
        "SMTP_TIMEOUT_SECONDS": "SMTP_TIMEOUT_SECONDS in app/core/email.py",
        "INACTIVE_USER_RETENTION_DAYS": "INACTIVE_USER_RETENTION in app/models/user.py",
    },
    settings_kept_with_redis=frozenset({"CELERY_VISIBILITY_TIMEOUT_SECONDS"}),
)
RELEASES = {"v0.6.0": V0_6_0, "v0.9.0": V0_9_0, "v0.10.0": V0_10_0}

# Where a task module of the project lives: a name imported from there is a task.
TASKS_PACKAGE = "app.tasks"


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(local name, the module or name it stands for) for each name the import binds."""
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module:  # relative imports are the user's own modules
            return []
        return [(alias.asname or alias.name, f"{node.module}.{alias.name}") for alias in node.names]
    # `import a.b.c` binds `a`; `import a.b.c as d` binds `d` to a.b.c.
    return [
        (alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0],) * 2
        for alias in node.names
    ]


class Finder:
    """The uses of what a release removed, in one module's source."""

    def __init__(self, release: Release, path: Path, settings: dict[str, str]) -> None:
        self.release = release
        self.settings = {name.lower(): fix for name, fix in settings.items()}
        # An Alembic revision records the old task names on purpose.
        self.check_task_names = not path.parent.match("alembic/versions")
        self.found: set[tuple[int, str, str]] = set()
        self.imported: dict[str, str] = {}
        self.local_tasks: set[str] = set()

    def report(self, node: ast.expr | ast.stmt, what: str, fix: str) -> None:
        self.found.add((node.lineno, what, fix))

    def scan(self, source: str) -> list[tuple[int, str, str]]:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.imports(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                dotted(d.func if isinstance(d, ast.Call) else d).endswith("task")
                for d in node.decorator_list
            ):
                self.local_tasks.add(node.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in self.settings:
                what = f"uses the setting {node.attr}, no longer read"
                self.report(node, what, self.settings[node.attr])
            if isinstance(node, ast.Attribute | ast.Name):
                self.names(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.task_name(node)
            elif isinstance(node, ast.Call) and self.release.enqueue_call:
                self.enqueue(node, self.release.enqueue_call)
        return sorted(self.found)

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        bound = bindings(node)
        self.imported.update(bound)
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        else:
            imported = [name for _, name in bound]
        for name in imported:
            # The most specific entry: a name may have moved elsewhere than its module.
            matches = [module for module in self.release.modules if within(name, module)]
            if matches:
                module = max(matches, key=len)
                self.report(node, f"imports {module}, removed", self.release.modules[module])

    def names(self, node: ast.Attribute | ast.Name) -> None:
        used = dotted(node)
        for name, fix in self.release.names.items():
            if used == name or used.endswith(f".{name}"):
                self.report(node, f"uses {name}, removed", fix)

    def task_name(self, node: ast.Constant) -> None:
        new_name = self.release.task_names.get(node.value)
        if new_name and self.check_task_names:
            self.report(
                node, f"names the task {node.value!r}, renamed", f"the task is named {new_name!r}"
            )

    def enqueue(self, call: ast.Call, fix: str) -> None:
        """enqueue_on_commit given a task and its arguments rather than one signature.

        Certain when it has more than two arguments, or keyword arguments for the task, or a
        task (imported from app.tasks, or defined in this module) as its second. Any other
        name as the second may hold a signature: type checking finds the rest.
        """
        if dotted(call.func).rsplit(".", 1)[-1] != "enqueue_on_commit":
            return
        second = call.args[1] if len(call.args) >= 2 else None
        second = second or next((k.value for k in call.keywords if k.arg == "call"), None)
        if (
            len(call.args) > 2
            or any(isinstance(arg, ast.Starred) for arg in call.args)
            or any(keyword.arg not in {"session", "call"} for keyword in call.keywords)
            or (second is not None and self.is_task(second))
        ):
            self.report(call, "calls enqueue_on_commit(session, task, *args), changed", fix)

    def is_task(self, node: ast.expr) -> bool:
        name = dotted(node)
        if name in self.local_tasks:
            return True
        head, dot, rest = name.partition(".")
        if head not in self.imported:
            return False
        resolved = self.imported[head] + dot + rest
        return resolved.startswith(TASKS_PACKAGE + ".")


def project_files(*patterns: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *patterns],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return sorted(name for name in set(listed) if Path(name).is_file())


def removed_settings(release: Release) -> dict[str, str]:
    """The release's removed settings, less those a Redis broker still reads in a Redis project."""
    answers = Path(".copier-answers.yml")
    text = answers.read_text(encoding="utf-8") if answers.is_file() else ""
    with_redis = re.search(r"(?m)^broker: *['\"]?redis\b", text) is not None
    kept = release.settings_kept_with_redis if with_redis else frozenset()
    return {name: fix for name, fix in release.settings.items() if name not in kept}


def settings_files() -> list[str]:
    """Env files (the git-ignored `.env` too) and YAML files (compose, manifests)."""
    listed = project_files("*.env", ".env*", "*/.env*", "*.yaml", "*.yml")
    return sorted({*listed, *([".env"] if Path(".env").is_file() else [])})


def main(version: str) -> None:
    release = RELEASES[version]
    settings = removed_settings(release)
    for name in project_files("*.py"):
        path = Path(name)
        try:
            uses = Finder(release, path, settings).scan(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            print(f"{name}: not readable as Python (conflict markers?); check it by hand")
            continue
        for line, what, fix in uses:
            print(f"{name}:{line}: {what} in {version}: {fix}")
    if not settings:
        return
    # `NAME=value` (an env file, a list of them), `NAME: value` (a YAML mapping).
    assignment = re.compile(rf"^\s*(?:- *)?(?:export +)?[\"']?({'|'.join(settings)})[\"']? *[=:]")
    for name in settings_files():
        try:
            lines = Path(name).read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError):
            continue
        for number, text in enumerate(lines, start=1):
            if match := assignment.match(text):
                variable = match[1]
                print(
                    f"{name}:{number}: sets {variable}, no longer read in {version}: "
                    f"{settings[variable]}"
                )


if __name__ == "__main__":
    main(*sys.argv[1:])
