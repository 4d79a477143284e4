"""The template's benchmark: how rendered projects of two refs enqueue, drain and fail.

`uv run python -m bench [--quick] [--runs N] [--refs REF ...]` from the template repo renders a
project per ref, installs it, and runs its API, worker and relay as compose runs them, each ref
with a database and Redis key prefix of its own. The modules here run in the template's venv; the
code that runs inside a project is `bench/project/bench_project`, put on the project's path.
"""
