"""Tests for `app.api.v1`."""
