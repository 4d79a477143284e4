"""`python -m benchmarks [--quick] [--output bench-results.json]`, run by `just bench`."""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks import environment


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the API and the worker on this machine; print a table, write JSON.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one short run of each figure (a smoke test)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("bench-results.json"), help="where the JSON goes"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the logs of the processes it started"
    )
    options = parser.parse_args()

    # Before anything imports the app: its settings are read once.
    isolation = environment.isolate()
    from benchmarks import report, runner

    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    try:
        results = runner.run_benchmarks(
            runner.QUICK if options.quick else runner.FULL, isolation, logs
        )
    except (Exception, pytest.fail.Exception) as exc:
        # Helpers shared with the tests report a process that failed to start with pytest.fail.
        print(f"The benchmark failed: {exc}\nLogs of its processes: {logs}", file=sys.stderr)
        return 1
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"\nResults written to {options.output}")
    if options.keep_logs:
        print(f"Logs of its processes: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
