"""A small HTTP/1.1 keep-alive client for the bench's own requests (not the load itself)."""

import http.client
import json
import time
from typing import Any

from bench.errors import BenchError

IDEMPOTENT = frozenset({"GET", "DELETE"})


class Client:
    def __init__(self, base_url: str, timeout: float = 30) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Status and decoded JSON body (None when empty).

        A GET or DELETE on a keep-alive connection the server has closed meanwhile (uvicorn
        closes it after a 500, for one) is sent again once, on a new connection.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        for attempt in range(2):
            try:
                self._connection.request(method, path, body=payload, headers=all_headers)
                response = self._connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                self._connection.close()
                if attempt or method not in IDEMPOTENT:
                    raise
                continue
            return response.status, json.loads(data) if data else None
        raise AssertionError("unreachable")

    def expect(self, method: str, path: str, status: int, body: Any = None) -> Any:
        answered, data = self.request(method, path, body)
        if answered != status:
            raise BenchError(f"{method} {path} answered {answered}, not {status}: {data}")
        return data

    def close(self) -> None:
        self._connection.close()


def wait_until_live(base_url: str, timeout: float, alive: Any) -> None:
    """Until GET /health answers 200; `alive()` False (the process exited) ends the wait early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        client = Client(base_url, timeout=1)
        try:
            if client.request("GET", "/health")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            client.close()
        time.sleep(0.1)
    raise BenchError(f"The API at {base_url} did not answer GET /health")
