"""The whole bench: render and install each ref, measure every figure, clean up whatever happens.

Figures, each for every ref:
1. requests/s of (c), (a), (b), (t) at each connection count, with the API's loop lag
   (`bench.throughput`), against the load generator's ceiling;
2. HTTP 202 -> task ran / SUCCESS when idle (`bench.accepted`), and the relay's CPU while idle;
3. worker drain, the template's app against a bare one (`bench.drain`);
4. register with the broker down: latency, errors, emails lost (`bench.broker_down`).
"""

import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import isolation, processes, render
from bench.accepted import measure_accepted
from bench.broker_down import measure_broker_down
from bench.deployment import Deployment, serving
from bench.drain import measure_drain
from bench.isolation import Isolation
from bench.machine import machine, project_versions
from bench.mailsink import running_mail_sink
from bench.plan import Plan
from bench.processes import cpu_percent
from bench.throughput import measure_ceiling, measure_endpoints

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"bench [{time.monotonic() - STARTED:6.1f} s]: {message}", file=sys.stderr, flush=True)


@contextmanager
def _cleaned_up(isolations: list[Isolation], workdir: Path) -> Iterator[None]:
    """Processes first (a live worker could write keys back), then keys, databases, renders."""
    try:
        yield
    finally:
        processes.stop_all()
        for owned in isolations:
            with contextlib.suppress(Exception):
                isolation.delete_keys(owned)
            try:
                isolation.drop_database(owned)
            except Exception as exc:
                progress(f"could not drop database {owned.database}: {exc!r}")
        shutil.rmtree(workdir, ignore_errors=True)


def run_bench(plan: Plan, refs: list[tuple[str, str]], logs: Path) -> dict[str, Any]:
    """`refs`: (ref, label) pairs. Every figure for every ref, as a JSON-ready dict."""
    load_average_at_start = os.getloadavg()[0]
    run_id = uuid.uuid4().hex[:6]
    isolations: list[Isolation] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-projects-"))
    figures: dict[str, Any] = {}
    ref_info: list[dict[str, Any]] = []
    with _cleaned_up(isolations, workdir), running_mail_sink() as sink:
        deployments = []
        for ref, label in refs:
            commit = render.resolve(ref)
            progress(f"{label}: rendering {ref} ({commit[:7]}) and installing it")
            project = render.render(ref, commit, label, workdir / label)
            owned = isolation.new_isolation(run_id, label, sink.port)
            isolation.create_database(owned)
            isolations.append(owned)
            deployment = Deployment(project, owned, logs)
            deployment.migrate()
            deployments.append(deployment)
            ref_info.append(
                {"ref": ref, "commit": commit, "label": label, **project_versions(project)}
            )

        progress("the load generator's ceiling")
        figures["loadgen_ceiling"] = measure_ceiling(plan, logs)
        progress("starting each ref's API and relay")
        with ExitStack() as running:
            apis = {d.project.label: (d, running.enter_context(serving(d))) for d in deployments}
            for info, (_, api) in zip(ref_info, apis.values(), strict=True):
                info["outbox_api"] = api.info["outbox_api"]
            figures["endpoints"] = measure_endpoints(apis, plan, progress)
            figures["accepted_to_success"] = {}
            for label, (deployment, api) in apis.items():
                progress(f"{label}: HTTP 202 -> SUCCESS, idle")
                figures["accepted_to_success"][label] = measure_accepted(deployment, api, plan)
            figures["relay_idle_cpu_percent"] = {}
            for label, (_, api) in apis.items():
                assert api.relay is not None
                progress(f"{label}: the relay's CPU while idle")
                figures["relay_idle_cpu_percent"][label] = cpu_percent(api.relay, plan.idle_cpu_s)
        figures["worker_drain"] = measure_drain(deployments, plan, progress)
        figures["register_broker_down"] = {}
        for deployment in deployments:
            progress(f"{deployment.project.label}: register with the broker down")
            figures["register_broker_down"][deployment.project.label] = measure_broker_down(
                deployment, plan, sink, logs
            )
    return {
        "machine": machine(load_average_at_start),
        "plan": asdict(plan),
        "refs": ref_info,
        "figures": figures,
    }
