"""Reading a process's Prometheus metrics as Prometheus would: GET /metrics on its port."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

# A sample: (name, sorted labels).
Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(port: int | None) -> dict[Sample, float]:
    """Every sample the process serves, by name and labels."""
    assert port is not None, "The process was started without METRICS_PORT"
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The sample's value, 0 if the process has not served it."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
