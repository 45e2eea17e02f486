"""lib.queue.wait_reply against the real Valkey: the reply is found, soon after it is
written, with few looks once the process has learnt how long the matcher takes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from lib import keys, queue


class CountingRedis(redis.Redis):
    """A real redis-py client that counts the commands it sends (each a look, here)."""

    sent = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent += 1
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@pytest.fixture
def client(redis_url: str) -> Iterator[CountingRedis]:
    with CountingRedis.from_url(redis_url) as connection:
        yield connection


def _reply_later(redis_url: str, command_id: str, after_s: float) -> threading.Thread:
    def write() -> None:
        time.sleep(after_s)
        with redis.Redis.from_url(redis_url) as writer:
            writer.set(keys.reply(command_id), b'{"success": true}', ex=60)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_reply_already_there_takes_one_look(client: CountingRedis) -> None:
    command_id = uuid.uuid4().hex
    client.set(keys.reply(command_id), b'{"success": true}', ex=60)
    client.sent = 0
    assert queue.wait_reply(client, command_id, 1000, queue.ReplyDelay()) == {"success": True}
    assert client.sent == 1


def test_no_reply_gives_none_at_the_timeout_and_teaches_nothing(client: CountingRedis) -> None:
    delay = queue.ReplyDelay()
    before = delay.expected_s
    started = time.monotonic()
    assert queue.wait_reply(client, uuid.uuid4().hex, 200, delay) is None
    waited = time.monotonic() - started
    assert 0.2 <= waited < 0.35
    assert delay.expected_s == before


def test_the_looks_settle_near_the_matchers_delay(client: CountingRedis, redis_url: str) -> None:
    """A matcher answering after 40 ms: a fixed schedule from 3 ms looks 6 times; once the
    delay is learnt, a reply takes about two looks and is still found within a few ms."""
    delay = queue.ReplyDelay()
    matcher_s = 0.040
    looks: list[int] = []
    lateness_s: list[float] = []
    for _ in range(25):
        command_id = uuid.uuid4().hex
        client.sent = 0
        started = time.monotonic()
        writer = _reply_later(redis_url, command_id, matcher_s)
        reply = queue.wait_reply(client, command_id, 2000, delay)
        found_s = time.monotonic() - started
        writer.join()
        assert reply == {"success": True}
        looks.append(client.sent)
        lateness_s.append(found_s - matcher_s)
    learnt = looks[10:]
    assert sum(learnt) / len(learnt) <= 3.0, looks
    assert looks[0] >= 5, looks  # the first, unlearnt, wait looked on the early schedule
    assert 0.025 <= delay.expected_s <= 0.080
    # Found soon after it was written: a look at most one short pause after the reply.
    assert sorted(lateness_s[10:])[len(learnt) // 2] < 0.015, lateness_s


def test_after_a_backlog_the_looks_are_prompt_again_within_a_few_commands(
    client: CountingRedis, redis_url: str
) -> None:
    """A process that last waited a second (the matcher had a backlog) looks first at
    200 ms at most, and learns within a few commands that replies are quick again."""
    delay = queue.ReplyDelay()
    delay.expected_s = 1.0
    waits: list[float] = []
    for _ in range(10):
        command_id = uuid.uuid4().hex
        started = time.monotonic()
        writer = _reply_later(redis_url, command_id, 0.010)
        assert queue.wait_reply(client, command_id, 2000, delay) is not None
        waits.append(time.monotonic() - started)
        writer.join()
    assert waits[0] <= queue.FIRST_LOOK_MAX_S + 0.05
    assert max(waits[6:]) < 0.040, waits
