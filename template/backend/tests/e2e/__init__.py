"""End to end: the API, a worker process, PostgreSQL, Redis and an SMTP server together."""
