"""End to end: the API, worker processes, the database, the broker and an SMTP server together."""
