from pathlib import Path

import pytest
from kombu.exceptions import EncodeError

import app.tasks
from app.tasks.emails import send_welcome_email
from app.worker.celery_app import celery_app, discover_task_modules


def test_every_task_module_is_included() -> None:
    assert "app.tasks.emails" in discover_task_modules()
    assert set(discover_task_modules()) <= set(celery_app.conf.include)


def test_a_new_task_file_is_discovered_without_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping files into app/tasks/, simulated on a copy of the package with more files."""
    tasks_copy = tmp_path / "tasks"
    (tasks_copy / "billing").mkdir(parents=True)
    for source in Path(app.tasks.__path__[0]).glob("*.py"):
        (tasks_copy / source.name).write_text(source.read_text())
    (tasks_copy / "cleanup.py").write_text('"""A task module nobody registered."""\n')
    (tasks_copy / "billing" / "__init__.py").write_text('"""A sub-package of tasks."""\n')
    (tasks_copy / "billing" / "invoices.py").write_text('"""Nested task module."""\n')
    monkeypatch.setattr(app.tasks, "__path__", [str(tasks_copy)])

    discovered = discover_task_modules()

    assert "app.tasks.cleanup" in discovered
    assert "app.tasks.billing.invoices" in discovered
    assert "app.tasks.emails" in discovered
    assert not any(name.endswith("__init__") for name in discovered)


def test_only_json_is_accepted() -> None:
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
    assert celery_app.conf.accept_content == ["json"]
    assert celery_app.conf.result_accept_content == ["json"]
    with pytest.raises(EncodeError):
        send_welcome_email.delay(object())
