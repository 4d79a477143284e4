"""Error reports to Sentry when `SENTRY_DSN` is set: the API's, the worker's and the relay's.

A report names the request id that the logs carry (tag `request_id`), and a task's report its task
id (`celery_task_id`). Task arguments, request bodies, variables and query parameters are never
sent: they hold passwords, tokens and the text of emails.
"""

from asgi_correlation_id import correlation_id

from app.core.config import get_settings


def configure_error_reports(component: str) -> bool:
    """Report this process's unhandled errors, tagged with `component` ("api", "worker", ...), if
    `SENTRY_DSN` is set; True if they are reported."""
    dsn = get_settings().sentry_dsn
    if dsn is None or not dsn.get_secret_value():
        return False
    # Imported only when reports are on: the SDK and its integrations are slow to import.
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.types import Event, Hint

    def tag_request_id(event: Event, hint: Hint) -> Event:
        if request_id := correlation_id.get():
            event.setdefault("tags", {})["request_id"] = request_id
        return event

    sentry_sdk.init(
        dsn=dsn.get_secret_value(),
        integrations=[FastApiIntegration(), CeleryIntegration()],
        # Headers stay, except those the SDK's deny list filters (Authorization among them).
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "stack_frame_variables": False,
            "queues": False,
            "database_query_data": False,
        },
        before_send=tag_request_id,
    )
    sentry_sdk.get_global_scope().set_tag("component", component)
    return True
