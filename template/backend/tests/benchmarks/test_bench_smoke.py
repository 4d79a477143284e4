"""`python -m benchmarks --quick` end to end, as CI runs it: every figure is measured and recorded.

Timings are not checked here: they depend on the machine. `just bench` is for reading them.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.processes import BACKEND_DIR

FIGURES = (
    "loadgen_ceiling",
    "enqueue_vs_noop",
    "event_loop_lag",
    "worker_drain",
    "delay_vs_raw_publish",
    "accepted_to_success",
    "register_broker_down",
)


def _stats(node: Any) -> list[dict[str, Any]]:
    """Every per-run summary in the results: the dicts that have a median."""
    if isinstance(node, dict):
        found = [node] if "median" in node else []
        return found + [stat for value in node.values() for stat in _stats(value)]
    if isinstance(node, list):
        return [stat for value in node for stat in _stats(value)]
    return []


def test_the_quick_bench_measures_and_records_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench-results.json"
    completed = subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "benchmarks", "--quick", f"--output={output}"],
        cwd=BACKEND_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr}"
    results = json.loads(output.read_text())

    machine = results["machine"]
    assert machine["cores"] >= 1
    assert machine["redis_server"]
    assert machine["database"]["kind"]
    assert {"celery", "kombu", "redis", "uvicorn", "fastapi"} <= set(machine["packages"])

    figures = results["figures"]
    assert set(FIGURES) <= set(figures)
    down = figures["register_broker_down"]
    if down.get("skipped"):  # only when there is no redis-server to start and stop
        assert shutil.which("redis-server") is None, down["skipped"]
        del figures["register_broker_down"]
    for name, figure in figures.items():
        assert figure["runs"] >= 1, name
        stats = _stats(figure)
        assert stats, name
        for stat in stats:
            assert stat["runs"] == len(stat["values"]) >= 1, (name, stat)
    for number in "12345":
        assert f"\n{number} " in completed.stdout
