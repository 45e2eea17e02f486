"""The matcher's counters and latency samples, rendered as Prometheus text.

Written by the loop thread, read by the HTTP thread: plain attribute reads and writes of
ints/floats are atomic under the GIL, and a scrape that sees a half-updated batch is
harmless.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

SAMPLES = 2048


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Metrics:
    shard: int
    role: str = "starting"  # starting | standby | recovering | leader | stopping
    commands_applied: int = 0
    commands_duplicate: int = 0
    batches: int = 0
    trades: int = 0
    last_batch: int = 0
    sequence: int = 0
    stream_lag: int = 0
    lease_holder: str = ""
    consumer: str = ""
    retries: int = 0
    started_at: float = field(default_factory=time.time)
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    commit_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    stage_ms: dict[str, float] = field(default_factory=dict)  # cumulative per stage
    projected_batch: int = 0
    projection_backlog: int = 0
    projection_rounds: int = 0
    projection_ms: float = 0.0  # cumulative
    round_batches: deque[int] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def record_batch(self, size: int, commit_ms: float, stages: dict[str, float]) -> None:
        self.batches += 1
        self.batch_sizes.append(size)
        self.commit_ms.append(commit_ms)
        for name, took in stages.items():
            self.stage_ms[name] = self.stage_ms.get(name, 0.0) + took

    def record_projection(self, batches: int, took_ms: float) -> None:
        self.projection_rounds += 1
        self.projection_ms += took_ms
        self.round_batches.append(batches)

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "shard": self.shard,
            "role": self.role,
            "consumer": self.consumer,
            "lease_holder": self.lease_holder,
            "last_batch": self.last_batch,
            "projected_batch": self.projected_batch,
            "sequence": self.sequence,
            "commands_applied": self.commands_applied,
            "stream_lag": self.stream_lag,
            "uptime_s": round(time.time() - self.started_at, 3),
        }

    def prometheus(self) -> str:
        shard = f'shard="{self.shard}"'
        sizes = [float(s) for s in self.batch_sizes]
        commits = list(self.commit_ms)
        lines = [
            "# HELP sbs_matcher_commands_applied_total Commands applied to the engine.",
            "# TYPE sbs_matcher_commands_applied_total counter",
            f"sbs_matcher_commands_applied_total{{{shard}}} {self.commands_applied}",
            "# HELP sbs_matcher_commands_duplicate_total Commands answered from the dedupe memory.",
            "# TYPE sbs_matcher_commands_duplicate_total counter",
            f"sbs_matcher_commands_duplicate_total{{{shard}}} {self.commands_duplicate}",
            "# TYPE sbs_matcher_batches_total counter",
            f"sbs_matcher_batches_total{{{shard}}} {self.batches}",
            "# TYPE sbs_matcher_trades_total counter",
            f"sbs_matcher_trades_total{{{shard}}} {self.trades}",
            "# TYPE sbs_matcher_io_retries_total counter",
            f"sbs_matcher_io_retries_total{{{shard}}} {self.retries}",
            "# HELP sbs_matcher_batch_size Commands per batch (recent batches).",
            "# TYPE sbs_matcher_batch_size summary",
        ]
        lines.extend(
            f'sbs_matcher_batch_size{{{shard},quantile="{q}"}} {percentile(sizes, q)}'
            for q in (0.5, 0.99)
        )
        lines += [
            "# HELP sbs_matcher_commit_seconds Journal insert, the commit point (recent batches).",
            "# TYPE sbs_matcher_commit_seconds summary",
        ]
        for q in (0.5, 0.99):
            value = percentile(commits, q) / 1000
            lines.append(f'sbs_matcher_commit_seconds{{{shard},quantile="{q}"}} {value:.6f}')
        lines += [
            "# TYPE sbs_matcher_stage_seconds_total counter",
            *(
                f'sbs_matcher_stage_seconds_total{{{shard},stage="{name}"}} {ms / 1000:.6f}'
                for name, ms in sorted(self.stage_ms.items())
            ),
            "# HELP sbs_matcher_stream_lag Entries not yet applied (undelivered + pending).",
            "# TYPE sbs_matcher_stream_lag gauge",
            f"sbs_matcher_stream_lag{{{shard}}} {self.stream_lag}",
            "# HELP sbs_matcher_projection_backlog Committed batches not yet in orders/trades.",
            "# TYPE sbs_matcher_projection_backlog gauge",
            f"sbs_matcher_projection_backlog{{{shard}}} {self.projection_backlog}",
            "# TYPE sbs_matcher_projected_batch gauge",
            f"sbs_matcher_projected_batch{{{shard}}} {self.projected_batch}",
            "# TYPE sbs_matcher_projection_rounds_total counter",
            f"sbs_matcher_projection_rounds_total{{{shard}}} {self.projection_rounds}",
            "# TYPE sbs_matcher_projection_seconds_total counter",
            f"sbs_matcher_projection_seconds_total{{{shard}}} {self.projection_ms / 1000:.6f}",
            "# TYPE sbs_matcher_sequence gauge",
            f"sbs_matcher_sequence{{{shard}}} {self.sequence}",
            "# TYPE sbs_matcher_last_batch gauge",
            f"sbs_matcher_last_batch{{{shard}}} {self.last_batch}",
            "# HELP sbs_matcher_lease_holder 1 while this process holds the shard lease.",
            "# TYPE sbs_matcher_lease_holder gauge",
            f'sbs_matcher_lease_holder{{{shard},holder="{self.lease_holder}"}} '
            f"{1 if self.role == 'leader' else 0}",
        ]
        return "\n".join(lines) + "\n"
