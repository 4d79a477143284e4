"""Name the project's Python files that still use a module or name v0.6.0 removed (a migration).

Run in the "after" stage, from the project's root, it prints one line per file and removed name with
what replaces it. It changes no file and always exits 0: the user edits the code.

    python removed_modules.py
"""

import ast
import subprocess
from pathlib import Path

ENQUEUE = (
    "queue tasks with enqueue_on_commit(session, task, *args) from app.services.outbox in "
    "request code (the relay sends them after `await session.commit()`), with task.delay(*args) "
    "in sync code"
)
REPLACEMENTS = {
    "app.worker.publish": ENQUEUE,
    "app.worker.redis_publisher": ENQUEUE,
    "app.worker.redis_transport": "drop the import; kombu's own Redis transport is used again",
    "app.worker.result_backend": "drop the import; Celery's own Redis result backend is used again",
    "benchmarks": "drop the import; the benchmarks and `just bench` are no longer in the project",
}


# Names the v0.5.1 README showed beside those modules, gone with them.
REMOVED_NAMES = {
    "outbox.delay": "call enqueue_on_commit(session, task, *args) from app.services.outbox",
    "outbox_relay.notify": "drop the call; the commit itself wakes the relay",
    "get_outbox_relay": "drop the dependency; the relay is a process of its own",
}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def removed_uses(source: str) -> set[tuple[str, str]]:
    """(what, its replacement) for each removed module imported or removed name used."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Attribute | ast.Name):
            used = dotted(node)
            found.update(
                (f"uses {name}", fix)
                for name, fix in REMOVED_NAMES.items()
                if used == name or used.endswith(f".{name}")
            )
            continue
        else:
            continue
        for name in names:
            found.update(
                (f"imports {module}", fix)
                for module, fix in REPLACEMENTS.items()
                if name == module or name.startswith(module + ".")
            )
    return found


def main() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    for name in sorted(set(listed)):
        path = Path(name)
        if not path.is_file():
            continue
        try:
            uses = removed_uses(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            print(f"{name}: not readable as Python (conflict markers?); check its imports by hand")
            continue
        for what, fix in sorted(uses):
            print(f"{name}: {what}, removed in v0.6.0: {fix}")


if __name__ == "__main__":
    main()
