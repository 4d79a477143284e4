"""Carry the API's request id into the tasks a request enqueues, and into the worker's log lines."""

from contextvars import Token
from typing import Any

from asgi_correlation_id import correlation_id
from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun

REQUEST_ID_HEADER = "request_id"

_tokens: dict[str, Token[str | None]] = {}


@before_task_publish.connect
def _add_request_id_header(headers: dict[str, Any], **_: Any) -> None:
    request_id = correlation_id.get()
    if request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _bind_request_id(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    request_id = getattr(task.request, REQUEST_ID_HEADER, None)
    if request_id is not None:  # unset, log lines show the "-" of a task sent outside a request
        _tokens[task_id] = correlation_id.set(request_id)


@task_postrun.connect
def _unbind_request_id(task_id: str, **_: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        correlation_id.reset(token)
