"""kill -9 at random moments, recovery included: nothing lost, nothing applied twice."""

from __future__ import annotations

import os
import random
import threading
import time

from bench.command_stream import CommandSource
from tests.service.harness import (
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)

COMMANDS = int(os.environ.get("CRASH_COMMANDS", "20000"))
KILLS = 6
RETRY_SHARE = 0.03  # commands XADDed a second time, as an SDK retry would


def test_sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice(
    service_env: ServiceEnv,
) -> None:
    rnd = random.Random(20261125)
    source = CommandSource(seed=7)
    commands = source.take(COMMANDS)
    stream = []
    for i, command in enumerate(commands):
        stream.append(command)
        if i > 50 and rnd.random() < RETRY_SHARE:
            stream.append(commands[i - rnd.randint(1, 50)])
    client = service_env.redis()
    raws: list[str] = []
    produced = threading.Event()

    def producer() -> None:
        # Steady chunks, so the kills land while commands keep arriving.
        for start in range(0, len(stream), 250):
            raws.extend(produce(client, stream[start : start + 250]))
            time.sleep(0.05)
        produced.set()

    thread = threading.Thread(target=producer, daemon=True)
    matcher = service_env.matcher(lease_ms=1000).start()
    thread.start()
    kills = 0
    try:
        while kills < KILLS or not produced.is_set():
            # Some kills land in the middle of recovery, right after a start.
            time.sleep(rnd.choice((0.05, 0.2, 0.5, 1.0, 2.0)))
            matcher.kill()
            kills += 1
            matcher = service_env.matcher(lease_ms=1000).start()
        thread.join()
        wait_replies(client, {c.command_id for c in stream}, timeout=120)
    finally:
        log = matcher.log()
        matcher.terminate()
    assert kills >= KILLS, log
    assert_matches_replay(service_env, replay(raws))
