"""The results as a table for people; the JSON written next to it has every run's value."""

import math
from collections.abc import Callable, Sequence
from typing import Any

# Above this share of the load generator's ceiling, the load generator may be what limited a rate.
CEILING_WARNING_SHARE = 0.5

Row = tuple[str, str, str, str, str]  # figure number, what, median, spread, runs


def _number(value: float, decimals: int = 0, unit: str = "") -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{decimals}f}{unit}"


def _ms(value: float) -> str:
    return _number(value, 2 if value < 10 else 0)


def _ratio(decimals: int) -> Callable[[float], str]:
    return lambda value: f"{value:.{decimals}f}"


def _stat(
    number: str, what: str, stat: dict[str, Any], show: Callable[[float], str], unit: str
) -> Row:
    """A figure measured once per run: the median, and the range when there were several."""
    spread = f"{show(stat['min'])}-{show(stat['max'])}" if stat["runs"] > 1 else ""
    return number, what, f"{show(stat['median'])}{unit}", spread, str(stat["runs"])


def _latency(number: str, what: str, stat: dict[str, Any], microseconds: bool = False) -> Row:
    """p50, p99 and max (each the median across runs), and the range of p99 across runs."""
    scale, unit = (1000, "us") if microseconds else (1, "ms")
    p50, p99, top = (stat[key]["median"] * scale for key in ("p50_ms", "p99_ms", "max_ms"))
    value = f"p50 {_ms(p50)}  p99 {_ms(p99)}  max {_ms(top)} {unit}"
    low, high = stat["p99_ms"]["min"] * scale, stat["p99_ms"]["max"] * scale
    spread = f"p99 {_ms(low)}-{_ms(high)}" if stat["runs"] > 1 else ""
    return number, what, value, spread, str(stat["runs"])


def _connections(count: str) -> str:
    return f"{count} conn{'' if count == '1' else 's'}"


def _endpoint_rows(figures: dict[str, Any], notes: list[str]) -> list[Row]:
    rows: list[Row] = []
    rates, ceiling = figures["enqueue_vs_noop"], figures["loadgen_ceiling"]
    for count, figure in rates["by_connections"].items():
        label, top = _connections(count), ceiling["by_connections"][count]["rps"]
        number = "" if rows else "1"
        rows += [
            _stat(number, f"no-op endpoint, {label}", figure["noop_rps"], _number, " req/s"),
            _stat("", f"enqueue endpoint, {label}", figure["enqueue_rps"], _number, " req/s"),
            _stat("", f"enqueue / no-op, {label}", figure["ratio"], _ratio(2), "x"),
            _stat("", f"load generator ceiling, {label}", top, _number, " req/s"),
        ]
        share = figure["noop_rps"]["median"] / top["median"]
        if share > CEILING_WARNING_SHARE:
            notes.append(
                f"At {label} the no-op endpoint reached {share * 100:.0f} percent of the load"
                " generator's ceiling: the load generator may have limited figure 1."
            )
        if figure["errors"]:
            examples = figure["error_examples"][:3]
            notes.append(f"Figure 1: {figure['errors']} failed requests at {label}: {examples}")
    number = "2"
    for count, figure in figures["event_loop_lag"]["by_connections"].items():
        for endpoint in ("enqueue", "noop"):
            what = f"loop lag, {endpoint} load, {_connections(count)}"
            rows.append(_latency(number, what, figure[endpoint]))
            number = ""
    return rows


def _worker_rows(figures: dict[str, Any]) -> list[Row]:
    drain, cost = figures["worker_drain"], figures["delay_vs_raw_publish"]
    idle, raw = figures["accepted_to_success"], f"raw {cost['raw_baseline']}"
    drained = f"drain {drain['tasks']}"
    return [
        _stat("3", f"{drained}, template settings", drain["template_tasks_per_s"], _number, "/s"),
        _stat("", f"{drained}, Celery defaults", drain["bare_tasks_per_s"], _number, "/s"),
        _stat("", "template / defaults", drain["ratio"], _ratio(2), "x"),
        _latency("4", ".delay(), per call", cost["delay"], microseconds=True),
        _latency("", f"{raw}, per call", cost["raw"], microseconds=True),
        _stat("", f".delay() / {raw} (p50)", cost["ratio"], _ratio(1), "x"),
        _latency("", "request -> 202, idle", idle["request_to_202"]),
        _latency("", "202 -> task SUCCESS, idle", idle["accepted_to_success"]),
    ]


def _broker_down_rows(figures: dict[str, Any], notes: list[str]) -> list[Row]:
    down = figures["register_broker_down"]
    if down.get("skipped"):
        return [("5", "register, broker down", f"not measured: {down['skipped']}", "", "")]
    noticed = down["relay_noticed_after_s"]
    notes.append(
        f"Figure 5: the broker was {down['broker_down']}; the outbox relay logged the outage"
        + (f" {noticed:.1f} s after it became unreachable." if noticed is not None else " never.")
    )
    return [_latency("5", "register, broker down", down["latency"])]


def table(results: dict[str, Any]) -> str:
    figures, machine = results["figures"], results["machine"]
    notes: list[str] = []
    rows = [
        *_endpoint_rows(figures, notes),
        *_worker_rows(figures),
        *_broker_down_rows(figures, notes),
    ]
    header: Row = ("#", "figure", "median", "spread across runs", "runs")
    widths = [max(len(line[column]) for line in (header, *rows)) for column in range(5)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(width) for c, width in zip(cells, widths, strict=True)).rstrip()

    packages, broker, database = machine["packages"], machine["broker"], machine["database"]
    versions = ", ".join(f"{name} {packages[name]}" for name in ("celery", "kombu", "uvicorn"))
    services = (
        f"broker {broker['kind']} {broker['version']}, results Redis {machine['redis_server']},"
        f" database {database['kind']} {database['version']}"
    )
    return "\n".join(
        [
            f"{machine['cores']} cores, {machine['platform']}, {machine['python']}",
            f"{versions}; {services}",
            "Each figure is the median of its runs; for latencies, the median of each run's"
            " p50, p99 and max.",
            "",
            line(header),
            line(["-" * width for width in widths]),
            *(line(row) for row in rows),
            "",
            "Figure 1 runs with no worker consuming (its CPU would count against the enqueue",
            "endpoint); the queue is emptied after each run. Figure 2 is how long a ready callback",
            "waits for the API's event loop, sampled every 5 ms inside the API during figure 1.",
            *notes,
        ]
    )
