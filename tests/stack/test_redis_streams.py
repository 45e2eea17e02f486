"""The matcher's side of Redis (TCP, redis-py): streams with consumer groups and blocking reads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as connection:
        yield connection


@pytest.fixture
def stream(client: redis.Redis) -> str:
    name = f"test:commands:{uuid.uuid4().hex[:8]}"
    client.xgroup_create(name, "matcher", id="0", mkstream=True)
    return name


def test_persistence_is_append_only_every_second(client: redis.Redis) -> None:
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}


def test_xreadgroup_block_waits_for_an_entry(client: redis.Redis, stream: str) -> None:
    def produce_later() -> None:
        time.sleep(0.3)
        client.xadd(stream, {"command_id": "c1", "type": "place"})

    producer = threading.Thread(target=produce_later)
    started = time.monotonic()
    producer.start()
    reply = client.xreadgroup("matcher", "m1", {stream: ">"}, count=10, block=5000)
    waited = time.monotonic() - started
    producer.join()
    assert 0.25 <= waited < 4.0  # it blocked, and woke on the entry (not the timeout)
    assert isinstance(reply, list)  # RESP2: [[stream, [(id, fields), ...]], ...]
    [(name, entries)] = reply
    assert name == stream
    assert [fields for _, fields in entries] == [{"command_id": "c1", "type": "place"}]


def test_xreadgroup_block_times_out_empty(client: redis.Redis, stream: str) -> None:
    started = time.monotonic()
    reply = client.xreadgroup("matcher", "m1", {stream: ">"}, block=200)
    assert not reply
    assert time.monotonic() - started >= 0.15


def test_xack_clears_the_pending_entry(client: redis.Redis, stream: str) -> None:
    ids = [client.xadd(stream, {"n": str(n)}) for n in range(3)]
    client.xreadgroup("matcher", "m1", {stream: ">"}, count=10)
    assert client.xpending(stream, "matcher")["pending"] == 3
    assert client.xack(stream, "matcher", ids[0], ids[1]) == 2
    pending = client.xpending_range(stream, "matcher", min="-", max="+", count=10)
    assert [entry["message_id"] for entry in pending] == [ids[2]]


def test_xautoclaim_hands_a_stale_entry_to_another_consumer(
    client: redis.Redis, stream: str
) -> None:
    entry_id = client.xadd(stream, {"command_id": "c9"})
    client.xreadgroup("matcher", "crashed", {stream: ">"}, count=1)  # read, never acked
    time.sleep(0.1)
    next_start, claimed, deleted = client.xautoclaim(
        stream, "matcher", "standby", min_idle_time=50, start_id="0-0"
    )
    assert [(entry, fields) for entry, fields in claimed] == [(entry_id, {"command_id": "c9"})]
    assert next_start == "0-0" and deleted == []
    [pending] = client.xpending_range(stream, "matcher", min="-", max="+", count=10)
    assert pending["consumer"] == "standby"
    assert pending["times_delivered"] == 2
