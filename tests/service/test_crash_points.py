"""The matcher dies at every named point of its commit path, recovery included, and the
state afterwards equals an uninterrupted replay: zero lost, zero doubled.

Random kill -9 (test_crash.py) rarely lands in a window a few milliseconds wide; these
crashes are aimed. The workload reaches what the durability findings needed: many small
batches in flight (--max-batch), orders placed in one batch and ended in a later one,
SDK-style re-sent commands, and entries pending for the dead consumer at every restart.
"""

from __future__ import annotations

import random
import time

import pytest

from bench.command_stream import CommandSource
from devstack.process import ServiceError
from lib.commands import QueuedCommand
from matcher.service.faults import CRASH_EXIT_CODE
from tests.service.harness import (
    MatcherProcess,
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)

LEASE_MS = 1000
COMMANDS = 1500
ARGS = ("--max-batch", "40")

# point -> the occurrence to die at: mid-stream for the per-batch points; the second round
# for projection points (a round gathers about a second of batches).
SERVING = {
    "apply": 6,
    "journal": 6,
    "publish": 6,
    "projection.trades": 2,
    "projection.history": 2,
    "projection.open_new": 2,
    "projection.open_delete": 2,
    "projection.open_insert": 2,
    "progress.before": 2,
    "progress.after": 2,
}
# Recovery has something to redo and republish only after a crash that left committed,
# unprojected batches: the first run dies at `projection.open_new`, the second in recovery.
RECOVERY = ("recovery.redo", "recovery.republish")


def workload(seed: int) -> list[QueuedCommand]:
    rnd = random.Random(seed)
    commands = CommandSource(seed=seed).take(COMMANDS)
    stream: list[QueuedCommand] = []
    for i, command in enumerate(commands):
        stream.append(command)
        if i > 20 and rnd.random() < 0.03:  # an SDK retry of a recent command
            stream.append(commands[i - rnd.randint(1, 20)])
    return stream


def wait_exit(matcher: MatcherProcess, timeout: float = 60.0) -> int | None:
    deadline = time.monotonic() + timeout
    while matcher.process.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not matcher.process.running, f"never reached its crash point:\n{matcher.log()}"
    return matcher.process.stop()


def start_to_crash(matcher: MatcherProcess) -> None:
    """Start a matcher that may reach its crash point before it answers /health."""
    try:
        matcher.start()
    except ServiceError as exc:
        assert f"exited with status {CRASH_EXIT_CODE}" in str(exc), exc


def run_with_crashes(env: ServiceEnv, crashes: list[str], seed: int) -> None:
    """Start a matcher per crash point in turn (each must die there), then a plain one
    that finishes; produce the stream in chunks meanwhile."""
    client = env.redis()
    stream = workload(seed)
    raws: list[str] = []
    chunks = [stream[i : i + 100] for i in range(0, len(stream), 100)]
    for number, crash in enumerate(crashes):
        matcher = env.matcher(f"m{number}", LEASE_MS, args=ARGS, SBS_CRASH_AT=crash)
        start_to_crash(matcher)
        while matcher.process.running and chunks:
            raws += produce(client, chunks.pop(0))
            time.sleep(0.1)
        assert wait_exit(matcher) in (CRASH_EXIT_CODE, None), matcher.log()
        assert f"fault point {crash}: exiting" in matcher.log(), matcher.log()
    final = env.matcher("final", LEASE_MS, args=ARGS).start()
    try:
        for chunk in chunks:
            raws += produce(client, chunk)
        wait_replies(client, {c.command_id for c in stream}, timeout=120)
        final.wait_projected(timeout=60)
    finally:
        final.terminate()
    assert_matches_replay(env, replay(raws))


@pytest.mark.parametrize("point", list(SERVING))
def test_crash_while_serving(service_env: ServiceEnv, point: str) -> None:
    run_with_crashes(service_env, [f"{point}:{SERVING[point]}"], seed=len(point))


@pytest.mark.parametrize("point", RECOVERY)
def test_crash_inside_recovery(service_env: ServiceEnv, point: str) -> None:
    run_with_crashes(service_env, ["projection.open_new:2", f"{point}:1"], seed=len(point))
