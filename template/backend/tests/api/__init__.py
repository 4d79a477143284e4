"""Tests for `app.api`."""
