"""Open-loop load: requests are sent at scheduled times, whatever the answers do.

A request's latency runs from its *scheduled* send time to its answer, so a server (or the
client's connection pool) that falls behind shows up as queueing in the figures instead of
quietly slowing the sender down (no coordinated omission). How late each request really
started against its schedule is recorded beside it: when that lag is large the generator
itself, not the server, was the limit, and the figures say so.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# A request that started more than this late (p99) means the generator lagged its schedule.
LAG_LIMIT_MS = 5.0

# send(n) -> (HTTP status, success); raising counts as a transport failure (status 0).
Send = Callable[[int], Awaitable[tuple[int, bool]]]


@dataclass(slots=True)
class Sample:
    scheduled: float  # time.perf_counter() seconds
    started: float
    finished: float
    status: int  # 0: transport failure (refused, reset, timeout)
    ok: bool

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.scheduled) * 1000

    @property
    def lag_ms(self) -> float:
        return (self.started - self.scheduled) * 1000


@dataclass
class Phase:
    """The measured part of one run at one rate (warm-up requests are not in `samples`)."""

    rate: float
    window_start: float
    duration: float
    samples: list[Sample] = field(default_factory=list)
    generator_cpu_s: float = 0.0
    wall_s: float = 0.0


def arrivals(rate: float, seconds: float, rng: random.Random, poisson: bool) -> Iterator[float]:
    """Send times as offsets from the start: exponential gaps (Poisson arrivals) or even ones."""
    n = 0
    offset = 0.0
    while True:
        offset = offset + rng.expovariate(rate) if poisson else n / rate
        if offset >= seconds:
            return
        yield offset
        n += 1


async def run_open_loop(
    send: Send,
    rate: float,
    warmup: float,
    duration: float,
    *,
    poisson: bool = True,
    seed: int = 1,
) -> Phase:
    """Call `send(n)` at `rate` per second for `warmup + duration` seconds; only requests
    scheduled after the warm-up are measured. Returns once every request has finished
    (`send` must bound its own time: the HTTP client's timeout)."""
    rng = random.Random(seed)
    cpu_before = time.process_time()
    start = time.perf_counter() + 0.01
    phase = Phase(rate, start + warmup, duration)
    tasks: set[asyncio.Task[None]] = set()

    async def fire(n: int, scheduled: float, measured: bool) -> None:
        started = time.perf_counter()
        try:
            status, ok = await send(n)
        except Exception:  # refused, reset, timed out: the generator goes on
            status, ok = 0, False
        if measured:
            sample = Sample(scheduled, started, time.perf_counter(), status, ok)
            phase.samples.append(sample)

    for n, offset in enumerate(arrivals(rate, warmup + duration, rng, poisson)):
        scheduled = start + offset
        pause = scheduled - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        task = asyncio.create_task(fire(n, scheduled, offset >= warmup))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    phase.wall_s = time.perf_counter() - start
    phase.generator_cpu_s = time.process_time() - cpu_before
    return phase


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def summarize(phase: Phase) -> dict[str, Any]:
    """The figures of one phase. Latencies are over every measured request, failures
    included (a 202 after the reply timeout is latency too); `achieved_per_s` counts the
    successes over the window, stretched to the last success when answers trailed it."""
    samples = phase.samples
    latencies = [s.latency_ms for s in samples]
    lags = [s.lag_ms for s in samples]
    ok = [s for s in samples if s.ok]
    last_ok = max((s.finished for s in ok), default=phase.window_start)
    span = max(phase.duration, last_ok - phase.window_start)
    lag_p99 = percentile(lags, 0.99)
    statuses = Counter(str(s.status) for s in samples)
    return {
        "requests": len(samples),
        "achieved_per_s": round(len(ok) / span, 1),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p90_ms": round(percentile(latencies, 0.9), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=0.0), 2),
        "errors": len(samples) - len(ok),
        "status": dict(sorted(statuses.items())),
        "generator_lag_p99_ms": round(lag_p99, 2),
        "generator_cpu_pct": round(100 * phase.generator_cpu_s / phase.wall_s, 1),
        "generator_lagged": lag_p99 > LAG_LIMIT_MS,
    }
