"""What the matcher-service tests share: a seeded command stream, a producer, the matcher
as a real process, and the in-process replay the persisted state is compared with.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import redis
from pymongo.database import Database

from devstack import ManagedProcess, free_port
from lib import keys, queue
from lib.commands import QueuedCommand, dump_command
from lib.config import load_settings
from matcher.service.batch import Entry
from matcher.service.documents import public_order
from matcher.service.recovery import new_state

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = "ACME,GLOBEX"
Doc = dict[str, Any]


@dataclass
class ServiceEnv:
    """Where one test's matcher runs: the stack's servers, a database of the test's own."""

    redis_url: str
    mongodb_uri: str
    db_name: str
    log_dir: Path

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "MONGODB_URI": self.mongodb_uri,
            "MONGODB_DB": self.db_name,
            "SBS_SYMBOLS": SYMBOLS,
            "SBS_SHARDS": "1",
            **extra,
        }

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def db(self) -> Database[Doc]:
        client: pymongo.MongoClient[Doc] = pymongo.MongoClient(self.mongodb_uri)
        return client[self.db_name]

    def matcher(
        self,
        name: str = "matcher",
        lease_ms: int = 3000,
        shard: int = 0,
        args: tuple[str, ...] = (),
        **environ: str,
    ) -> MatcherProcess:
        """`args`: more command-line options; `environ`: variables to add or override
        (REDIS_URL through a fault proxy, SBS_CRASH_AT, ...)."""
        return MatcherProcess(self, name, lease_ms, shard, environ, args)


class MatcherProcess:
    """`python -m matcher` as a child process with its HTTP port; ready when /health answers."""

    def __init__(
        self,
        env: ServiceEnv,
        name: str,
        lease_ms: int,
        shard: int,
        environ: dict[str, str],
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "matcher", "--port", str(self.port),
                "--lease-ms", str(lease_ms), "--shard", str(shard), *args]  # fmt: skip
        self.process = ManagedProcess(
            name, argv, log_path=env.log_dir / f"{name}.log", ready=self._answers,
            env=env.environ(**environ), cwd=PROJECT_ROOT,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            self.health()
        except OSError:
            return False
        return True

    def health(self) -> Doc:
        url = f"http://127.0.0.1:{self.port}/health"
        with urllib.request.urlopen(url, timeout=2) as response:
            health: Doc = json.load(response)
        return health

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())

    def start(self) -> MatcherProcess:
        self.process.start()
        return self

    def wait_role(self, role: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health()["role"] == role:
                return
            time.sleep(0.02)
        raise AssertionError(f"{self.process.name} never became {role}: {self.health()}")

    def wait_projected(self, timeout: float = 30.0) -> None:
        """Until this process leads and its projections have caught up with every committed
        batch (a standby's counters are both zero: that is not caught up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health["role"] == "leader" and health["projected_batch"] == health["last_batch"]:
                return
            time.sleep(0.01)
        raise AssertionError(f"projections never caught up: {self.health()}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        pid = self.process.pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        self.process.stop()

    def terminate(self) -> int | None:
        return self.process.stop(grace=20)

    def log(self) -> str:
        return self.process.log_tail(60)


def produce(client: redis.Redis, commands: Iterable[QueuedCommand]) -> list[str]:
    """XADD every command in order through lib.queue; returns the raw JSON, in order."""
    pipe = client.pipeline(transaction=False)
    raws = []
    for command in commands:
        queue.enqueue(pipe, command, 1)
        raws.append(dump_command(command))
    pipe.execute()
    return raws


def wait_replies(
    client: redis.Redis, command_ids: Iterable[str], timeout: float = 60.0
) -> dict[str, Doc]:
    """Every reply, once all exist (the reply keys are written after the commit)."""
    ids = list(command_ids)
    deadline = time.monotonic() + timeout
    while True:
        values = client.mget([keys.reply(i) for i in ids])
        if all(v is not None for v in values):
            return {i: json.loads(v or b"") for i, v in zip(ids, values, strict=True)}
        missing = sum(v is None for v in values)
        if time.monotonic() > deadline:
            raise AssertionError(f"{missing} of {len(ids)} commands never got a reply")
        time.sleep(0.05)


# ---------------------------------------------------------------- the replay


@dataclass
class Replay:
    """The same commands applied once each, in stream order, by the service's own pure
    ShardState in this process: what MongoDB and Redis must hold afterwards."""

    orders: dict[str, Doc]  # final state of every order, last state wins
    trades: dict[str, Doc]
    replies: dict[str, Doc]
    open_orders: list[Any]
    sequence: int
    depth: dict[str, Doc]


def replay(raws: list[str], batch_size: int = 500, refused: frozenset[str] = frozenset()) -> Replay:
    """`refused`: command ids the matcher refused as too large to commit."""
    settings = load_settings({"SBS_SYMBOLS": SYMBOLS})
    state = new_state(0, {spec.symbol: spec for spec in settings.symbols})
    orders: dict[str, Doc] = {}
    trades: dict[str, Doc] = {}
    replies: dict[str, Doc] = {}
    for start in range(0, len(raws), batch_size):
        entries = [
            Entry(f"{start + i + 1}-0", raw) for i, raw in enumerate(raws[start:][:batch_size])
        ]
        refuse = frozenset(
            e.stream_id for e in entries if refused and json.loads(e.raw)["command_id"] in refused
        )
        result = state.apply(entries, 1_795_000_000_000_000_000, refuse)
        orders.update(result.orders)
        trades.update({t["_id"]: t for t in result.trades})
        replies.update(result.replies)
    depth = {s: state.depth_snapshot(s, 0) for s in ("ACME", "GLOBEX")}
    return Replay(orders, trades, replies, state.engine.open_orders(), state.engine.sequence, depth)


def stored(db: Database[Doc]) -> dict[str, Doc]:
    """Every order in MongoDB: live ones in `open_orders`, ended ones in `orders`, none in
    both once the projections have caught up."""
    live = {d["_id"]: d for d in db.open_orders.find()}
    ended = {d["_id"]: d for d in db.orders.find()}
    assert not live.keys() & ended.keys()
    assert all(d["order_alive"] for d in live.values())
    assert not any(d["order_alive"] for d in ended.values())
    return live | ended


# Fields that depend on when a batch ran, not on what it did.
_CLOCK_FIELDS = ("created_at", "updated_at", "created_ns", "updated_ns", "execution_timestamp")


def without_clock(doc: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in doc.items() if k not in _CLOCK_FIELDS}


def reply_without_clock(reply: Mapping[str, Any]) -> Doc:
    order = reply.get("order")
    return {**reply, "order": None if order is None else without_clock(order)}


TRADE_FIELDS = {"unique_id", "symbol", "execution_timestamp", "price", "qty", "bid_order_id",
                "ask_order_id", "aggressor_side", "sequence"}  # fmt: skip


def assert_recent_writes(client: redis.Redis, expected: Replay) -> None:
    """The recent-writes index the API merges into its lists: each account's most recently
    changed orders (its own only; all of them while it has no more than the index keeps)
    and the shard's newest trades, each once, as the public trade object."""
    by_account: dict[str, list[str]] = {}
    for order_id, doc in expected.orders.items():  # insertion order: order of creation
        by_account.setdefault(doc["account"], []).append(order_id)
    for account, order_ids in by_account.items():
        found: list[bytes] = list(client.zrange(keys.recent_orders(account), 0, -1))  # type: ignore[arg-type]
        members = [m.decode() for m in found]
        assert len(members) == min(len(order_ids), keys.RECENT_KEEP)
        assert set(members) <= set(order_ids)
        if len(order_ids) <= keys.RECENT_KEEP:
            assert set(members) == set(order_ids)
    raw_trades: list[tuple[bytes, float]] = list(
        client.zrange(keys.recent_trades(0), 0, -1, withscores=True)  # type: ignore[arg-type]
    )
    assert len(raw_trades) == min(len(expected.trades), keys.RECENT_KEEP)
    for raw, score in raw_trades:
        trade = json.loads(raw)
        assert set(trade) == TRADE_FIELDS
        want = {k: v for k, v in expected.trades[trade["unique_id"]].items() if k in TRADE_FIELDS}
        assert without_clock(trade) == without_clock(want)
        assert score == trade["sequence"]
    if expected.trades:
        newest = max(t["sequence"] for t in expected.trades.values())
        assert raw_trades[-1][1] == newest


def assert_matches_replay(env: ServiceEnv, expected: Replay) -> None:
    """MongoDB's orders, trades and shard sequence, and Redis's order/depth cache, equal the
    replay's: every command applied exactly once (a second application would shift the
    sequence and with it every later trade id and priority)."""
    db = env.db()
    stored_orders = {k: without_clock(v) for k, v in stored(db).items()}
    assert stored_orders == {k: without_clock(v) for k, v in expected.orders.items()}
    stored_trades = {d["_id"]: without_clock(d) for d in db.trades.find()}
    assert len(stored_trades) == len(expected.trades)
    assert stored_trades == {k: without_clock(v) for k, v in expected.trades.items()}
    state = db.matcher_state.find_one({"_id": "shard:0"})
    assert state is not None
    assert state["sequence"] == expected.sequence
    client = env.redis()
    for symbol, snapshot in expected.depth.items():
        raw_depth = client.get(keys.depth(symbol))
        assert raw_depth is not None
        cached = json.loads(raw_depth)
        assert (cached["bids"], cached["asks"]) == (snapshot["bids"], snapshot["asks"])
    # The order cache holds every order's last state, the public object plus `account`.
    order_ids = list(expected.orders)
    cached_orders = client.mget([keys.order(i) for i in order_ids]) if order_ids else []
    for order_id, raw in zip(order_ids, cached_orders, strict=True):
        assert raw is not None, order_id
        want = without_clock(public_order(expected.orders[order_id]))
        assert without_clock(json.loads(raw)) == want, order_id
    assert {o.order_id for o in expected.open_orders} == {
        k for k, v in expected.orders.items() if v["order_alive"]
    }
    assert_recent_writes(client, expected)
    # A reply for every command, the one an uninterrupted run gave.
    command_ids = list(expected.replies)
    raw_replies = client.mget([keys.reply(i) for i in command_ids]) if command_ids else []
    for command_id, raw in zip(command_ids, raw_replies, strict=True):
        assert raw is not None, f"no reply for {command_id}"
        want_reply = reply_without_clock(expected.replies[command_id])
        got_reply = reply_without_clock(json.loads(raw))
        assert got_reply == want_reply, (command_id, got_reply, want_reply)
