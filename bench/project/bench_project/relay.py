"""`python -m bench_project.relay [ARGS]`: the project's relay (`python -m app.relay`),
with the bench's tasks registered first.

The relay process looks each row's task up by name in the app's registry, to send it with the
task's own options; it imports the project's task modules, not the bench's. Importing
`bench_project.tasks` first does for the relay what `--include` does for the worker.
"""

import runpy
import sys

import bench_project.tasks  # noqa: F401  (registers the bench's tasks on the project's app)
from bench_project.outbox_compat import RELAY_MODULE

if __name__ == "__main__":
    sys.argv[0] = RELAY_MODULE
    runpy.run_module(RELAY_MODULE, run_name="__main__", alter_sys=True)
