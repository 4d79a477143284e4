"""Version 1 of the public API, mounted under /api/v1."""
