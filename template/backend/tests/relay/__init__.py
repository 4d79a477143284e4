"""Tests of the outbox relay process (`app.relay`)."""
