"""The results as one table, a column pair per ref; the JSON written beside it has every run."""

import math
from collections.abc import Sequence
from typing import Any

# Above this share of the load generator's ceiling, the load generator may have limited a rate.
CEILING_WARNING_SHARE = 0.5
# A one-minute load average above this before the bench starts means others use the cores.
BUSY_LOAD_AVERAGE = 0.5
WAYS = {
    "c": "(c) commit only",
    "a": "(a) commit, .delay() in async def",
    "b": "(b) commit, .delay() in thread pool",
    "t": "(t) template: outbox",
}
REGISTER_WAYS = {
    "t": "(t) POST /api/v1/auth/register",
    "a": "(a) register, then .delay()",
    "b": "(b) register, then .delay() in pool",
}


def _n(value: float | None, decimals: int = 0) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.{decimals}f}"


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return _n(value, 2 if value < 10 else 0 if value >= 100 else 1)


def stat_cell(stat: dict[str, Any], decimals: int = 0, unit: str = "") -> str:
    """The median, and the range across runs when there were several."""
    median = f"{_n(stat['median'], decimals)}{unit}"
    if stat["runs"] < 2:
        return median
    return f"{median} [{_n(stat['min'], decimals)}-{_n(stat['max'], decimals)}]"


def _latency(stat: dict[str, Any] | None) -> str:
    """p50 / p99 / max, each the median across runs; with the p99's range when runs > 1."""
    if stat is None:
        return "not stored"
    p50, p99, top = (stat[key]["median"] for key in ("p50_ms", "p99_ms", "max_ms"))
    cell = f"{_ms(p50)} / {_ms(p99)} / {_ms(top)}"
    if stat["runs"] > 1:
        cell += f" [p99 {_ms(stat['p99_ms']['min'])}-{_ms(stat['p99_ms']['max'])}]"
    return cell


def _single(summary: dict[str, float]) -> str:
    return f"{_ms(summary['p50_ms'])} / {_ms(summary['p99_ms'])} / {_ms(summary['max_ms'])}"


class Table:
    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = labels
        self.rows: list[list[str]] = []

    def section(self, title: str) -> None:
        self.rows.append([title, *([""] * (2 * len(self.labels)))])

    def row(self, what: str, cells: dict[str, tuple[str, str]]) -> None:
        """`cells`: for each column (a ref), its value and its ratio to (c) (or "")."""
        self.rows.append([f"  {what}", *(c for label in self.labels for c in cells[label])])

    def render(self, header: Sequence[str]) -> list[str]:
        rows = [list(header), *self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return lines


def _endpoint_rows(table: Table, figures: dict[str, Any], connections: list[str]) -> None:
    endpoints = figures["endpoints"]
    labels = table.labels
    for count in connections:
        conns = f"{count} conn{'' if count == '1' else 's'}"
        table.section(f"req/s at {conns} (median [min-max]), ratio to (c)")
        for key, what in WAYS.items():
            cells = {}
            for label in labels:
                figure = endpoints[label][count][key]
                ratio = "" if key == "c" else f"{figure['ratio_to_c']['median']:.2f}x"
                cells[label] = (stat_cell(figure["rps"]), ratio)
            table.row(what, cells)
        table.section(f"event-loop lag during that load, ms p50 / p99 / max, {conns}")
        for key, what in WAYS.items():
            table.row(
                what,
                {
                    label: (_latency(endpoints[label][count][key]["loop_lag"]), "")
                    for label in labels
                },
            )
        table.row(
            "(t) outbox rows left when the load ended",
            {
                label: (stat_cell(endpoints[label][count]["t"]["outbox_rows_left_at_end"]), "")
                for label in labels
            },
        )


def _idle_rows(table: Table, figures: dict[str, Any]) -> None:
    accepted = figures["accepted_to_success"]
    table.section("idle, the template's way (t), ms p50 / p99 / max")
    for key, what in (
        ("request_to_202", "request -> HTTP 202"),
        ("accepted_to_task_ran", "HTTP 202 -> task ran (its own clock)"),
        ("accepted_to_success", "HTTP 202 -> SUCCESS in the result backend"),
    ):
        table.row(what, {label: (_latency(accepted[label][key]), "") for label in table.labels})
    idle_cpu = figures["relay_idle_cpu_percent"]
    table.row(
        "relay CPU while idle, % of one core",
        {label: (f"{idle_cpu[label]:.2f} %", "") for label in table.labels},
    )


def _broker_down_rows(table: Table, figures: dict[str, Any]) -> None:
    down = figures["register_broker_down"]
    requests = down[table.labels[0]]["requests_per_endpoint"]
    table.section(
        f"register, broker down ({requests} each): ms p50 / p99 / max; errors, emails lost"
    )
    for key, what in REGISTER_WAYS.items():
        cells = {}
        for label in table.labels:
            figure = down[label]["by_endpoint"][key]
            outcome = (
                f"{figure['http_errors']} err,"
                f" {figure['emails_lost']}/{figure['users_created']} lost"
            )
            cells[label] = (_single(figure["latency"]), outcome)
        table.row(what, cells)
    table.row(
        "loop lag max ms during (a)",
        {
            label: (_ms(down[label]["by_endpoint"]["a"]["loop_lag"]["max_ms"]), "")
            for label in table.labels
        },
    )


def _drain_rows(table: Table, figures: dict[str, Any]) -> None:
    drain = figures["worker_drain"]
    tasks = drain[table.labels[0]]["tasks"]
    table.section(f"worker drain of {tasks} no-op tasks, tasks/s")
    for key, what in (
        ("template_tasks_per_s", "template's celery_app"),
        ("bare_tasks_per_s", "bare Celery app"),
    ):
        table.row(what, {label: (stat_cell(drain[label][key]), "") for label in table.labels})
    table.row(
        "template / bare",
        {label: (stat_cell(drain[label]["ratio"], 2, "x"), "") for label in table.labels},
    )


def table(results: dict[str, Any]) -> str:
    figures, machine = results["figures"], results["machine"]
    refs = results["refs"]
    labels = [ref["label"] for ref in refs]
    connections = [str(count) for count in results["plan"]["connections"]]
    grid = Table(labels)
    _endpoint_rows(grid, figures, connections)
    _idle_rows(grid, figures)
    _broker_down_rows(grid, figures)
    _drain_rows(grid, figures)
    header = ["figure"]
    for ref in refs:
        header += [f"{ref['label']} ({ref['commit'][:7]})", "vs (c)"]
    notes = _notes(results, labels, connections)
    packages = refs[0]["packages"]
    versions = ", ".join(f"{name} {version}" for name, version in packages.items())
    return "\n".join(
        [
            f"{machine['cores']} cores, {machine['platform']}; Redis {machine['redis']},"
            f" PostgreSQL {machine['postgresql']}",
            f"{refs[0]['label']}: Python {refs[0]['python']}, {versions}",
            f"runs: {results['plan']['runs']}; each figure is the median of its runs (for"
            " latencies, of each run's p50, p99 and max)",
            "",
            *grid.render(header),
            "",
            *notes,
        ]
    )


def _notes(results: dict[str, Any], labels: list[str], connections: list[str]) -> list[str]:
    figures = results["figures"]
    ceiling = figures["loadgen_ceiling"]
    notes = []
    load = results["machine"]["load_average_at_start"]
    if load > BUSY_LOAD_AVERAGE:
        notes.append(
            f"The machine was busy when the bench started (load average {load:.2f} over the last"
            " minute): other processes shared its cores, and the spreads show it."
        )
    notes += [
        "Load generator ceiling (a server that does nothing): "
        + ", ".join(f"{stat_cell(ceiling[count])} req/s at {count}" for count in connections)
        + ".",
        "During the load no worker runs (its CPU would count against the enqueueing endpoints on"
        " this machine); the relay does. After each run the outbox empties and the queues are"
        " purged.",
    ]
    for ref in results["refs"]:
        notes.append(f"{ref['label']}: outbox API `{ref['outbox_api']}`.")
    for label in labels:
        for count in connections:
            for key in WAYS:
                figure = figures["endpoints"][label][count][key]
                if figure["errors"]:
                    notes.append(
                        f"{label}, {key} at {count}: {figure['errors']} failed requests,"
                        f" e.g. {figure['error_examples']}"
                    )
                share = figure["rps"]["median"] / ceiling[count]["median"]
                if key == "c" and share > CEILING_WARNING_SHARE:
                    notes.append(
                        f"{label}, (c) at {count} reached {share:.0%} of the load generator's"
                        " ceiling: the load generator may have limited it."
                    )
    return notes
