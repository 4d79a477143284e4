"""`uv run python -m bench [--quick] [--runs N] [--refs REF ...]`, from the template repo."""

import argparse
import json
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

from bench import report
from bench.errors import BenchError
from bench.plan import FULL, QUICK
from bench.runner import progress, run_bench

# The release the default comparison starts from, and what the columns are called.
DEFAULT_REFS = {"ca23d69": "v0.8.0", "HEAD": "new"}


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    # SystemExit unwinds through the clean-up: processes, keys and databases go.
    sys.exit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short run of everything")
    parser.add_argument("--runs", type=int, help="runs per figure (default: 5, or 1 with --quick)")
    parser.add_argument(
        "--refs", nargs="+", help="template refs to compare (default: ca23d69 HEAD)"
    )
    parser.add_argument("--output", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    options = parser.parse_args()
    if options.runs is not None and options.runs < 1:
        parser.error("--runs must be at least 1")
    plan = (QUICK if options.quick else FULL).with_runs(options.runs)
    refs = [(ref, DEFAULT_REFS.get(ref, ref)) for ref in options.refs or DEFAULT_REFS]
    if len({label for _, label in refs}) != len(refs):
        parser.error("each ref must be named once")

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    try:
        results = run_bench(plan, refs, logs)
    except BenchError as exc:
        print(f"The bench failed: {exc}\nLogs of its processes: {logs}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        print(f"The bench failed (above). Logs of its processes: {logs}", file=sys.stderr)
        return 1
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    progress(f"results written to {options.output}")
    if options.keep_logs:
        print(f"Logs of its processes: {logs}", file=sys.stderr)
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
