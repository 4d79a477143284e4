class BenchError(RuntimeError):
    """A benchmark step failed; the message says which, with the log that tells why."""
