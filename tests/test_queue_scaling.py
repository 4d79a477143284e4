"""KEDA scales the workers on the queues Celery really writes, and two worker pods drain faster.

Nothing here needs a cluster. The manifests of deploy/kubernetes/base give the `worker`
Deployment's command, the `backend-config` ConfigMap's environment and the `worker` ScaledObject's
triggers; the project's own Celery app enqueues tasks with this run's key prefix on this machine's
broker; the test reads each trigger's queue as KEDA would (Redis: LLEN of `listName` in
`databaseIndex`; RabbitMQ: the message count of a passive declare of `queueName`), then drains the
queue with one and with two worker processes started with the Deployment's command.

The manifests name the queues for the ConfigMap's CELERY_KEY_PREFIX, the run uses a prefix of its
own: a key Celery wrote, with the run's prefix swapped for the ConfigMap's, must be a trigger's
queue name, and every trigger must be such a key.
"""

import json
import os
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.compose_services import free_port, local_service_urls
from tests.conftest import Projects
from tests.helpers import command_env, stop
from tests.manifests import CONFIG_MAP, base_of, container, find
from tests.variants import answers_of, variant_params

# The queues and keys depend on the broker and the prefix only (Python, beat and Flower do not
# change them): one Redis variant and the RabbitMQ one cover every kind of trigger.
SCALING_VARIANTS = ["kubernetes", "py312_rabbitmq_flower_k8s"]

# Each task sleeps (one step of the generated tests' long task), so two processes drain about
# twice as fast even on a busy machine with few cores; 1.3 leaves room for that.
MARGIN = 1.3
ROUNDS = (1, 2, 2, 1)  # worker processes per round: alternated, so a drift favours neither
TASKS_PER_PROCESS_SLOT = 6
POLL_SECONDS = 0.02
DRAIN_TIMEOUT_SECONDS = 120

# The generated suite's own tasks, for tests that need some task rather than one of the project's.
TEST_TASKS = "tests.support.tasks"

# Runs in the project's virtual environment: the template's has none of its dependencies. One
# JSON request a line on stdin, one reply a line (after REPLY) on stdout.
REPLY = "@@reply "
DRIVER = f"""
import json
import sys

from celery.result import AsyncResult

from app.worker.celery_app import celery_app
from {TEST_TASKS} import long_task

connection = None


def channel():
    global connection
    if connection is None:
        connection = celery_app.connection_for_read()
        connection.ensure_connection(max_retries=3)
    return connection.default_channel


def handle(request):
    op = request["op"]
    if op == "queues":
        return sorted(queue.name for queue in celery_app.conf.task_queues)
    if op == "enqueue":
        options = {{"queue": request["queue"]}} if request.get("queue") else {{}}
        return [
            long_task.apply_async((1,), **options).id for _ in range(request["count"])
        ]
    if op == "lengths":  # KEDA's AMQP mode: a passive declare, which fails on a missing queue
        return {{
            name: channel().queue_declare(queue=name, passive=True).message_count
            for name in request["names"]
        }}
    if op == "active_queues":
        inspect = celery_app.control.inspect(destination=request["nodes"], timeout=0.5)
        answers = inspect.active_queues() or {{}}
        return {{node: sorted(q["name"] for q in queues) for node, queues in answers.items()}}
    if op == "states":
        return [AsyncResult(task_id, app=celery_app).state for task_id in request["ids"]]
    if op == "purge":
        return celery_app.control.purge()
    if op == "delete_queues":
        for name in request["names"]:
            channel().queue_delete(queue=name)
            channel().exchange_delete(exchange=name)
        return None
    raise ValueError(op)


for line in sys.stdin:
    try:
        reply = {{"value": handle(json.loads(line))}}
    except Exception as exc:
        reply = {{"error": repr(exc)}}
        if connection is not None:  # a failed passive declare closes the channel
            connection.release()
            connection = None
    print({REPLY!r} + json.dumps(reply), flush=True)
"""


@dataclass
class WorkerPod:
    """What the manifests say a worker pod runs: its command line and its environment."""

    argv: list[str]
    env: dict[str, str]
    concurrency: int


def worker_pod(manifests: list[dict[str, Any]]) -> WorkerPod:
    config = find(manifests, "ConfigMap", CONFIG_MAP).get("data") or {}
    worker = container(find(manifests, "Deployment", "worker"))
    env = {str(key): str(value) for key, value in config.items()}
    env |= {item["name"]: str(item["value"]) for item in worker.get("env", []) if "value" in item}
    # The image has no ENTRYPOINT: the command line is `command` followed by `args`, and
    # Kubernetes expands $(NAME) in both from the container's environment.
    argv = [
        re.sub(r"\$\((\w+)\)", lambda match: env.get(match[1], match[0]), str(part))
        for part in [*worker.get("command", []), *worker.get("args", [])]
    ]
    return WorkerPod(argv, env, concurrency_of(argv))


def concurrency_of(argv: list[str]) -> int:
    for index, part in enumerate(argv):
        if part.startswith("--concurrency="):
            return int(part.split("=", 1)[1])
        if part in ("--concurrency", "-c"):
            return int(argv[index + 1])
        if re.fullmatch(r"-c\d+", part):
            return int(part[2:])
    raise AssertionError(
        "the worker Deployment must set --concurrency: by default each pod starts one process "
        f"per CPU of its node, whatever its resource limits: {argv}"
    )


class Driver:
    """The project's Celery app, in the project's virtual environment, answering requests."""

    def __init__(self, backend: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [str(backend / ".venv" / "bin" / "python"), "-c", DRIVER],
                cwd=backend,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def __call__(self, op: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(REPLY):
                reply = json.loads(line.removeprefix(REPLY))
                assert "error" not in reply, f"{op} {arguments}: {reply['error']}"
                return reply["value"]
        raise AssertionError(f"the Celery driver exited:\n{self.log.read_text()}")

    def close(self) -> None:
        assert self.process.stdin is not None
        with suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def worker_process(
    backend: Path, pod: WorkerPod, env: dict[str, str], node: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One worker pod's process, stopped as Kubernetes stops a pod: SIGTERM to the worker
    (a warm shutdown), SIGKILL only if it outlives its grace period."""
    # Pods differ by host name, so by node name; processes on one machine need names given. The
    # task the test sends is one of the generated tests' own, which the worker loads besides.
    # Each pod has its own metrics port and folder (an emptyDir); so does each process here.
    metrics = log.with_suffix(".metrics")
    metrics.mkdir()
    own = {"METRICS_PORT": str(free_port()), "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    with log.open("w") as output:
        process = subprocess.Popen(
            [*pod.argv, f"--hostname={node}", f"--include={TEST_TASKS}"],
            cwd=backend,
            env={**env, **own},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process, whole_group=False, timeout=60)


def poll(condition: Callable[[], Any], what: str, timeout: float = DRAIN_TIMEOUT_SECONDS) -> Any:
    """Ask again every POLL_SECONDS until `condition` returns something true; return that."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(POLL_SECONDS)
    return value


@pytest.mark.parametrize(
    "variant", [param for param in variant_params() if param.id in SCALING_VARIANTS]
)
def test_scaler_reads_the_real_queues_and_two_workers_drain_faster(
    projects: Projects, services: None, variant: str, key_prefix: str, tmp_path: Path
) -> None:
    answers = answers_of(variant)
    assert answers["kubernetes"], f"{variant} renders no Kubernetes manifests"
    check_queue_scaling(projects(variant), answers["broker"], key_prefix, tmp_path)


def check_queue_scaling(project: Path, broker: str, prefix: str, workdir: Path) -> None:
    backend = project / "backend"
    manifests = base_of(project)
    pod = worker_pod(manifests)
    triggers = find(manifests, "ScaledObject", "worker")["spec"]["triggers"]
    assert {trigger["type"] for trigger in triggers} == {broker}, triggers
    name_field = "listName" if broker == "redis" else "queueName"
    trigger_names = [trigger["metadata"][name_field] for trigger in triggers]
    assert len(set(trigger_names)) == len(trigger_names), f"a queue counted twice: {trigger_names}"

    urls = local_service_urls(broker)
    if broker == "redis":
        databases = {trigger["metadata"].get("databaseIndex", "0") for trigger in triggers}
        assert len(databases) == 1, triggers
        # The scaler reads this Redis database: the worker's broker must be the same one.
        urls["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{databases.pop()}"
    else:
        for trigger in triggers:
            assert trigger["metadata"].get("mode") == "QueueLength", trigger
    database = f"queue_scaling_{uuid.uuid4().hex[:10]}"
    env = command_env(
        **{
            **pod.env,
            **urls,
            "CELERY_KEY_PREFIX": prefix,
            # The task never opens the database; a name of its own keeps it out of others'.
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        }
    )
    env["PATH"] = f"{backend / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    # The pod's metrics folder is an emptyDir; the driver, which serves none, gets one of its own.
    env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "driver-metrics")
    (workdir / "driver-metrics").mkdir()
    broker_redis = redis.Redis.from_url(urls["CELERY_BROKER_URL"]) if broker == "redis" else None
    results = redis.Redis.from_url(urls["CELERY_RESULT_BACKEND"])
    driver = Driver(backend, env, workdir / "driver.log")
    queues: list[str] = []
    try:
        queues = driver("queues")
        scaler_names = check_scaler_reads_celerys_queues(
            driver,
            broker_redis,
            queues,
            prefix,
            pod.env.get("CELERY_KEY_PREFIX", ""),
            trigger_names,
        )

        def scaler_length() -> int:
            """The queued tasks, summed over the triggers, read as KEDA reads them."""
            if broker_redis is not None:
                return sum(int(broker_redis.llen(name)) for name in scaler_names.values())
            return sum(driver("lengths", names=list(scaler_names.values())).values())

        figures = measure_drain(driver, backend, pod, env, scaler_length, queues, workdir)
        check_two_processes_drain_faster(figures, pod)
    finally:
        with suppress(AssertionError):
            driver("purge")
            if broker == "rabbitmq" and queues:
                driver("delete_queues", names=queues)
        driver.close()
        for client in filter(None, (broker_redis, results)):
            keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
            if keys:
                client.delete(*keys)


def check_scaler_reads_celerys_queues(
    driver: Driver,
    broker_redis: redis.Redis | None,
    queues: list[str],
    prefix: str,
    config_prefix: str,
    trigger_names: list[str],
) -> dict[str, str]:
    """Send a different number of tasks to each queue, no worker running; find where they landed;
    read those lengths by the triggers' names. Return {trigger's name: this run's name}."""
    landed: dict[str, tuple[str, int]] = {}  # this run's key or queue -> (Celery queue, tasks)
    for count, queue in enumerate(queues, start=2):
        before = redis_lists(broker_redis, prefix) if broker_redis is not None else set()
        driver("enqueue", queue=queue, count=count)
        if broker_redis is not None:
            # The list Celery pushed to, whatever prefixes the transport puts before the queue.
            new = redis_lists(broker_redis, prefix) - before
            assert len(new) == 1, f"sending to {queue} created the lists {new}"
            landed[new.pop()] = (queue, count)
        else:
            landed[queue] = (queue, count)
    as_deployed = {name.replace(prefix, config_prefix): name for name in landed}
    assert sorted(as_deployed) == sorted(trigger_names), (
        f"the ScaledObject reads {sorted(trigger_names)}, but with CELERY_KEY_PREFIX="
        f"{config_prefix!r} Celery writes {sorted(as_deployed)} (this run, with the prefix "
        f"{prefix!r}, wrote {sorted(landed)})"
    )
    if broker_redis is not None:
        lengths = {name: int(broker_redis.llen(name)) for name in landed}
    else:
        lengths = driver("lengths", names=list(landed))
    for trigger, name in sorted(as_deployed.items()):
        queue, count = landed[name]
        print(f"trigger {trigger!r} reads {name!r}: {lengths[name]} ({count} sent to {queue})")
        assert lengths[name] == count, f"{trigger!r} read {lengths[name]}, {count} were sent"
    driver("purge")
    return as_deployed


def redis_lists(client: redis.Redis, prefix: str) -> set[str]:
    return {
        key.decode()
        for key in client.scan_iter(match=f"*{prefix}*", count=1000)
        if client.type(key) == b"list"
    }


def measure_drain(
    driver: Driver,
    backend: Path,
    pod: WorkerPod,
    env: dict[str, str],
    scaler_length: Callable[[], int],
    queues: list[str],
    workdir: Path,
) -> dict[int, list[tuple[float, float]]]:
    """Drain as many tasks with one as with two worker processes, in the order of ROUNDS; per
    process count, each round's seconds until the scaler reads an empty queue, and until done."""
    tasks = TASKS_PER_PROCESS_SLOT * pod.concurrency
    run_id = uuid.uuid4().hex[:10]
    nodes = [f"celery@queue-scaling-{run_id}-{index}" for index in (1, 2)]
    figures: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with ExitStack() as first, ExitStack() as second:
        running = [
            first.enter_context(worker_process(backend, pod, env, nodes[0], workdir / "w1.log"))
        ]
        for processes in ROUNDS:
            if processes == 2 and len(running) == 1:
                log = workdir / "w2.log"
                running.append(
                    second.enter_context(worker_process(backend, pod, env, nodes[1], log))
                )
            elif processes == 1 and len(running) == 2:
                second.close()
                running.pop()
            wait_until_consuming(driver, running, nodes[:processes], queues, workdir)
            figures[processes].append(drain(driver, scaler_length, tasks))
    return figures


def wait_until_consuming(
    driver: Driver,
    running: list[subprocess.Popen[bytes]],
    nodes: list[str],
    queues: list[str],
    workdir: Path,
) -> None:
    """Until each worker answers which queues it consumes: every queue the triggers count."""

    def answers() -> dict[str, list[str]] | None:
        for process in running:
            assert process.poll() is None, f"a worker exited, see its log in {workdir}"
        consumed: dict[str, list[str]] = driver("active_queues", nodes=nodes)
        return consumed if len(consumed) == len(nodes) else None

    consumed = poll(answers, f"workers {nodes} to start (logs in {workdir})", timeout=90)
    for node in nodes:
        assert consumed[node] == queues, f"{node} consumes {consumed[node]}, the triggers {queues}"


def drain(driver: Driver, scaler_length: Callable[[], int], tasks: int) -> tuple[float, float]:
    start = time.monotonic()
    ids = driver("enqueue", count=tasks)
    # Published without confirms, the tasks can reach the queue after the first read (seen with
    # RabbitMQ: "empty" 0.02 s in). Workers hold a task per slot, so most of them wait to be read.
    poll(lambda: scaler_length() > 0, f"the scaler to read the {tasks} tasks just sent")
    poll(lambda: scaler_length() == 0, f"the queue to drain ({tasks} tasks)")
    emptied = time.monotonic() - start
    poll(
        lambda: all(state == "SUCCESS" for state in driver("states", ids=ids)),
        "the drained tasks to succeed",
    )
    return emptied, time.monotonic() - start


def check_two_processes_drain_faster(
    figures: dict[int, list[tuple[float, float]]], pod: WorkerPod
) -> None:
    """Print the figures; the rate is tasks per second until the scaler reads an empty queue."""
    tasks = TASKS_PER_PROCESS_SLOT * pod.concurrency
    rates = {
        processes: statistics.median(tasks / emptied for emptied, _ in rounds)
        for processes, rounds in figures.items()
    }
    for processes, rounds in figures.items():
        print(
            f"{processes} worker process(es) of --concurrency={pod.concurrency}, {tasks} tasks: "
            f"queue read empty after {[round(e, 2) for e, _ in rounds]} s, all done after "
            f"{[round(d, 2) for _, d in rounds]} s; median drain {rates[processes]:.2f} tasks/s"
        )
    # A worker that reserves the whole queue leaves the scaler nothing to read: the tasks must
    # wait in the queue for most of a drain, not in one worker's prefetch buffer.
    queued_share = statistics.median(emptied / done for emptied, done in figures[1])
    print(f"one process: the scaler read queued tasks for {queued_share:.0%} of each drain")
    assert queued_share > 0.5, (
        f"with one worker process the queue read empty after {queued_share:.0%} of the drain: "
        "the worker takes tasks off the queue long before it can run them"
    )
    ratio = rates[2] / rates[1]
    print(f"drain rate, 2 processes / 1 process: {ratio:.2f}")
    assert rates[2] > MARGIN * rates[1], (
        f"two worker processes drained {rates[2]:.2f} tasks/s, one {rates[1]:.2f} tasks/s: "
        f"a ratio of {ratio:.2f}, not above {MARGIN}"
    )
