"""`python -m bench_project.fill template|bare COUNTER TOTAL`: queue the no-op tasks of one drain.

On one connection, as fast as the app can send them, while no worker consumes: the drain is then
timed on a queue that is already full.
"""

import sys
from typing import Any


def fill(kind: str, counter: str, total: int) -> None:
    task: Any
    if kind == "template":
        from bench_project.tasks import noop as task
    else:
        from bench_project.bare import noop as task
    with task.app.producer_or_acquire() as producer:
        for _ in range(total):
            task.apply_async((counter, total), producer=producer)


if __name__ == "__main__":
    fill(sys.argv[1], sys.argv[2], int(sys.argv[3]))
