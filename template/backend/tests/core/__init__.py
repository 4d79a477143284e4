"""Tests for `app.core`."""
