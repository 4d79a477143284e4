"""Celery tasks. The worker loads every module in this package: add a file, no list to edit."""
