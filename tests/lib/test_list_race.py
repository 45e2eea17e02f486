"""A list read racing the projector (lib/order_reads.py) on the stack's real MongoDB and
Redis: a projection round that lands in the middle of a read - between the shard's progress
and the MongoDB query - must leave its trades and orders in the answer, not in neither
MongoDB's part nor the Redis part above the progress."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from pymongo import MongoClient

from devstack import Stack
from lib import keys, order_reads
from lib.backends import Backends, _make
from lib.config import load_settings

Doc = dict[str, Any]
STAMP = "2026-11-30T09:30:00.000Z"


@pytest.fixture
def backends(stack: Stack) -> Iterator[Backends]:
    settings = load_settings(
        {
            "SBS_SYMBOLS": "ACME",
            "MONGODB_URI": stack.mongodb_uri,
            "MONGODB_DB": f"t_{uuid.uuid4().hex[:12]}",
            "UPSTASH_REDIS_REST_URL": stack.upstash_url,
            "UPSTASH_REDIS_REST_TOKEN": stack.upstash_token,
        }
    )
    made = _make(settings)
    yield made
    client: MongoClient[Doc] = made.db.client
    client.drop_database(settings.mongodb_db)
    client.close()


def trade(sequence: int) -> Doc:
    return {
        "_id": f"T0-{sequence}",
        "unique_id": f"T0-{sequence}",
        "symbol": "ACME",
        "execution_timestamp": STAMP,
        "price": 100,
        "qty": 1,
        "bid_order_id": "b",
        "ask_order_id": "a",
        "aggressor_side": "buy",
        "sequence": sequence,
    }


def order(order_id: str, account: str, changed_us: int) -> Doc:
    return {
        "_id": order_id,
        "order_id": order_id,
        "account": account,
        "symbol": "ACME",
        "side": "buy",
        "status": "filled",
        "created_at": STAMP,
        "updated_ns": changed_us * 1000,
    }


def project_during_the_read(
    monkeypatch: pytest.MonkeyPatch, backends: Backends, round_: Callable[[], None]
) -> None:
    """The projector's round lands at the moment the read asks for the progress: its
    documents are written and the progress moves past them, as the projector does."""
    real = order_reads._progress
    done: list[bool] = []

    def racing(b: Backends) -> list[Doc]:
        if not done:
            done.append(True)
            round_()
        return real(b)

    monkeypatch.setattr(order_reads, "_progress", racing)


def test_a_round_projected_mid_read_keeps_its_trades_in_the_list(
    backends: Backends, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = redis.Redis.from_url(stack.redis_url)
    direct.delete(keys.recent_trades(0))
    db = backends.db
    db.trades.insert_many([trade(1), trade(2)])
    db.matcher_state.insert_one({"_id": "shard:0", "sequence": 2, "changed_us": 0})
    # Trade 3 is committed: the matcher's cache has it, the projector has not written it.
    direct.zadd(keys.recent_trades(0), {json.dumps(trade(3)): 3})

    def round_() -> None:
        db.trades.insert_one(trade(3))
        db.matcher_state.update_one({"_id": "shard:0"}, {"$set": {"sequence": 3}})

    project_during_the_read(monkeypatch, backends, round_)
    listed = order_reads.list_trades(backends, {"symbol": "ACME"})
    direct.delete(keys.recent_trades(0))
    direct.close()
    assert listed.status == 200, listed.body
    assert sorted(t["sequence"] for t in listed.body["data"]) == [1, 2, 3]


def test_a_round_projected_mid_read_keeps_the_accounts_order_in_the_list(
    backends: Backends, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    direct = redis.Redis.from_url(stack.redis_url)
    db = backends.db
    db.orders.insert_one(order("o1", account, 1_000))
    db.matcher_state.insert_one({"_id": "shard:0", "changed_us": 1_000})
    # Order o2 changed at 1,500 µs: cached in Redis, indexed as recent, not projected yet.
    fresh = order("o2", account, 1_500)
    direct.set(keys.order("o2"), json.dumps(fresh))
    direct.zadd(keys.recent_orders(account), {"o2": 1_500})

    def round_() -> None:  # o2 and other accounts' changes up to 2,000 µs
        db.orders.insert_one(fresh)
        db.matcher_state.update_one({"_id": "shard:0"}, {"$set": {"changed_us": 2_000}})

    project_during_the_read(monkeypatch, backends, round_)
    listed = order_reads.list_orders(backends, account, {})
    direct.delete(keys.order("o2"), keys.recent_orders(account))
    direct.close()
    assert listed.status == 200, listed.body
    assert sorted(o["order_id"] for o in listed.body["data"]) == ["o1", "o2"]
