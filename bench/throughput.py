"""Requests/s of the four ways to enqueue, at each connection count, and the API's loop lag.

(c) commit only, (a) `.delay()` in `async def`, (b) `.delay()` in the thread pool and (t) the
template's outbox, all on one API process per ref (`bench_project.app`). The load generator runs
as a process of its own (`bench.loadgen`); its ceiling is measured against `bench.canned_server`,
so a reader can tell whether the API or the load generator limited a figure.

No worker runs meanwhile: on a small machine its CPU would be charged to the endpoints that
enqueue, and (c) has nothing for it to do. The relay does run, since relaying is part of what (t)
costs. After each enqueueing run the outbox is left to empty and the queues are purged, so no
backlog from one run weighs on the next. Endpoints alternate in order from run to run, refs too.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import isolation
from bench.deployment import Api, Deployment
from bench.errors import BenchError
from bench.paths import TEMPLATE_ROOT
from bench.plan import Plan
from bench.processes import Process, free_port
from bench.stats import latency_over_runs, over_runs

ENDPOINTS = {"c": "commit", "a": "delay", "b": "threadpool", "t": "outbox"}
OUTBOX_DRAIN_TIMEOUT_SECONDS = 120


def run_loadgen(url: str, connections: int, duration: float, warmup: float) -> dict[str, Any]:
    """One run of the load generator, in a process of its own; its JSON report."""
    command = [sys.executable, "-m", "bench.loadgen", url]
    command += [f"--connections={connections}", f"--duration={duration}", f"--warmup={warmup}"]
    completed = subprocess.run(
        command,
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        timeout=duration + warmup + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"The load generator failed on {url}:\n{completed.stderr}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


def measure_ceiling(plan: Plan, logs: Path) -> dict[str, Any]:
    """The load generator against a server that does nothing: the most it can measure."""
    port = free_port()
    command = [sys.executable, "-m", "bench.canned_server", str(port)]
    log = logs / "canned.log"
    with Process("The canned server", command, log, TEMPLATE_ROOT, dict(os.environ)) as server:
        server.wait_for_log("listening", timeout=30)
        url = f"http://127.0.0.1:{port}/bench/commit"
        # Far above what an API reaches: shorter and fewer runs are precise enough.
        runs, duration = min(plan.runs, 3), min(plan.duration_s, 1.0)
        return {
            str(count): over_runs(
                [run_loadgen(url, count, duration, plan.warmup_s)["rps"] for _ in range(runs)]
            )
            for count in plan.connections
        }


def _outbox_rows(deployment: Deployment) -> int:
    rows = isolation.query(deployment.isolation, "SELECT count(*) FROM outbox_messages")
    return int(rows[0][0])  # type: ignore[call-overload]


def _settle(deployment: Deployment, key: str) -> int:
    """Let the relay catch up, then purge the queues; the outbox rows left when the load ended."""
    backlog = 0
    if key == "t":
        backlog = _outbox_rows(deployment)
        deadline = time.monotonic() + OUTBOX_DRAIN_TIMEOUT_SECONDS
        while _outbox_rows(deployment):
            if time.monotonic() > deadline:
                raise BenchError(f"The outbox of {deployment.project.label} did not empty")
            time.sleep(0.1)
    if key != "c":
        isolation.purge_queues(deployment.isolation)
    return backlog


def measure_endpoints(
    apis: dict[str, tuple[Deployment, Api]], plan: Plan, progress: Callable[[str], None]
) -> dict[str, Any]:
    """By ref and connection count: each endpoint's rate, latency, loop lag and ratio to (c)."""
    reports: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    lags: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    backlogs: dict[tuple[str, int], list[float]] = {}
    labels = list(apis)
    for run in range(plan.runs):
        progress(f"endpoints: run {run + 1} of {plan.runs}")
        for label in labels if run % 2 == 0 else labels[::-1]:
            deployment, api = apis[label]
            client = api.client()
            try:
                for count in plan.connections:
                    keys = list(ENDPOINTS) if run % 2 == 0 else list(ENDPOINTS)[::-1]
                    for key in keys:
                        client.expect("DELETE", "/bench/lag", 204)
                        url = f"{api.url}/bench/{ENDPOINTS[key]}"
                        report = run_loadgen(url, count, plan.duration_s, plan.warmup_s)
                        lag = client.expect("GET", "/bench/lag", 200)
                        backlog = _settle(deployment, key)
                        reports.setdefault((label, count, key), []).append(report)
                        lags.setdefault((label, count, key), []).append(lag)
                        if key == "t":
                            backlogs.setdefault((label, count), []).append(backlog)
            finally:
                client.close()
    return {
        label: {
            str(count): _by_endpoint(label, count, reports, lags, backlogs[(label, count)])
            for count in plan.connections
        }
        for label in labels
    }


def _by_endpoint(
    label: str,
    count: int,
    reports: dict[tuple[str, int, str], list[dict[str, Any]]],
    lags: dict[tuple[str, int, str], list[dict[str, float]]],
    backlog: list[float],
) -> dict[str, Any]:
    floor = reports[(label, count, "c")]
    figure: dict[str, Any] = {}
    for key, name in ENDPOINTS.items():
        runs = reports[(label, count, key)]
        figure[key] = {
            "endpoint": f"POST /bench/{name}",
            "rps": over_runs([report["rps"] for report in runs]),
            # Per run, so a drift of the machine between runs cancels out.
            "ratio_to_c": over_runs(
                [
                    r["rps"] / c["rps"] if c["rps"] else float("nan")
                    for r, c in zip(runs, floor, strict=True)
                ]
            ),
            "latency": latency_over_runs([report["latency"] for report in runs]),
            "loop_lag": latency_over_runs(lags[(label, count, key)]),
            "errors": sum(report["errors"] for report in runs),
            "error_examples": [e for report in runs for e in report["error_examples"]][:3],
        }
    figure["t"]["outbox_rows_left_at_end"] = over_runs(backlog)
    return figure
