"""Business logic, kept out of the endpoints so tasks and tests can reuse it."""
