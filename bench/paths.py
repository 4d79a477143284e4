from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
# On the path of every process started from a project: the code that runs inside it.
BENCH_PYTHONPATH = Path(__file__).resolve().parent / "project"
