"""Socket.IO with two shards (DESIGN §3): each matcher only emits through Redis, the
standalone server (`python -m matcher.realtime`) serves every symbol, and /api/config
points clients at it.

The module starts a deployment of its own on the session stack: two matchers
(SBS_SHARDS=2), the standalone server, an Upstash REST proxy and the API on the
dispatcher. It uses a Redis database of its own (REDIS_DB, flushed first and last) and a
fresh MONGODB_DB, because the package's `api` fixture (tests/realtime/conftest.py) is
still running while this module's tests do: its matcher leads shard 0 in database 0, and
a second writer there would fight it for the lease. (Socket.IO's Redis pub/sub channel
spans databases, so that matcher's hub also hears these events; no client of it listens
while this module runs.)
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import pytest
import redis
import socketio

from devstack import ManagedProcess, Stack, free_port
from devstack.process import accepts_tcp
from devstack.services import api_dispatcher, upstash_proxy
from lib.config import shard_of
from matcher.service.faults import CRASH_EXIT_CODE
from matcher.service.store import journal_db_name
from tests.api_harness import REPLY_TIMEOUT_MS, SYMBOLS, Api
from tests.realtime.listener import Listener
from tests.realtime.rest import Doc, aplace, place, rest_trades
from tests.service.harness import PROJECT_ROOT, MatcherProcess, ServiceEnv

REDIS_DB = 3  # this module's own Redis database (see the module doc)
LEASE_MS = 2000  # a killed matcher's successor leads within this long
T = TypeVar("T")


@dataclass
class Sharded:
    api: Api  # its `matcher` is shard 0's; `realtime_url` the standalone server
    matchers: list[MatcherProcess]  # by shard
    realtime: ManagedProcess

    @property
    def realtime_url(self) -> str:
        return self.api.realtime_url


@pytest.fixture(scope="module")
def sharded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sharded]:
    redis_url = f"{stack.redis_url.rsplit('/', 1)[0]}/{REDIS_DB}"
    direct = redis.Redis.from_url(redis_url)
    direct.flushdb()
    log_dir = tmp_path_factory.mktemp("sharded-logs")
    env = ServiceEnv(redis_url, stack.mongodb_uri, f"t_{uuid.uuid4().hex[:12]}", log_dir)
    common = {"SBS_SYMBOLS": SYMBOLS, "SBS_SHARDS": "2"}
    token = secrets.token_urlsafe(24)
    started: list[ManagedProcess] = []
    try:
        proxy = upstash_proxy(free_port(), redis_url, token, log_dir)
        proxy.start()
        started.append(proxy)
        realtime_port = free_port()
        realtime = ManagedProcess(
            "realtime",
            [sys.executable, "-m", "matcher.realtime", "--port", str(realtime_port)],
            log_path=log_dir / "realtime.log",
            ready=lambda: accepts_tcp(realtime_port),
            url=f"http://127.0.0.1:{realtime_port}",
            port=realtime_port,
            env=env.environ(**common),
            cwd=PROJECT_ROOT,
        )
        realtime.start()
        started.append(realtime)
        matchers = []
        for shard in (0, 1):
            matcher = env.matcher(
                f"matcher-{shard}", lease_ms=LEASE_MS, shard=shard, SBS_SYMBOLS=SYMBOLS,
                SBS_SHARDS="2",
            )  # fmt: skip
            matchers.append(matcher.start())
            started.append(matcher.process)
        environ = env.environ(
            **common,
            UPSTASH_REDIS_REST_URL=proxy.url,
            UPSTASH_REDIS_REST_TOKEN=token,
            SBS_REPLY_TIMEOUT_MS=str(REPLY_TIMEOUT_MS),
            SBS_REALTIME_URL=realtime.url,
        )
        api_port = free_port()
        server = api_dispatcher(api_port, environ, Path(log_dir))
        server.start()
        started.append(server)
        for matcher in matchers:
            matcher.wait_role("leader")
        api = Api(f"http://127.0.0.1:{api_port}", env, matchers[0], server, environ)
        api.realtime_url = realtime.url
        yield Sharded(api, matchers, realtime)
        api.close()
    finally:
        for process in reversed(started):
            process.stop()
        mongo = env.db().client
        mongo.drop_database(env.db_name)
        mongo.drop_database(journal_db_name(env.db_name))
        mongo.close()
        direct.flushdb()
        direct.close()


def symbol_of_shard(shard: int, skip: int = 0) -> str:
    """A symbol of SYMBOLS that shard `shard` of two owns (the `skip`-th one)."""
    names = [item.split(":")[0] for item in SYMBOLS.split(",") if item.startswith("S")]
    return [name for name in names if shard_of(name, 2) == shard][skip]


def wait_rest_trades(api: Api, symbol: str, count: int, timeout: float = 30.0) -> list[Doc]:
    deadline = time.monotonic() + timeout
    while len(trades := rest_trades(api, symbol)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"GET /api/trades lists {len(trades)} of {count} trades")
        time.sleep(0.2)
    return trades


def test_one_client_hears_the_trades_of_both_shards(sharded: Sharded) -> None:
    api = sharded.api
    symbols = [symbol_of_shard(0), symbol_of_shard(1)]
    maker, taker = api.trader(), api.trader()

    async def scenario() -> list[Doc]:
        listener = await Listener(sharded.realtime_url).connect()
        for symbol in symbols:
            assert await listener.subscribe("trades", symbol) == {"ok": True}
        for symbol, price in itertools.product(symbols, (10, 11)):
            await aplace(maker, symbol=symbol, side="sell", quantity=3, price=price)
        for symbol in symbols:
            await aplace(taker, symbol=symbol, side="buy", quantity=5, price=11)  # two trades
        await listener.wait_for("trade", 4)
        await asyncio.sleep(0.3)  # nothing beyond them
        await listener.close()
        return list(listener.of("trade"))

    heard = asyncio.run(scenario())
    for symbol in symbols:
        mine = [trade for trade in heard if trade["symbol"] == symbol]
        assert mine == rest_trades(api, symbol)  # field for field, in sequence order
        assert [trade["qty"] for trade in mine] == [3, 2]


def test_config_points_clients_at_the_standalone_server(sharded: Sharded) -> None:
    config = httpx.get(f"{sharded.api.url}/api/config").json()
    assert config["realtime_url"] == sharded.realtime_url
    assert sharded.realtime_url not in {f"http://127.0.0.1:{m.port}" for m in sharded.matchers}
    health = httpx.get(f"{sharded.realtime_url}/health").json()
    assert health == {"role": "realtime", "ok": True}


@contextmanager
def client_loop() -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """An event loop in a thread of its own, and `run(coroutine)` to run one on it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    try:
        yield run
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_a_kill_9_of_a_matcher_loses_no_trade_for_a_standalone_client(sharded: Sharded) -> None:
    """The client's connection is to the standalone server, which outlives the matcher: the
    trades the successor republishes arrive by themselves, no gap fill needed.

    Two faults on shard 1 while orders flow on both shards: a kill -9 at a random moment,
    then a successor that dies right after its third journal insert (SBS_CRASH_AT: a
    batch committed whose events never went out), then the matcher again."""
    api = sharded.api
    victim = sharded.matchers[1]
    crasher = api.env.matcher(
        "matcher-1-crash", lease_ms=LEASE_MS, shard=1, SBS_SYMBOLS=SYMBOLS, SBS_SHARDS="2",
        SBS_CRASH_AT="journal:3",
    )  # fmt: skip
    killed_symbol, other_symbol = symbol_of_shard(1, 1), symbol_of_shard(0, 1)
    maker, taker = api.trader(), api.trader()
    stop = threading.Event()
    symbols = (killed_symbol, other_symbol)
    # Every order of the killed symbol trades (against one large resting sell), so every
    # batch of shard 1, the one committed before the crash too, has trades to emit.
    place(maker, symbol=killed_symbol, side="sell", quantity=1_000_000, price=7)
    orders = {killed_symbol: [(taker, "buy")], other_symbol: [(maker, "sell"), (taker, "buy")]}
    posts: list[tuple[str, float, float]] = []  # (symbol, sent, answered)
    trading = dict.fromkeys(symbols, 0)  # trading orders answered (201, or 202 while down)
    statuses: list[int] = []
    down: list[float] = []  # when the matcher was killed, and when it led again

    def flow(symbol: str) -> None:  # a thread per symbol: one shard's outage stalls only it
        while not stop.is_set():
            for client, side in orders[symbol]:
                order = {"symbol": symbol, "side": side, "quantity": 1, "price": 7}
                began = time.monotonic()
                statuses.append(client.post("/api/orders", json=order).status_code)
                posts.append((symbol, began, time.monotonic()))
            trading[symbol] += 1
            time.sleep(0.01)

    # The matcher is killed and started from this (the main) thread: a child dies with the
    # thread that started it (PR_SET_PDEATHSIG, devstack/process.py), so not from a
    # worker thread; the client runs on an event loop in a thread of its own meanwhile.
    with client_loop() as run:
        listener = run(Listener(sharded.realtime_url).connect())
        for symbol in symbols:
            run(listener.subscribe("trades", symbol))
        flows = [threading.Thread(target=flow, args=(symbol,)) for symbol in symbols]
        for thread in flows:
            thread.start()
        try:
            time.sleep(1.5)
            victim.kill()  # SIGKILL, mid-stream
            down.append(time.monotonic())
            crasher.start()  # a standby until the lease runs out, then leads and crashes
            deadline = time.monotonic() + 30
            while crasher.process.running:
                assert time.monotonic() < deadline, "the crash point was never reached"
                time.sleep(0.05)
            assert crasher.process.stop() == CRASH_EXIT_CODE
            victim.start()
            victim.wait_role("leader")
            down.append(time.monotonic())
            time.sleep(1.5)
        finally:
            stop.set()
            for thread in flows:
                thread.join()
        for symbol in symbols:
            ids = {trade["unique_id"] for trade in wait_rest_trades(api, symbol, trading[symbol])}
            deadline = time.monotonic() + 15
            while not ids <= {t["unique_id"] for t in listener.of("trade")}:
                assert time.monotonic() < deadline, f"{symbol}: trades never heard"
                time.sleep(0.1)
        assert listener.client.connected  # the standalone server never went away
        run(listener.close())

    assert set(statuses) <= {201, 202}, statuses
    for symbol in symbols:
        expected = {trade["unique_id"]: trade for trade in rest_trades(api, symbol)}
        assert len(expected) == trading[symbol]  # one trade each, none doubled
        heard = [trade for trade in listener.of("trade") if trade["symbol"] == symbol]
        assert {trade["unique_id"] for trade in heard} == set(expected)  # every one heard
        for trade in heard:  # a repeat is the same trade, field for field
            assert trade == expected[trade["unique_id"]]
    # Orders reached the killed shard while it was down; the other shard kept trading.
    assert any(s == killed_symbol and a < down[1] and b > down[0] for s, a, b in posts)
    other_times = [h.at for h in listener.heard if h.data.get("symbol") == other_symbol]
    assert any(down[0] < at < down[1] for at in other_times)


def test_depth_from_the_standalone_server_equals_the_book_of_shard_1(sharded: Sharded) -> None:
    api = sharded.api
    symbol = symbol_of_shard(1, 2)
    trader = api.trader()

    async def scenario() -> tuple[Doc, list[float], list[Doc]]:
        await aplace(trader, symbol=symbol, side="buy", quantity=3, price=9)
        await aplace(trader, symbol=symbol, side="buy", quantity=2, price=9)
        await aplace(trader, symbol=symbol, side="buy", quantity=4, price=8)
        await aplace(trader, symbol=symbol, side="sell", quantity=1, price=15)
        listener = await Listener(sharded.realtime_url).connect()
        ack = await listener.subscribe("depth", symbol)
        await listener.wait_for("depth", 5, timeout=10)
        await listener.close()
        times = [h.at for h in listener.heard if h.event == "depth"]
        return ack, times, list(listener.of("depth"))

    ack, times, events = asyncio.run(scenario())
    book = httpx.get(f"{api.url}/api/book", params={"symbol": symbol}).json()
    expected = {k: book[k] for k in ("symbol", "bids", "asks", "timestamp", "sequence")}
    assert ack == {"ok": True, "snapshot": expected}
    assert events == [expected] * len(events)
    assert expected["bids"] == [{"price": 9, "quantity": 5}, {"price": 8, "quantity": 4}]
    assert expected["asks"] == [{"price": 15, "quantity": 1}]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 4 and all(0.7 < gap < 1.3 for gap in gaps), gaps


# --------------------------------------------------------------------- hostile clients


def websocket_url(realtime_url: str) -> str:
    return realtime_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


async def closed_after(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> bool:
    """Whether the server closes `ws` within `timeout` (whatever it sends before)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await ws.receive(timeout=left)
        except TimeoutError:
            return False
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):  # fmt: skip
            return True
    return False


async def raw_client(
    session: aiohttp.ClientSession, url: str, frames: Sequence[str | bytes], connect: bool
) -> bool:
    """A websocket that speaks engine.io only as far as `connect` says (the socket.io
    CONNECT of namespace "/"), then sends `frames`: closed by the server?"""
    async with session.ws_connect(websocket_url(url), max_msg_size=0) as ws:
        opened = await ws.receive(timeout=10)
        assert str(opened.data).startswith("0{"), opened  # engine.io OPEN
        if connect:
            await ws.send_str("40")
            assert str((await ws.receive(timeout=10)).data).startswith("40{")
        for frame in frames:
            if ws.closed:
                break
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        return await closed_after(ws, timeout=5)


async def disconnected_within(client: socketio.AsyncClient, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while client.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not client.connected


def test_hostile_clients_are_disconnected_and_others_keep_their_trades(
    sharded: Sharded,
) -> None:
    api = sharded.api
    symbol = symbol_of_shard(1, 3)
    maker, taker = api.trader(), api.trader()
    url = sharded.realtime_url
    pairs = 12

    async def garbage() -> bool:
        async with aiohttp.ClientSession() as session:
            return await raw_client(session, url, ["garbage \x00 not engine.io"], connect=False)

    async def flooder() -> bool:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        for _ in range(200):  # > 50 a second, answers not awaited
            if not client.connected:
                break
            await client.emit("subscribe", {"channel": "trades", "symbol": symbol})
        return await disconnected_within(client, 5)

    async def oversized() -> bool:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        await client.emit("subscribe", {"channel": "trades", "symbol": "X" * 1_000_000})
        return await disconnected_within(client, 5)

    async def trades_flow() -> None:
        for _ in range(pairs):
            await aplace(maker, symbol=symbol, side="sell", quantity=1, price=20)
            await aplace(taker, symbol=symbol, side="buy", quantity=1, price=20)
            await asyncio.sleep(0.1)

    async def scenario() -> tuple[list[bool], list[Doc], bool]:
        good = await Listener(url).connect()
        assert await good.subscribe("trades", symbol) == {"ok": True}
        *cut_off, _ = await asyncio.gather(garbage(), flooder(), oversized(), trades_flow())
        await good.wait_for("trade", pairs)
        await asyncio.sleep(0.3)
        still = good.client.connected
        await good.close()
        return cut_off, list(good.of("trade")), still

    cut_off, heard, still_connected = asyncio.run(scenario())
    assert cut_off == [True, True, True]  # garbage, flood, 1 MB: each disconnected
    assert still_connected
    assert heard == rest_trades(api, symbol)
    assert httpx.get(f"{url}/health").json()["ok"] is True


def test_a_raw_client_sending_bad_socketio_packets_is_disconnected(sharded: Sharded) -> None:
    url = sharded.realtime_url
    flood = [f'42{n}["subscribe",{{"channel":"trades","symbol":"ACME"}}]' for n in range(100)]

    async def scenario() -> list[bool]:
        async with aiohttp.ClientSession() as session:
            return list(
                await asyncio.gather(
                    raw_client(session, url, ["4garbage{"], connect=True),
                    raw_client(session, url, ['42["subscribe", {bad json'], connect=True),
                    raw_client(session, url, [b"\x00\xff\xfe junk"], connect=True),
                    raw_client(session, url, flood, connect=True),
                )
            )

    assert asyncio.run(scenario()) == [True, True, True, True]
