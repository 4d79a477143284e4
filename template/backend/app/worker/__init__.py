"""The Celery application. Tasks live in `app.tasks`."""
