"""How much of everything the bench measures: a full run, and the quick smoke run."""

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plan:
    runs: int  # each figure is the median of this many runs
    duration_s: float  # per load-generator run, after its warm-up
    warmup_s: float
    drain_tasks: int
    latency_samples: int  # per run, HTTP 202 -> SUCCESS
    register_requests: int  # per endpoint, with the broker down
    idle_cpu_s: float  # how long the idle relay's CPU time is counted
    connections: tuple[int, ...] = (1, 32)
    concurrency: int = os.cpu_count() or 1  # the worker's default: one process per core

    def with_runs(self, runs: int | None) -> "Plan":
        return self if runs is None else replace(self, runs=runs)


FULL = Plan(
    runs=5,
    duration_s=3.0,
    warmup_s=0.5,
    drain_tasks=2000,
    latency_samples=50,
    register_requests=20,
    idle_cpu_s=20.0,
)
# Every figure once, small: a smoke test of the harness; its numbers are rough.
QUICK = Plan(
    runs=1,
    duration_s=0.5,
    warmup_s=0.2,
    drain_tasks=300,
    latency_samples=10,
    register_requests=3,
    idle_cpu_s=2.0,
)
