"""Place, modify and cancel through the queue: MongoDB documents, Redis cache and replies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Literal

import pytest
import upstash_redis

from lib import keys, queue
from lib.commands import CancelCommand, ModifyCommand, PlaceCommand
from tests.service.harness import MatcherProcess, ServiceEnv, produce, wait_replies

T0 = 1_795_000_000_000


def place(
    n: int,
    account: str,
    side: Literal["buy", "sell"],
    price: str | None,
    quantity: int,
    order_type: Literal["limit", "market"] = "limit",
) -> PlaceCommand:
    return PlaceCommand(
        command_id=f"p{n}", account=account, order_id=f"o{n}", symbol="ACME",
        received_at=T0, side=side, price=price, quantity=quantity, order_type=order_type,
    )  # fmt: skip


@pytest.fixture
def matcher(service_env: ServiceEnv) -> Iterator[MatcherProcess]:
    process = service_env.matcher().start()
    process.wait_role("leader")
    yield process
    process.terminate()


def test_place_rest_then_trade_at_the_makers_price(
    service_env: ServiceEnv, matcher: MatcherProcess
) -> None:
    client = service_env.redis()
    produce(client, [place(1, "alice", "sell", "101.25", 100), place(2, "bob", "buy", "102", 40)])
    replies = wait_replies(client, ["p1", "p2"])

    assert replies["p1"]["success"] is True
    assert replies["p1"]["order"]["status"] == "open"
    taker = replies["p2"]["order"]
    assert (taker["status"], taker["traded_quantity"], taker["remaining_quantity"]) == (
        "filled", 40, 0,
    )  # fmt: skip
    assert taker["average_traded_price"] == 101.25  # the maker's price, not 102
    assert "account" in taker and "priority" not in taker and "_id" not in taker

    matcher.wait_projected()
    db = service_env.db()
    maker_doc = db.open_orders.find_one({"_id": "o1"})
    assert maker_doc is not None
    assert db.orders.find_one({"_id": "o1"}) is None  # live: not in the history yet
    assert (maker_doc["status"], maker_doc["traded_quantity"], maker_doc["remaining_quantity"]) == (
        "partially_filled", 40, 60,
    )  # fmt: skip
    assert maker_doc["order_alive"] is True
    (trade,) = list(db.trades.find())
    assert (trade["price"], trade["qty"], trade["bid_order_id"], trade["ask_order_id"]) == (
        101.25, 40, "o2", "o1",
    )  # fmt: skip
    assert trade["aggressor_side"] == "buy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", trade["execution_timestamp"])

    cached = queue.cached_order(client, "o1")
    assert cached is not None and cached["remaining_quantity"] == 60
    depth = queue.cached_depth(client, "ACME")
    assert depth is not None
    assert depth["asks"] == [{"price": 101.25, "quantity": 60}] and depth["bids"] == []


def test_modify_and_cancel(service_env: ServiceEnv, matcher: MatcherProcess) -> None:
    client = service_env.redis()
    produce(client, [place(1, "alice", "buy", "99.50", 10)])
    wait_replies(client, ["p1"])
    produce(client, [
        ModifyCommand(command_id="m1", account="alice", order_id="o1", symbol="ACME",
                      received_at=T0, price="99.75", quantity=12),
        CancelCommand(command_id="x1", account="mallory", order_id="o1", symbol="ACME",
                      received_at=T0),
    ])  # fmt: skip
    replies = wait_replies(client, ["m1", "x1"])
    assert replies["m1"]["order"]["order_price"] == 99.75
    assert replies["m1"]["order"]["order_quantity"] == 12
    # Another account's order does not exist for it.
    assert replies["x1"]["success"] is False
    assert replies["x1"]["error"]["code"] == "unknown_order"

    produce(client, [CancelCommand(command_id="x2", account="alice", order_id="o1",
                                   symbol="ACME", received_at=T0)])  # fmt: skip
    cancelled = wait_replies(client, ["x2"])["x2"]["order"]
    assert (cancelled["status"], cancelled["cancel_reason"], cancelled["order_alive"]) == (
        "cancelled", "user", False,
    )  # fmt: skip
    matcher.wait_projected()
    doc = service_env.db().orders.find_one({"_id": "o1"})
    assert doc is not None and doc["status"] == "cancelled" and doc["order_price"] == 99.75
    assert service_env.db().open_orders.count_documents({}) == 0
    depth = queue.cached_depth(client, "ACME")
    assert depth is not None and depth["bids"] == []

    produce(client, [CancelCommand(command_id="x3", account="alice", order_id="o1",
                                   symbol="ACME", received_at=T0)])  # fmt: skip
    assert wait_replies(client, ["x3"])["x3"]["error"]["code"] == "order_not_live"


def test_a_command_delivered_twice_is_applied_once(
    service_env: ServiceEnv, matcher: MatcherProcess
) -> None:
    client = service_env.redis()
    buy = place(1, "alice", "buy", "100", 5)
    produce(client, [buy, place(2, "bob", "sell", "100", 5), buy])  # a retried POST
    replies = wait_replies(client, ["p1", "p2"])
    assert replies["p2"]["order"]["status"] == "filled"
    produce(client, [buy])  # and once more, in a later batch
    produce(client, [place(3, "carol", "sell", "100", 1)])
    wait_replies(client, ["p3"])
    # Applied once: one trade, and the second sell found no bid to trade with.
    matcher.wait_projected()
    assert service_env.db().trades.count_documents({}) == 1
    assert wait_replies(client, ["p3"])["p3"]["order"]["status"] == "open"
    assert json.loads(client.get(keys.reply("p1")) or b"{}")["order"]["order_quantity"] == 5
    assert 'sbs_matcher_commands_duplicate_total{shard="0"} 2' in matcher.metrics()


def test_rejections_are_answered_and_recorded(
    service_env: ServiceEnv, matcher: MatcherProcess
) -> None:
    client = service_env.redis()
    produce(client, [place(1, "alice", "buy", "100.005", 5), place(2, "alice", "buy", "100", 5)])
    client.xadd(keys.command_stream(0), {keys.COMMAND_FIELD: '{"command_id":"junk","type":"x"}'})
    produce(client, [place(3, "alice", "sell", None, 5, order_type="market")])
    replies = wait_replies(client, ["p1", "p2", "junk", "p3"])
    assert replies["p1"]["error"]["code"] == "price_off_tick"
    assert replies["p1"]["order"]["status"] == "rejected"
    assert replies["junk"]["error"]["code"] == "invalid_command"
    # The market sell met alice's own bid: self-trade prevention cancelled the resting one.
    assert replies["p3"]["order"]["cancel_reason"] == "no_liquidity"
    matcher.wait_projected()
    resting = service_env.db().orders.find_one({"_id": "o2"})
    assert resting is not None and resting["cancel_reason"] == "self_trade"
    rejected = service_env.db().orders.find_one({"_id": "o1"})
    assert rejected is not None and rejected["status"] == "rejected"


def test_sigterm_exits_zero_and_health_reports_the_leader(
    service_env: ServiceEnv, matcher: MatcherProcess
) -> None:
    health = matcher.health()
    assert health["role"] == "leader" and health["lease_holder"] == health["consumer"]
    metrics = matcher.metrics()
    for name in ("commands_applied_total", "batch_size", "commit_seconds", "stream_lag",
                 "lease_holder"):  # fmt: skip
        assert f"sbs_matcher_{name}" in metrics
    assert matcher.terminate() == 0


def test_enqueue_and_poll_through_the_upstash_sdk(
    service_env: ServiceEnv, matcher: MatcherProcess, upstash_url: str, upstash_token: str
) -> None:
    """The API functions' path: the Upstash REST SDK through the proxy, no blocking reads."""
    sdk = upstash_redis.Redis(url=upstash_url, token=upstash_token)
    queue.enqueue(sdk, place(1, "alice", "sell", "100", 3), shards=1)
    queue.enqueue(sdk, place(2, "bob", "buy", "100", 3), shards=1)
    reply = queue.wait_reply(sdk, "p2", timeout_ms=10_000)
    assert reply is not None and reply["order"]["status"] == "filled"
    cached = queue.cached_order(sdk, "o1")
    assert cached is not None and cached["status"] == "filled"
    assert queue.cached_depth(sdk, "ACME") is not None


def test_collections_and_indexes_exist(service_env: ServiceEnv, matcher: MatcherProcess) -> None:
    db = service_env.db()
    names = set(db.list_collection_names())
    assert {"orders", "open_orders", "trades", "matcher_state", "accounts", "api_keys"} <= names

    def keys_of(collection: str) -> set[tuple[str, ...]]:
        return {tuple(i["key"]) for i in db[collection].list_indexes()}

    # The secondary indexes exist only where the server can use them: test_indexes.py.
    assert ("key_hash",) in keys_of("api_keys")
    assert ("account",) in keys_of("accounts")
