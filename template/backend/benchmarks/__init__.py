"""`just bench`: what the API and the worker cost, measured on this machine with real processes.

Run `python -m benchmarks --help` from backend/; the figures are described in `benchmarks.runner`.
"""
