"""Tests for `app.worker`."""
