"""How enqueueing scales: commits/s of a request's transaction, with each way of adding a task.

`uv run python -m bench.enqueue_scaling [--runs N] [--seconds S] [--clients 1,8,32,64] [--quick]`

v0.8.0 wakes the outbox relay with a statement trigger on `outbox_messages` that calls
`pg_notify`. PostgreSQL takes one server-wide lock when a notifying transaction prepares to
commit and holds it through the commit, so every enqueueing request commits one at a time. The
next release drops the trigger and wakes the relay with a Redis PUBLISH after the commit. This
figure is the price of each design in database commits/s, measured with pgbench in a throwaway
database (tables as migrations 0001-0003 create them, 0004's trigger on the v0.8.0 outbox only):

- (c) the request's row alone: one `task_runs` INSERT;
- (t0.8) that row and a v0.8.0 outbox row, whose trigger notifies; again with the relay's
  LISTEN connection open, as listeners elsewhere on the server make it worse;
- (t) that row and an outbox row of the next release's shape, no trigger;
- (n) (t), then `SELECT pg_notify(...)` in a transaction of its own after the commit, with a
  listener: the NOTIFY-after-commit design at its worst (one per request, not coalesced);
- (r) (c) plus `SELECT 1`: one more round trip that writes nothing. Where (t) is close to (r),
  what the outbox row costs is its statement's round trip, not its write;
- (w) both rows in one statement (a CTE): the outbox row's write without its round trip.

Each pgbench run starts from empty tables; no relay empties the outbox during it. Runs alternate
the shapes' order, and each figure is the median of its runs. pgbench shares the server's cores.
The Redis PUBLISH rate (one subscriber listening) is the wake-up's own cost in the new design.
"""

import argparse
import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import isolation, report
from bench.errors import BenchError
from bench.machine import machine
from bench.runner import progress
from bench.stats import over_runs

SCHEMA = """
CREATE TABLE users (id SERIAL NOT NULL, email VARCHAR(320) NOT NULL,
  hashed_password VARCHAR(255) NOT NULL, full_name VARCHAR(255),
  is_active BOOLEAN DEFAULT true NOT NULL, created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
  welcome_email_sent_at TIMESTAMPTZ, CONSTRAINT pk_users PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE TABLE task_runs (id VARCHAR(36) NOT NULL, user_id INTEGER NOT NULL,
  task_name VARCHAR(255) NOT NULL, created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
  CONSTRAINT pk_task_runs PRIMARY KEY (id), CONSTRAINT fk_task_runs_user_id_users
  FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX ix_task_runs_user_id ON task_runs (user_id);
INSERT INTO users (email, hashed_password) VALUES ('bench@example.com', 'not a hash');

CREATE SCHEMA v0_8_0;
CREATE TABLE v0_8_0.outbox_messages (id VARCHAR(36) PRIMARY KEY, task_name VARCHAR(255) NOT NULL,
  args JSON NOT NULL, kwargs JSON NOT NULL, request_id VARCHAR(128),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), publish_attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT);
CREATE INDEX ix_outbox_messages_created_at ON v0_8_0.outbox_messages (created_at);
CREATE FUNCTION v0_8_0.notify_outbox_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_messages', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_messages_notify AFTER INSERT ON v0_8_0.outbox_messages
  FOR EACH STATEMENT EXECUTE FUNCTION v0_8_0.notify_outbox_messages();

CREATE SCHEMA next_release;
CREATE TABLE next_release.outbox_messages (id VARCHAR(36) PRIMARY KEY,
  task_name VARCHAR(255) NOT NULL, args JSON NOT NULL, kwargs JSON NOT NULL,
  options JSON NOT NULL DEFAULT '{}', request_id VARCHAR(128),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), due_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  publish_attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX ix_outbox_messages_due_at ON next_release.outbox_messages (due_at);
"""
TASK_RUN = "INSERT INTO task_runs (id, user_id, task_name) VALUES (gen_random_uuid(), 1, 'noop');"
V080_ROW = (
    "INSERT INTO v0_8_0.outbox_messages (id, task_name, args, kwargs, request_id)"
    " VALUES (gen_random_uuid(), 'noop', '[1]', '{}', gen_random_uuid());"
)
NEXT_ROW = (
    "INSERT INTO next_release.outbox_messages (id, task_name, args, kwargs, options, request_id)"
    " VALUES (gen_random_uuid(), 'noop', '[1]', '{}', '{}', gen_random_uuid());"
)
SETTINGS = ("fsync", "synchronous_commit")  # what a commit waits for
# Sessions of other databases: NOTIFY's lock is server-wide, their commits can queue with ours.
OTHERS = (
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
    " AND datname IS DISTINCT FROM current_database()"
)
BOTH_ROWS = f"WITH run AS ({TASK_RUN.rstrip(';')}) {NEXT_ROW}"  # (w): both, one statement
TRUNCATE = "TRUNCATE task_runs, v0_8_0.outbox_messages, next_release.outbox_messages"


def _transaction(*statements: str) -> str:
    return "\n".join(["BEGIN;", *statements, "COMMIT;", ""])


# key: (row label, pgbench script, channel a listener holds open during the run, or None)
SHAPES: dict[str, tuple[str, str, str | None]] = {
    "c": ("(c) the request's row alone", _transaction(TASK_RUN), None),
    "t0.8": ("(t0.8) + v0.8.0 outbox row, trigger", _transaction(TASK_RUN, V080_ROW), None),
    "t0.8L": (
        "(t0.8) with the relay's LISTEN",
        _transaction(TASK_RUN, V080_ROW),
        "outbox_messages",
    ),
    "t": ("(t) + new outbox row, no trigger", _transaction(TASK_RUN, NEXT_ROW), None),
    "n": (
        "(n) (t), then NOTIFY, with LISTEN",
        _transaction(TASK_RUN, NEXT_ROW) + "SELECT pg_notify('outbox', '');\n",
        "outbox",
    ),
    "r": ("(r) (c) + SELECT 1, no outbox row", _transaction(TASK_RUN, "SELECT 1;"), None),
    "w": ("(w) both rows in one statement", _transaction(BOTH_ROWS), None),
}
# pgbench 15 prints "tps = N (without initial connection time)"; older ones "(excluding ...)".
TPS = re.compile(r"^tps = ([\d.]+) \((?:without initial|excluding)", re.MULTILINE)


class Listener(threading.Thread):
    """The relay's LISTEN connection: reads every notification, as the relay does."""

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(daemon=True)
        self.connection = psycopg.connect(url, autocommit=True, connect_timeout=5)
        self.connection.execute(f"LISTEN {channel}")  # type: ignore[arg-type]
        self.received = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        # An interrupted bench may drop the database before this thread has stopped.
        with contextlib.suppress(psycopg.OperationalError):
            while not self.stopping.is_set():
                self.received += sum(1 for _ in self.connection.notifies(timeout=0.2))

    def __enter__(self) -> "Listener":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join()
        self.connection.close()


def _pgbench(url: str, script: Path, clients: int, seconds: int) -> float:
    command = ["pgbench", "-n", "-f", str(script), "-c", str(clients), "-j", "2"]
    done = subprocess.run(
        [*command, "-T", str(seconds), url], capture_output=True, text=True, timeout=seconds + 60
    )
    match = TPS.search(done.stdout)
    if done.returncode or not match:
        raise BenchError(f"pgbench exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return float(match[1])


def _publishes_per_s(channel: str, clients: int, requests: int) -> float:
    command = ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c", str(clients)]
    done = subprocess.run(
        [*command, "-n", str(requests), "--csv", "PUBLISH", channel, "wake"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(list(csv.DictReader(done.stdout.splitlines()))[-1]["rps"])


def _one(
    admin: psycopg.Connection, url: str, script: Path, clients: int, seconds: int
) -> dict[str, Any]:
    """One pgbench run of one shape, from empty tables, with the listener its shape has."""
    admin.execute(TRUNCATE)
    listen = SHAPES[script.stem][2]
    with Listener(url, listen) if listen else contextlib.nullcontext() as listener:
        tps = _pgbench(url, script, clients, seconds)
    got = listener.received if listener else None
    return {"shape": script.stem, "clients": clients, "tps": tps, "notifications_received": got}


def measure(options: argparse.Namespace, scripts: Path) -> dict[str, Any]:
    owned = isolation.new_isolation(uuid.uuid4().hex[:6], "enqueue_scaling", 0)
    url = f"{isolation.POSTGRES}/{owned.database}"
    channel = f"bench-enqueue-scaling-{owned.name}"
    runs: list[dict[str, Any]] = []
    publishes: dict[str, list[float]] = {"1": [], "32": []}
    for key, (_, script, _) in SHAPES.items():
        (scripts / f"{key}.sql").write_text(script)
    subscriber = subprocess.Popen(
        ["redis-cli", "-h", "127.0.0.1", "SUBSCRIBE", channel], stdout=subprocess.DEVNULL
    )
    try:
        isolation.create_database(owned)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(SCHEMA)  # type: ignore[arg-type]
            query = "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)"
            settings = dict(admin.execute(query, [list(SETTINGS)]).fetchall())
            others = [admin.execute(OTHERS).fetchall()[0][0]]
            for run in range(options.runs):
                order = list(SHAPES) if run % 2 == 0 else list(reversed(SHAPES))
                for clients, key in ((c, k) for c in options.clients for k in order):
                    one = _one(admin, url, scripts / f"{key}.sql", clients, options.seconds)
                    runs.append({"run": run, **one})
                    progress(f"run {run + 1}, {clients} clients, {key}: {one['tps']:,.0f} tps")
                for clients, values in publishes.items():
                    requests = 5_000 if options.quick else 50_000
                    values.append(_publishes_per_s(channel, int(clients), requests))
            others.append(admin.execute(OTHERS).fetchall()[0][0])
    finally:
        subscriber.terminate()
        subscriber.wait()
        isolation.drop_database(owned)
    return {
        "server_settings": settings,
        "other_sessions_at_start_and_end": others,
        "runs": runs,
        "redis_publishes_per_s": {c: over_runs(v) for c, v in publishes.items()},
    }


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """For each shape and client count: tps and its ratio to (c) of the same run, over runs."""
    plain = {(r["run"], r["clients"]): r["tps"] for r in runs if r["shape"] == "c"}
    result: dict[str, Any] = {}
    for r in runs:
        cell = result.setdefault(r["shape"], {}).setdefault(str(r["clients"]), {})
        cell.setdefault("tps", []).append(r["tps"])
        cell.setdefault("ratio_to_c", []).append(r["tps"] / plain[r["run"], r["clients"]])
    return {
        key: {c: {name: over_runs(v) for name, v in cell.items()} for c, cell in by_count.items()}
        for key, by_count in result.items()
    }


def table(results: dict[str, Any]) -> str:
    counts = [str(clients) for clients in results["plan"]["clients"]]
    grid = report.Table(counts)
    grid.section("commits/s (median [min-max]), ratio to (c)")
    for key, (what, _, _) in SHAPES.items():
        cells = results["figures"][key]
        ratios = {c: f"{cells[c]['ratio_to_c']['median']:.2f}x" * (key != "c") for c in counts}
        grid.row(what, {c: (report.stat_cell(cells[c]["tps"]), ratios[c]) for c in counts})
    header = ["shape"] + [h for c in counts for h in (f"{c} client{'s' * (c != '1')}", "vs (c)")]
    m, plan = results["machine"], results["plan"]
    publish, settings = results["redis_publishes_per_s"], results["server_settings"]
    notes = [
        f"{m['cores']} cores; PostgreSQL {m['postgresql']} ("
        + ", ".join(f"{name} {value}" for name, value in settings.items())
        + f"), Redis {m['redis']}; pgbench -j 2 -T {plan['seconds']},"
        f" {plan['runs']} run(s) per cell",
        *grid.render(header),
        "Redis PUBLISH (the new wake-up), redis-benchmark, one subscriber: "
        + ", ".join(f"{report.stat_cell(s)}/s at {c} client(s)" for c, s in publish.items()),
        "Sessions of other databases on the PostgreSQL server (NOTIFY's lock is server-wide):"
        " {} at start, {} at end.".format(*results["other_sessions_at_start_and_end"]),
    ]
    for load in ("at_start", "at_end"):
        if m[f"load_average_{load}"] > report.BUSY_LOAD_AVERAGE:
            notes.append(
                f"The machine was busy {load.replace('_', ' ')} (load average"
                f" {m[f'load_average_{load}']:.2f}): other processes shared its cores."
            )
    return "\n".join(notes)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enqueue_scaling", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="per pgbench run")
    parser.add_argument("--clients", default="1,8,32,64", help="comma-separated client counts")
    parser.add_argument("--quick", action="store_true", help="one run of 1 s per cell")
    parser.add_argument("--output", type=Path, default=Path("enqueue-scaling.json"))
    options = parser.parse_args()
    options.clients = [int(count) for count in options.clients.split(",")]
    if options.quick:
        options.runs, options.seconds = 1, 1
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load_at_start = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-enqueue-") as scripts:
            measured = measure(options, Path(scripts))
    except BenchError as exc:
        print(f"The bench failed: {exc}", file=sys.stderr)
        return 1
    results = {
        "machine": {**machine(load_at_start), "load_average_at_end": os.getloadavg()[0]},
        "plan": {"runs": options.runs, "seconds": options.seconds, "clients": options.clients},
        "figures": figures(measured["runs"]),
        **measured,
    }
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    progress(f"results written to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
