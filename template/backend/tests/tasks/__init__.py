"""Tests for `app.tasks`."""
