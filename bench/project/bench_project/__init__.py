"""Bench code that runs inside a rendered project, on its interpreter and `PYTHONPATH`.

The harness (`bench`, in the template repo's venv) puts `bench/project` on the path of every
process it starts from a project: the API serves `bench_project.app:app`, workers load
`bench_project.tasks`, and `bench_project.bare` is the Celery-defaults baseline.
"""
