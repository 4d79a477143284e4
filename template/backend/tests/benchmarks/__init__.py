"""Tests for `benchmarks` (`just bench`)."""
