"""Figures 1 and 2: the enqueue endpoint against the no-op one, and the API's event-loop lag.

The load generator runs as a process of its own (`benchmarks.loadgen`); its ceiling is measured
against `benchmarks.canned_server` in yet another process, so a reader can tell whether the API
or the load generator limited a figure. No worker runs meanwhile: on a small machine its CPU would
be charged to the enqueue endpoint. The queue is emptied after each enqueue run instead.
"""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.stats import latency_over_runs, over_runs
from tests.support.processes import BACKEND_DIR, LoggedProcess, free_port

ENDPOINTS = ("noop", "enqueue")


def run_loadgen(url: str, connections: int, duration: float, warmup: float) -> dict[str, Any]:
    """One run of the load generator, in a process of its own; its JSON report."""
    command = [sys.executable, "-m", "benchmarks.loadgen", url]
    command += [f"--connections={connections}", f"--duration={duration}", f"--warmup={warmup}"]
    completed = subprocess.run(  # noqa: S603  (our own command line)
        command,
        cwd=BACKEND_DIR,
        capture_output=True,
        text=True,
        timeout=duration + warmup + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"The load generator failed on {url}:\n{completed.stderr}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


def measure_ceiling(
    connections: tuple[int, ...], runs: int, duration: float, warmup: float, logs: Path
) -> dict[str, Any]:
    """The load generator against a server that does nothing: the most it can measure."""
    port = free_port()
    server = LoggedProcess(
        [sys.executable, "-m", "benchmarks.canned_server", str(port)], logs / "canned.log"
    )
    server.name = "The canned-response server"
    try:
        server.wait_for_log("listening", timeout=30)
        url = f"http://127.0.0.1:{port}/bench/enqueue"
        figure: dict[str, Any] = {"runs": runs, "by_connections": {}}
        for count in connections:
            rates = [run_loadgen(url, count, duration, warmup)["rps"] for _ in range(runs)]
            figure["by_connections"][str(count)] = {"rps": over_runs(rates)}
        return figure
    finally:
        server.stop()


def measure_endpoints(
    api_url: str,
    connections: tuple[int, ...],
    runs: int,
    duration: float,
    warmup: float,
    empty_queues: Callable[[], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Figure 1 (rates and their ratio) and figure 2 (lag under each load), by connections.

    Within a run the two endpoints are measured back to back, in alternating order from run to
    run, so a drift of the machine falls on both; the ratio is taken per run.
    """
    samples: dict[tuple[int, str], list[dict[str, Any]]] = {}
    lags: dict[tuple[int, str], list[dict[str, float]]] = {}
    with httpx.Client(base_url=api_url, timeout=30) as http:
        for run in range(runs):
            for count in connections:
                order = ENDPOINTS if run % 2 == 0 else ENDPOINTS[::-1]
                for endpoint in order:
                    http.delete("/bench/lag").raise_for_status()
                    report = run_loadgen(f"{api_url}/bench/{endpoint}", count, duration, warmup)
                    lag = http.get("/bench/lag")
                    lag.raise_for_status()
                    samples.setdefault((count, endpoint), []).append(report)
                    lags.setdefault((count, endpoint), []).append(lag.json())
                    if endpoint == "enqueue":
                        empty_queues()

    rates: dict[str, Any] = {"runs": runs, "duration_s": duration, "by_connections": {}}
    loop_lag: dict[str, Any] = {"runs": runs, "by_connections": {}}
    for count in connections:
        noop, enqueue = samples[(count, "noop")], samples[(count, "enqueue")]
        rates["by_connections"][str(count)] = {
            "noop_rps": over_runs([report["rps"] for report in noop]),
            "enqueue_rps": over_runs([report["rps"] for report in enqueue]),
            "ratio": over_runs([e["rps"] / n["rps"] for n, e in zip(noop, enqueue, strict=True)]),
            "noop_latency": latency_over_runs([report["latency"] for report in noop]),
            "enqueue_latency": latency_over_runs([report["latency"] for report in enqueue]),
            "errors": sum(report["errors"] for report in noop + enqueue),
            "error_examples": [e for report in noop + enqueue for e in report["error_examples"]],
        }
        loop_lag["by_connections"][str(count)] = {
            endpoint: latency_over_runs(lags[(count, endpoint)]) for endpoint in ENDPOINTS
        }
    return rates, loop_lag
