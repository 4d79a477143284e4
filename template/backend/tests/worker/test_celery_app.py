import sys
from pathlib import Path

import pytest
from kombu.exceptions import EncodeError

import app.tasks
from app.tasks.example_task import send_welcome_email
from app.worker.celery_app import celery_app, discover_task_modules


def test_every_module_in_the_tasks_package_is_included() -> None:
    task_files = sorted(
        path.stem for path in Path(app.tasks.__path__[0]).glob("*.py") if path.stem != "__init__"
    )

    assert discover_task_modules() == [f"app.tasks.{name}" for name in task_files]
    assert "example_task" in task_files
    assert set(discover_task_modules()) <= set(celery_app.conf.include)


def test_a_new_task_file_is_discovered_without_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping a file into app/tasks/, simulated on a copy of the package with one more file."""
    tasks_copy = tmp_path / "tasks"
    tasks_copy.mkdir()
    for source in Path(app.tasks.__path__[0]).glob("*.py"):
        (tasks_copy / source.name).write_text(source.read_text())
    (tasks_copy / "cleanup.py").write_text('"""A task module nobody registered."""\n')
    monkeypatch.setattr(app.tasks, "__path__", [str(tasks_copy)])

    assert "app.tasks.cleanup" in discover_task_modules()
    assert "cleanup" not in sys.modules


def test_only_json_is_accepted() -> None:
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
    assert celery_app.conf.accept_content == ["json"]
    assert celery_app.conf.result_accept_content == ["json"]
    with pytest.raises(EncodeError):
        send_welcome_email.delay(object())
