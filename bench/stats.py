"""Percentiles and medians, so every figure is summarised the same way."""

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: a value that was observed, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds, with the sample count."""
    return {
        "samples": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds, default=math.nan) * 1000,
    }


def over_runs(values: Sequence[float]) -> dict[str, Any]:
    """One figure measured several times: the median is the figure, the rest shows the spread."""
    finite = [value for value in values if math.isfinite(value)]
    return {
        "runs": len(values),
        "median": statistics.median(finite) if finite else math.nan,
        "min": min(finite, default=math.nan),
        "max": max(finite, default=math.nan),
        "values": list(values),
    }


def latency_over_runs(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Per-run latency summaries folded into one: the median of each percentile across runs."""
    return {
        "runs": len(runs),
        "samples_per_run": [int(run["samples"]) for run in runs],
        **{key: over_runs([run[key] for run in runs]) for key in ("p50_ms", "p99_ms", "max_ms")},
    }
