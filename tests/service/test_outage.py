"""A database or Redis outage mid-stream: the matcher waits it out, answers nothing it has
not committed, resumes, and loses nothing."""

from __future__ import annotations

import re
import time

from bench.command_stream import CommandSource
from devstack import Stack
from lib import keys
from tests.service.harness import (
    ServiceEnv,
    assert_matches_replay,
    produce,
    replay,
    wait_replies,
)


def replies_written(env: ServiceEnv) -> int:
    return sum(1 for _ in env.redis().scan_iter(keys.reply("*"), count=1000))


def retries(metrics: str) -> int:
    found = re.search(r"sbs_matcher_io_retries_total\{[^}]*\} (\d+)", metrics)
    assert found is not None
    return int(found.group(1))


def test_mongodb_outage(stack: Stack, service_env: ServiceEnv) -> None:
    assert stack.mongodb is not None
    source = CommandSource(seed=11)
    first, second = source.take(1500), source.take(1500)
    client = service_env.redis()
    matcher = service_env.matcher().start()
    try:
        matcher.wait_role("leader")
        raws = produce(client, first)
        time.sleep(0.2)  # stop it while the matcher is still draining the first part
        stack.mongodb.stop()
        try:
            raws += produce(client, second)  # and more arrives during the outage
            time.sleep(1.0)  # a batch committed just before the stop may still publish
            answered = replies_written(service_env)
            time.sleep(3.0)
            assert replies_written(service_env) == answered, "answered without a commit"
            assert answered < len(first) + len(second)
            assert retries(matcher.metrics()) > 0
            assert matcher.health()["role"] == "leader"
        finally:
            stack.mongodb.start()
        wait_replies(client, {c.command_id for c in first + second}, timeout=120)
    finally:
        matcher.terminate()
    assert_matches_replay(service_env, replay(raws))


def test_redis_outage(stack: Stack, service_env: ServiceEnv) -> None:
    assert stack.redis is not None
    source = CommandSource(seed=12)
    first, second = source.take(1500), source.take(1500)
    client = service_env.redis()
    matcher = service_env.matcher().start()
    try:
        matcher.wait_role("leader")
        raws = produce(client, first)
        time.sleep(0.2)  # stop Redis while the matcher is still draining the first part
        stack.redis.stop()
        try:
            time.sleep(4.0)  # longer than the lease: the matcher must recover, not resume
        finally:
            stack.redis.start()
        raws += produce(client, second)
        wait_replies(client, {c.command_id for c in first + second}, timeout=120)
        assert matcher.health()["role"] == "leader"
    finally:
        matcher.terminate()
    assert_matches_replay(service_env, replay(raws))
