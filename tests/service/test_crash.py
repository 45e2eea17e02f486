"""Random faults while commands flow: kill -9 of the leader (some inside recovery), the
leader paused past its lease while a standby takes over, Redis and MongoDB restarts.
Afterwards MongoDB and Redis must equal an uninterrupted in-process replay: nothing lost,
nothing applied twice.

Long mode (docs/MATCHER.md, "Failure model"): `SBS_LONG_FAULTS=1 make pytest` - or
`SBS_LONG_FAULTS=1 .venv/bin/python -m pytest tests/service/test_crash.py -s` - runs
100,000 commands with at least 20 kills, 6 pauses and 3 restarts of each server, and
prints a JSON summary line (commands, faults, lost, doubled, seconds).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import redis

from bench.command_stream import CommandSource
from devstack import Stack
from lib import keys
from lib.commands import QueuedCommand
from tests.service.harness import (
    MatcherProcess,
    Replay,
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    stored,
    wait_replies,
)

LONG = os.environ.get("SBS_LONG_FAULTS") == "1"
COMMANDS = 100_000 if LONG else 20_000
FAULTS = {"kill": 20, "pause": 6, "redis": 3, "mongodb": 3} if LONG else {
    "kill": 6, "pause": 1, "redis": 1, "mongodb": 1,
}  # fmt: skip
RETRY_SHARE = 0.03  # commands XADDed a second time, as an SDK retry would
LEASE_MS = 1000


@dataclass
class Matchers:
    """Two matcher processes on shard 0: whichever holds the lease leads."""

    env: ServiceEnv
    processes: list[MatcherProcess] = field(default_factory=list)
    started: int = 0

    def start(self) -> MatcherProcess:
        self.started += 1
        process = self.env.matcher(f"m{self.started}", LEASE_MS).start()
        self.processes.append(process)
        return process

    def leader(self, timeout: float = 30.0) -> MatcherProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                try:
                    health = process.health()
                except OSError:
                    continue
                if health["role"] == "leader" and health["lease_holder"] == health["consumer"]:
                    return process
            time.sleep(0.02)
        raise AssertionError("no leader: " + "\n".join(p.log() for p in self.processes))

    def kill(self, process: MatcherProcess) -> None:
        process.kill()
        self.processes.remove(process)
        self.start()  # back as the standby

    def pause(self, process: MatcherProcess, seconds: float) -> None:
        pid = process.process.pid
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.killpg(pid, signal.SIGCONT)


def fault_plan(rnd: random.Random) -> list[str]:
    plan = [kind for kind, count in FAULTS.items() for _ in range(count)]
    rnd.shuffle(plan)
    return plan


def test_random_faults_lose_nothing_and_apply_nothing_twice(
    stack: Stack, service_env: ServiceEnv
) -> None:
    assert stack.redis is not None and stack.mongodb is not None
    rnd = random.Random(20261125)
    commands = CommandSource(seed=7).take(COMMANDS)
    stream: list[QueuedCommand] = []
    for i, command in enumerate(commands):
        stream.append(command)
        if i > 50 and rnd.random() < RETRY_SHARE:
            stream.append(commands[i - rnd.randint(1, 50)])
    client = service_env.redis()
    raws: list[str] = []
    produced = threading.Event()

    def producer() -> None:
        # Steady chunks, so the faults land while commands keep arriving; a chunk is
        # re-sent whole while Redis is down (the stream is append-only: XADD is the
        # client's one write, so a re-sent chunk means re-sent commands, as SDK retries).
        for start in range(0, len(stream), 250):
            while True:
                try:
                    raws.extend(produce(client, stream[start : start + 250]))
                    break
                except redis.ConnectionError:
                    time.sleep(0.2)
            time.sleep(0.05)
        produced.set()

    matchers = Matchers(service_env)
    matchers.start()
    matchers.start()
    thread = threading.Thread(target=producer, daemon=True)
    started = time.monotonic()
    thread.start()
    done: dict[str, int] = dict.fromkeys(FAULTS, 0)
    try:
        for kind in fault_plan(rnd):
            # Some faults land in the middle of recovery, right after a takeover.
            time.sleep(rnd.choice((0.05, 0.2, 0.5, 1.0, 2.0)))
            if kind == "kill":
                matchers.kill(matchers.leader())
            elif kind == "pause":
                matchers.pause(matchers.leader(), LEASE_MS / 1000 * rnd.uniform(1.5, 3.0))
            else:
                server = stack.redis if kind == "redis" else stack.mongodb
                server.stop()
                time.sleep(rnd.uniform(0.5, 2.0))
                server.start()
            done[kind] += 1
        thread.join()
        wait_replies(client, {c.command_id for c in stream}, timeout=600)
        matchers.leader().wait_projected(timeout=600)
    finally:
        for process in matchers.processes:
            process.terminate()
    expected = replay(raws)
    lost, doubled = differences(service_env, expected, client)
    summary = {"commands": len(stream), "faults": done, "lost": lost, "doubled": doubled,
               "seconds": round(time.monotonic() - started, 1), "long": LONG}  # fmt: skip
    print("fault run:", json.dumps(summary))
    assert done == FAULTS
    assert (lost, doubled) == (0, 0), summary
    assert_matches_replay(service_env, expected)


def differences(env: ServiceEnv, expected: Replay, client: redis.Redis) -> tuple[int, int]:
    """Commands without a reply (lost); orders that traded more than in the replay, and
    trades the replay does not have (doubled)."""
    replies = client.mget([keys.reply(i) for i in expected.replies])
    lost = sum(1 for r in replies if r is None)
    orders = stored(env.db())
    overfilled = sum(
        1
        for order_id, doc in orders.items()
        if doc["traded_quantity"] > expected.orders[order_id]["traded_quantity"]
    )
    extra_trades = env.db().trades.count_documents({"_id": {"$nin": list(expected.trades)}})
    return lost, overfilled + extra_trades
