"""The outbox relay process (`python -m app.relay`): sends committed outbox rows to the broker."""
