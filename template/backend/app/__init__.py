"""The backend service: a FastAPI API and the Celery worker that runs its background jobs."""
