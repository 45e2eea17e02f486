"""lib.ratelimit through both clients the project uses, against the test stack's Valkey:
redis-py over TCP, and the production Upstash SDK through the Upstash-REST proxy.

What must hold: a burst is allowed and then refused with a usable Retry-After, tokens come
back with time (the server's time), keys do not share buckets, idle buckets expire, and
concurrent callers can never spend more than burst + rate x elapsed between them.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis

from lib.keys import rate_key
from lib.ratelimit import SCRIPT_SHA, Decision, allow

T0 = 1_700_000_000_000  # a fixed "now" (ms) for the deterministic tests


@pytest.fixture
def key_id() -> str:
    return uuid.uuid4().hex[:8]


def test_the_key_name() -> None:
    assert rate_key("0badf00d") == "sbs:rate:0badf00d"


def test_a_burst_is_allowed_then_refused_until_a_token_refills(client: Any, key_id: str) -> None:
    decisions = [allow(client, key_id, 1, 3, now_ms=T0) for _ in range(3)]
    assert decisions == [Decision(True, 0)] * 3
    assert allow(client, key_id, 1, 3, now_ms=T0) == Decision(False, 1)
    assert allow(client, key_id, 1, 3, now_ms=T0 + 999) == Decision(False, 1)  # 0.999 token
    assert allow(client, key_id, 1, 3, now_ms=T0 + 1000) == Decision(True, 0)
    assert allow(client, key_id, 1, 3, now_ms=T0 + 1000) == Decision(False, 1)
    # A long pause refills up to the burst, never beyond it.
    later = T0 + 3_600_000
    assert [allow(client, key_id, 1, 3, now_ms=later).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_retry_after_is_whole_seconds_rounded_up(client: Any, key_id: str) -> None:
    slow = f"{key_id}-slow"
    assert allow(client, slow, 0.25, 1, now_ms=T0).allowed
    assert allow(client, slow, 0.25, 1, now_ms=T0) == Decision(False, 4)
    assert allow(client, slow, 0.25, 1, now_ms=T0 + 1500) == Decision(False, 3)  # 2.5 s left
    assert allow(client, slow, 0.25, 1, now_ms=T0 + 4000).allowed
    fast = f"{key_id}-fast"
    assert allow(client, fast, 50, 1, now_ms=T0).allowed
    assert allow(client, fast, 50, 1, now_ms=T0) == Decision(False, 1)  # 20 ms -> at least 1
    assert allow(client, fast, 50, 1, now_ms=T0 + 20).allowed


def test_a_clock_going_backwards_refills_nothing(client: Any, key_id: str) -> None:
    assert allow(client, key_id, 1, 1, now_ms=T0 + 5000).allowed
    assert not allow(client, key_id, 1, 1, now_ms=T0).allowed  # earlier: no refill
    assert not allow(client, key_id, 1, 1, now_ms=T0 + 5999).allowed
    assert allow(client, key_id, 1, 1, now_ms=T0 + 6000).allowed


def test_refill_on_the_servers_clock(client: Any, key_id: str) -> None:
    rate, burst = 2.0, 3
    assert [allow(client, key_id, rate, burst).allowed for _ in range(3)] == [True] * 3
    refused = allow(client, key_id, rate, burst)
    assert refused == Decision(False, 1)
    time.sleep(0.6)  # > 1 / rate: one token back
    assert allow(client, key_id, rate, burst).allowed
    assert not allow(client, key_id, rate, burst).allowed


def test_the_bucket_uses_redis_time_and_expires_when_idle(
    client: Any, key_id: str, direct: redis.Redis
) -> None:
    seconds, micros = direct.time()
    before = seconds * 1000 + micros // 1000
    assert allow(client, key_id, 100, 5).allowed
    seconds, micros = direct.time()
    after = seconds * 1000 + micros // 1000
    state = direct.hgetall(rate_key(key_id))
    assert before <= float(state["ts"]) <= after  # the server's clock, in ms
    assert float(state["tokens"]) == 4
    # Full again after 1 token / 100 per s = 10 ms; the key lives that long plus a second.
    assert 0 < direct.pttl(rate_key(key_id)) <= 1010


def test_keys_are_independent(client: Any, key_id: str) -> None:
    first, second = f"{key_id}-a", f"{key_id}-b"
    assert allow(client, first, 0.1, 2, now_ms=T0).allowed
    assert allow(client, first, 0.1, 2, now_ms=T0).allowed
    assert not allow(client, first, 0.1, 2, now_ms=T0).allowed
    assert allow(client, second, 0.1, 2, now_ms=T0).allowed
    assert allow(client, second, 0.1, 2, now_ms=T0).allowed
    assert not allow(client, first, 0.1, 2, now_ms=T0).allowed


def test_a_flushed_script_cache_is_reloaded(client: Any, key_id: str, direct: redis.Redis) -> None:
    direct.script_flush()
    assert direct.script_exists(SCRIPT_SHA) == [False]
    assert allow(client, key_id, 1, 1).allowed  # EVALSHA -> NOSCRIPT -> EVAL
    assert direct.script_exists(SCRIPT_SHA) == [True]
    assert not allow(client, key_id, 1, 1).allowed  # EVALSHA now


@pytest.mark.parametrize(
    ("rate", "burst", "key"),
    [(0, 1, "k"), (-1, 1, "k"), (float("nan"), 1, "k"), (float("inf"), 1, "k"), (1, 0, "k"),
     (1, 1, ""), (1, 1, "k" * 129)],
)  # fmt: skip
def test_nonsense_limits_are_refused(client: Any, rate: float, burst: int, key: str) -> None:
    with pytest.raises(ValueError, match="must"):
        allow(client, key, rate, burst)


def test_concurrent_callers_never_exceed_the_bucket(client: Any, key_id: str) -> None:
    """The atomicity: 8 threads hammering one key for 1.5 s get burst + rate x elapsed at
    most (a read-then-write outside one script would hand the same token out twice)."""
    rate, burst, threads, duration = 20.0, 10, 8, 1.5
    allowed = 0
    calls = 0
    lock = threading.Lock()
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def hammer() -> None:
        nonlocal allowed, calls
        try:
            start.wait()
            deadline = time.monotonic() + duration
            mine = total = 0
            while time.monotonic() < deadline:
                mine += allow(client, key_id, rate, burst).allowed
                total += 1
            with lock:
                allowed += mine
                calls += total
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    assert errors == []
    assert calls > 2 * (burst + rate * elapsed), "too few calls to test anything"
    # Server times fall inside the client's window; +1 covers TIME's ms truncation.
    assert allowed <= burst + rate * elapsed + 1, (allowed, calls, elapsed)
    assert allowed >= burst + rate * duration * 0.5, (allowed, calls, elapsed)
