"""Tests for `app.db` and the schema its migrations build."""
