"""Tests for the backend; the layout mirrors `app/`."""
