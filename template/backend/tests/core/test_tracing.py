import sys
import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from app.core.tracing import start_tracing, trace_headers
from app.main import create_app


def test_without_an_endpoint_nothing_is_traced_exported_or_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    create_app()

    assert not start_tracing("api")
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert trace_headers() == {}  # nothing added to the tasks' headers
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" not in sys.modules
    assert not [t.name for t in threading.enumerate() if "Otel" in t.name]
