"""The event loop's lag, sampled from inside the API process.

The sampler sleeps a few milliseconds at a time and records how late it wakes: how long a timer
or any other ready callback waits for the loop, a blocking `.delay()` included however it falls.
(Timing only a yield to the ready queue would miss a block that starts while the sampler sleeps:
it shows up as samples missing, not as lag.) The loop's timer resolution (1 ms for uvloop's
libuv timers) is part of every sample, so the p50 of an idle loop is not zero.
"""

import asyncio
import contextlib
import math
import time

SAMPLE_INTERVAL_SECONDS = 0.005


class LagSampler:
    """How late a sleep of `interval` seconds wakes, again and again."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._sample(), name="bench-lag-sampler")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    def summary(self) -> dict[str, float]:
        """p50, p99 and max in ms (nearest rank), and the sample count, since the last reset."""
        ordered = sorted(self.lags)

        def rank(fraction: float) -> float:
            if not ordered:
                return math.nan
            return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] * 1000

        return {
            "samples": len(ordered),
            "p50_ms": rank(0.50),
            "p99_ms": rank(0.99),
            "max_ms": rank(1.0),
        }

    async def _sample(self) -> None:
        while True:
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - due))
