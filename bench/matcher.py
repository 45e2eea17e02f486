"""Matcher service benchmark: the real matcher process, with full persistence.

    python -m bench.matcher --json                  # both modes on a throwaway local stack
    python -m bench.matcher --mode drain --commands 50000

drain:  N commands are preloaded into the shard's stream, then the matcher is started; the
        clock runs from the moment it leads to the moment the last reply exists. Batch size
        and commit latency come from the matcher's own /metrics.
steady: commands are enqueued at a fixed rate (default 1,000/s) and each one's latency is
        enqueue -> reply visible in Redis (polled every millisecond), what an API function
        waiting for the reply sees; `projected_after_last_reply_s` is how long after the
        last reply MongoDB's orders and trades held every command.

The stack comes from REDIS_URL / MONGODB_URI when set, else a throwaway one is started
(FerretDB on SQLite unless a mongod is on PATH). Each run uses a fresh database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymongo
import redis

from bench.calibration import calibration_msgs_per_s
from bench.command_stream import CommandSource
from devstack import ManagedProcess, free_port, start_stack
from lib import keys, queue
from matcher.service.store import journal_db_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Matcher:
    def __init__(self, env: dict[str, str], log_dir: Path, max_batch: int) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "matcher", "--port", str(self.port),
                "--max-batch", str(max_batch)]  # fmt: skip
        self.process = ManagedProcess(
            "matcher", argv, log_path=log_dir / "matcher.log", ready=self._up, env=env,
            cwd=PROJECT_ROOT,
        )  # fmt: skip

    def _get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())

    def _up(self) -> bool:
        try:
            self._get("/health")
        except OSError:
            return False
        return True

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = json.loads(self._get("/health"))
        return health

    def wait_projected(self) -> None:
        """Until the orders/trades projections have caught up with every committed batch."""
        while (health := self.health())["projected_batch"] != health["last_batch"]:
            time.sleep(0.001)

    def role(self) -> str:
        return str(self.health()["role"])

    def metric(self, name: str, **labels: str) -> float:
        """One sample of shard 0's /metrics: metric("sbs_matcher_batch_size", quantile="0.5")."""
        series = (
            name + "{" + ",".join(['shard="0"', *(f'{k}="{v}"' for k, v in labels.items())]) + "}"
        )
        for line in self._get("/metrics").decode().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return float("nan")


@contextmanager
def environment(base: Path) -> Iterator[dict[str, str]]:
    with start_stack(base / "stack") as stack:
        yield {
            **os.environ,
            **stack.env(),
            "MONGODB_DB": f"bench_{uuid.uuid4().hex[:8]}",
            "SBS_SYMBOLS": "ACME,GLOBEX",
            "SBS_SHARDS": "1",
        }


def stage_seconds(matcher: Matcher) -> dict[str, float]:
    """Where the loop's time went, summed over the run: apply (engine + documents), journal
    insert (the commit point), publish (the Redis script: caches, replies; XACK) and
    projection_wait (back-pressure from a full projector backlog)."""
    return {
        stage: round(matcher.metric("sbs_matcher_stage_seconds_total", stage=stage), 3)
        for stage in ("apply", "journal", "publish", "projection_wait")
    }


def wait_for_reply(client: redis.Redis, command_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.get(keys.reply(command_id)) is None:  # the stream is applied in order
        if time.monotonic() > deadline:
            raise SystemExit(f"no reply for {command_id} within {timeout:.0f}s")
        time.sleep(0.001)


def drain(env: dict[str, str], log_dir: Path, commands: int, max_batch: int) -> dict[str, Any]:
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    source = CommandSource(seed=1)
    for start in range(0, commands, 5000):
        pipe = client.pipeline(transaction=False)
        for command in source.take(min(5000, commands - start)):
            queue.enqueue(pipe, command, 1)
        pipe.execute()
    matcher = Matcher(env, log_dir, max_batch)
    matcher.process.start()
    try:
        while matcher.role() != "leader":
            time.sleep(0.001)
        started = time.perf_counter()
        wait_for_reply(client, f"cmd-{commands}", timeout=1800)
        took = time.perf_counter() - started
        matcher.wait_projected()
        projected = time.perf_counter() - started

        def commit(q: str) -> float:
            return matcher.metric("sbs_matcher_commit_seconds", quantile=q)

        return {
            "mode": "drain",
            "commands": commands,
            "seconds": round(took, 3),
            "commands_per_s": round(commands / took),
            # ... and until the orders/trades projections had caught up as well.
            "projected_seconds": round(projected, 3),
            "projected_commands_per_s": round(commands / projected),
            "batch_p50": matcher.metric("sbs_matcher_batch_size", quantile="0.5"),
            "commit_p50_ms": round(commit("0.5") * 1e3, 2),
            "commit_p99_ms": round(commit("0.99") * 1e3, 2),
            # The projector thread's own total runs beside the loop's stages.
            "stage_seconds": stage_seconds(matcher),
            "projector_seconds": round(matcher.metric("sbs_matcher_projection_seconds_total"), 3),
        }
    finally:
        matcher.process.stop()


def steady(
    env: dict[str, str], log_dir: Path, rate: int, seconds: float, max_batch: int
) -> dict[str, Any]:
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    source = CommandSource(seed=2)
    matcher = Matcher(env, log_dir, max_batch)
    matcher.process.start()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    last_reply = 0.0

    def poll() -> None:
        nonlocal last_reply
        poller = redis.Redis.from_url(env["REDIS_URL"])
        while not done.is_set() or sent:
            outstanding = list(sent)
            if outstanding:
                values = poller.mget([keys.reply(i) for i in outstanding])
                now = time.perf_counter()
                for command_id, value in zip(outstanding, values, strict=True):
                    if value is not None:
                        latencies.append((now - sent.pop(command_id)) * 1000)
                        last_reply = now
            time.sleep(0.001)

    try:
        while matcher.role() != "leader":
            time.sleep(0.01)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        total = int(rate * seconds)
        commands = [source.next() for _ in range(total)]  # built before the clock
        started = time.perf_counter()
        n = 0
        while n < total:
            # Open loop: whatever is due goes out in one pipeline, and a command's latency
            # counts from when it was due, so a late generator shows in the figures
            # instead of slowing the load (one XADD at a time from Python managed ~2,800/s).
            now = time.perf_counter()
            due = min(total, int((now - started) * rate) + 1)
            if due > n:
                with client.pipeline(transaction=False) as pipe:
                    for k in range(n, due):
                        sent[commands[k].command_id] = started + k / rate
                        queue.enqueue(pipe, commands[k], 1)
                    pipe.execute()
                n = due
            else:
                time.sleep(min(0.001, started + n / rate - now))
        done.set()
        poller.join(timeout=60)
        achieved = total / (time.perf_counter() - started)
        backlog = matcher.metric("sbs_matcher_projection_backlog")
        matcher.wait_projected()
        caught_up = time.perf_counter() - last_reply
        return {
            "mode": "steady",
            "rate_per_s": rate,
            "commands": total,
            "achieved_rate_per_s": round(achieved),
            "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies, default=0.0), 2),
            "batch_p50": matcher.metric("sbs_matcher_batch_size", quantile="0.5"),
            "commit_p99_ms": round(
                matcher.metric("sbs_matcher_commit_seconds", quantile="0.99") * 1e3, 2
            ),
            "projection_backlog_end": backlog,
            # From the last reply until MongoDB's orders/trades hold every command.
            "projected_after_last_reply_s": round(caught_up, 3),
            "stage_seconds": stage_seconds(matcher),
        }
    finally:
        done.set()
        matcher.process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("drain", "steady", "both"), default="both")
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-matcher-") as tmp, environment(Path(tmp)) as env:
        results = []
        if args.mode in ("drain", "both"):
            results.append(drain(env, Path(tmp), args.commands, args.max_batch))
        if args.mode in ("steady", "both"):
            results.append(steady(env, Path(tmp), args.rate, args.seconds, args.max_batch))
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(env["MONGODB_URI"])
        server = "mongod/Atlas" if "MONGODB_URI" in os.environ else "local stack"
        client.drop_database(env["MONGODB_DB"])
        client.drop_database(journal_db_name(env["MONGODB_DB"]))
    # After the runs, on the idle machine: the same conditions as the figures beside it.
    calibration = calibration_msgs_per_s()
    for result in results:
        result["machine"] = f"{platform.machine()} {os.cpu_count()} cpu, {server}"
        result["calibration_msgs_per_s"] = calibration
        print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
