"""The hub's outbox: a matcher's committed events leave in commit order, a batch counts as
sent only once Redis took it, and a hub that cannot send says so instead of letting the
matcher move its progress past events nobody heard (matcher/service/realtime.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
import redis

from lib.config import load_settings
from matcher.realtime import hub as hub_module
from matcher.realtime.hub import CHANNEL, Event, MarketDataHub, events_of
from matcher.service.realtime import wait_emitted
from matcher.service.retry import GaveUpError

BATCHES, TRADES_PER_BATCH = 200, 5


def trade(sequence: int) -> dict[str, Any]:
    return {
        "unique_id": f"t{sequence}",
        "symbol": "ACME",
        "execution_timestamp": "2026-11-30T09:30:00.000Z",
        "price": 100,
        "qty": 1,
        "bid_order_id": "b",
        "ask_order_id": "a",
        "aggressor_side": "buy",
        "sequence": sequence,
        "internal": "not for clients",
    }


def emitting_hub(redis_url: str) -> Iterator[MarketDataHub]:
    """An emitter-only hub (as a matcher of a sharded deployment runs one) on a loop of
    its own thread, as the matcher's HTTP server runs it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    hub = MarketDataHub.emitter_only(load_settings({"SBS_SYMBOLS": "ACME"}), redis_url)
    hub.bind(loop)
    try:
        yield hub
    finally:
        asyncio.run_coroutine_threadsafe(hub.aclose(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture
def hub(redis_url: str) -> Iterator[MarketDataHub]:
    yield from emitting_hub(redis_url)


def test_events_leave_in_commit_order_and_a_batch_is_sent_once_redis_took_it(
    hub: MarketDataHub, redis_url: str
) -> None:
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    listener.subscribe(CHANNEL)
    time.sleep(0.2)  # the subscription is in place before anything is published
    futures: list[Future[None] | None] = []
    for batch in range(BATCHES):  # as fast as a committer hands them over
        first = batch * TRADES_PER_BATCH + 1
        trades = [trade(n) for n in range(first, first + TRADES_PER_BATCH)]
        futures.append(hub.publish(trades, {}, [{"account": "alice", "order_id": f"o{batch}"}]))
    wait_emitted(futures, lambda: True)
    assert all(future is not None and future.done() for future in futures)

    heard: list[Event] = []
    messages = 0
    deadline = time.monotonic() + 10
    while len(heard) < BATCHES * (TRADES_PER_BATCH + 1) and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)
        if message is not None:
            decoded = json.loads(message["data"])
            if decoded["host_id"] == hub.sio.manager.host_id:
                heard += events_of(decoded)
                messages += 1
    listener.close()
    # A message carries a round of batches (at least one), not one event each.
    assert messages <= BATCHES
    trades_heard = [data for event, data, _ in heard if event == "trade"]
    assert [t["sequence"] for t in trades_heard] == list(range(1, BATCHES * TRADES_PER_BATCH + 1))
    assert all("internal" not in t for t in trades_heard)  # the public trade object only
    assert {room for event, _, room in heard if event == "trade"} == {"trades:ACME"}
    orders = [(data, room) for event, data, room in heard if event == "order"]
    assert [data["order_id"] for data, _ in orders] == [f"o{b}" for b in range(BATCHES)]
    assert all(room == "orders:alice" and "account" not in data for data, room in orders)
    # Each batch's order event follows its own trades: the stream is the commit order.
    assert heard[TRADES_PER_BATCH][0] == "order"


def test_a_hub_that_cannot_reach_redis_fails_the_batch_and_the_wait_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "PUBLISH_GIVE_UP_S", 0.5)
    for hub in emitting_hub("redis://127.0.0.1:1"):  # nothing listens on port 1
        sent = hub.publish([trade(1)], {})
        assert sent is not None
        with pytest.raises(redis.exceptions.ConnectionError):
            sent.result(timeout=10)
        with pytest.raises(GaveUpError, match="not sent"):
            wait_emitted([sent], lambda: True)


def test_the_wait_has_no_deadline_but_stops_when_the_shard_is_no_longer_led() -> None:
    slow: Future[None] = Future()
    threading.Timer(0.6, slow.set_result, [None]).start()
    wait_emitted([slow], lambda: True)  # as long as it takes, while leading
    assert slow.done()

    never: Future[None] = Future()
    stepped_down_at = time.monotonic() + 0.4
    started = time.monotonic()
    with pytest.raises(GaveUpError, match="stepping down"):
        wait_emitted([never], lambda: time.monotonic() < stepped_down_at)
    assert time.monotonic() - started < 2  # it notices within a poll, not after a timeout
