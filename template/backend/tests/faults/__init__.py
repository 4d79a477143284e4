"""Fault tests: real processes killed, stopped and starved; nothing may be lost."""
