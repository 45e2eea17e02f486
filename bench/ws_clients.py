"""The websocket clients of bench/ws.py: a lean Socket.IO v5 client, many per process.

Each client is one aiohttp websocket to `/socket.io/?EIO=4&transport=websocket` speaking
the engine.io / socket.io frames itself: OPEN (`0{...}`), CONNECT (`40`), `subscribe`
with an ack id (`42N[...]` / `43N[...]`), PING -> PONG (`2` -> `3`), events
(`42["trade",{...}]`). Measured on the 2-core machine (100 clients in one process, 10,000
trade events/s through the standalone server): ~30 µs of CPU per trade event received
here, against ~55 µs with python-socketio's AsyncClient, whose extra cost would otherwise
be taken from the servers under test on the same cores. Depth events are only counted
(no parsing); trade events are parsed and stamped with `time.time_ns()` on arrival.

A worker process (`worker`) runs its share of the clients and talks to the benchmark
over a pipe: it answers ("ready", subscribed, not subscribed, startup) once every client's
subscriptions are acknowledged or SUBSCRIBE_TIMEOUT_S passed (`startup`: how long each
stage took, why a client was not subscribed), ("count", trade events) when asked, and on
("stop", markers, tapped, window) closes its clients and answers ("result", {...}) with
its lags and counts (see `_result`).

`tap` is another process, a plain Redis subscriber: it notes when each command's reply
became readable (the commit mark) and when each trade's message went through Socket.IO's
pub/sub channel, which splits the delivery lag into the matcher's part (commit ->
channel) and the Socket.IO server's (channel -> client).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
import redis

from lib import keys
from matcher.realtime.hub import events_of

ENGINEIO_PATH = "/socket.io/?EIO=4&transport=websocket"
CONNECT_CONCURRENCY = 25  # handshakes in flight per process (the servers' backlog is 128)
SUBSCRIBE_TIMEOUT_S = 60.0
_TRADE = '42["trade",'
_DEPTH = '42["depth",'


@dataclass
class ClientSpec:
    symbol: str
    trades: bool  # also subscribed to the symbol's trades (every client watches depth)


@dataclass
class Client:
    spec: ClientSpec
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    acked: bool = False  # every subscription acknowledged (`subscribed` is also set on failure)
    failed: str | None = None
    closed_by_server: bool = False
    # Start-up, in s from the connect's start (its turn at the gate): engine.io OPEN,
    # socket.io CONNECT, the last subscription's ack; for one never subscribed, the stage
    # it was at, the last frame it received and how its socket ended.
    opened_s: float | None = None
    connected_s: float | None = None
    acked_s: float | None = None
    stage: str = "queued"  # queued, open, connect, ack, subscribed
    last_frame: str = ""
    ended: str | None = None  # e.g. "closed by the server, code 1000", "exception (...)"
    depth_events: int = 0
    trade_ids: set[str] = field(default_factory=set)


# A trade event as received: (arrival time.time_ns(), unique_id, execution_timestamp,
# aggressor's order id).
Arrival = tuple[int, str, str, str]


async def run_client(
    session: aiohttp.ClientSession,
    url: str,
    client: Client,
    arrivals: list[Arrival],
    gate: asyncio.Semaphore,
) -> None:
    ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + ENGINEIO_PATH
    ws: aiohttp.ClientWebSocketResponse | None = None
    try:
        async with gate:
            started = time.perf_counter()
            client.stage = "open"
            ws = await session.ws_connect(ws_url, max_msg_size=0, autoping=True)
            opened = client.last_frame = await ws.receive_str(timeout=30)
            if not opened.startswith("0"):
                raise ConnectionError(f"no engine.io OPEN: {opened[:40]!r}")
            client.opened_s, client.stage = time.perf_counter() - started, "connect"
            await ws.send_str("40")
            connected = client.last_frame = await ws.receive_str(timeout=30)
            if not connected.startswith("40"):
                raise ConnectionError(f"no socket.io CONNECT: {connected[:40]!r}")
            client.connected_s, client.stage = time.perf_counter() - started, "ack"
        channels = ["depth", "trades"] if client.spec.trades else ["depth"]
        for ack_id, channel in enumerate(channels):
            request = ["subscribe", {"channel": channel, "symbol": client.spec.symbol}]
            await ws.send_str(f"42{ack_id}{orjson.dumps(request).decode()}")
        acked = 0
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                client.ended = f"{message.type.name} frame"
                break
            data: str = message.data
            if not client.acked:
                client.last_frame = data[:80]
            if data.startswith(_TRADE):
                now = time.time_ns()
                trade = orjson.loads(data[2:])[1]
                client.trade_ids.add(trade["unique_id"])
                buyer = trade["aggressor_side"] == "buy"
                aggressor = trade["bid_order_id"] if buyer else trade["ask_order_id"]
                arrivals.append((now, trade["unique_id"], trade["execution_timestamp"], aggressor))
            elif data.startswith(_DEPTH):
                client.depth_events += 1
            elif data == "2":
                await ws.send_str("3")
            elif data.startswith("43"):
                if '"ok":true' not in data:
                    raise ConnectionError(f"subscription refused: {data[:120]}")
                acked += 1
                if acked == len(channels):
                    client.acked_s, client.stage = time.perf_counter() - started, "subscribed"
                    client.acked = True
                    client.subscribed.set()
            elif data.startswith(("41", "1")):  # socket.io DISCONNECT, engine.io CLOSE
                client.ended = f"{data[:2]!r} from the server"
                break
        client.closed_by_server = True
        if client.ended is None:  # aiohttp ends the iteration on a CLOSE frame
            client.ended = f"closed by the server, code {ws.close_code}"
    except asyncio.CancelledError:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        raise
    except Exception as exc:
        client.failed = f"{type(exc).__name__}: {exc}"[:200]
        client.ended = f"{client.ended or 'exception'} ({type(exc).__name__})"
    finally:
        client.subscribed.set()  # never leave the start-up waiting for a dead client


def startup(clients: list[Client]) -> dict[str, Any]:
    """How the clients' start-up went: per stage the seconds each client took (from its
    connect's start), and for every client not subscribed, its failure kind (the stage it
    was at, how it ended) with a few examples (the last frame it received)."""
    failures: dict[str, int] = {}
    examples: list[str] = []
    for c in clients:
        if c.acked:
            continue
        kind = f"{c.stage}: {c.ended or 'still open, no answer'}"
        failures[kind] = failures.get(kind, 0) + 1
        if len(examples) < 3:
            examples.append(f"{kind}; last frame {c.last_frame[:80]!r}; {c.failed or ''}")
    return {
        "open_s": [c.opened_s for c in clients if c.opened_s is not None],
        "connect_s": [c.connected_s for c in clients if c.connected_s is not None],
        "ack_s": [c.acked_s for c in clients if c.acked_s is not None],
        "failures": failures,
        "examples": examples,
    }


def execution_ns(stamp: str) -> int:
    """The API's timestamp text (2026-11-25T09:30:00.123Z) as epoch nanoseconds."""
    return int(datetime.fromisoformat(stamp).timestamp() * 1000) * 1_000_000


def _result(
    clients: list[Client],
    arrivals: list[Arrival],
    markers: dict[str, tuple[int, int]],
    tapped: dict[str, int],
    window: tuple[int, int],
) -> dict[str, Any]:
    """Lags in ms, one value per (client, trade event) received:
    commit: arrival - the moment the aggressing command's reply was seen in Redis;
    submit: arrival - the aggressing command's XADD; execution: arrival - the trade's
    execution_timestamp (ms resolution); fanout: arrival - the moment its message was seen
    on the Redis pub/sub channel (`tapped`: unique_id -> ns). Commit and submit only for
    trades whose aggressor is a marker (`markers`: order id -> (XADD ns, reply seen ns));
    execution and fanout for every trade executed within `window` (ns)."""
    commit, submit, execution, fanout = [], [], [], []
    for arrived, unique_id, stamp, aggressor in arrivals:
        marker = markers.get(aggressor)
        if marker is not None:
            submit.append((arrived - marker[0]) / 1e6)
            commit.append((arrived - marker[1]) / 1e6)
        executed = execution_ns(stamp)
        if window[0] <= executed <= window[1]:
            execution.append((arrived - executed) / 1e6)
            if unique_id in tapped:
                fanout.append((arrived - tapped[unique_id]) / 1e6)
    return {
        "commit_lags_ms": commit,
        "submit_lags_ms": submit,
        "execution_lags_ms": execution,
        "fanout_lags_ms": fanout,
        # symbol -> how many distinct trades each of its trade clients heard
        "trade_ids": {
            symbol: [len(c.trade_ids) for c in clients if c.spec.trades and c.spec.symbol == symbol]
            for symbol in {c.spec.symbol for c in clients if c.spec.trades}
        },
        "depth_events": sum(c.depth_events for c in clients),
        "failed": [c.failed for c in clients if c.failed],
        "closed_by_server": sum(c.closed_by_server for c in clients),
    }


async def _serve(conn: Connection, url: str, specs: list[ClientSpec]) -> None:
    loop = asyncio.get_running_loop()
    clients = [Client(spec) for spec in specs]
    arrivals: list[Arrival] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(run_client(session, url, client, arrivals, gate))
            for client in clients
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.subscribed.wait() for c in clients)), SUBSCRIBE_TIMEOUT_S
            )
        failed = sum(not c.acked for c in clients)
        conn.send(("ready", len(clients) - failed, failed, startup(clients)))
        while True:
            request = await loop.run_in_executor(None, conn.recv)
            if request[0] == "count":
                conn.send(("count", len(arrivals)))
                continue
            _, markers, tapped, window = request
            break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    conn.send(("result", _result(clients, arrivals, markers, tapped, window)))


def worker(
    conn: Connection, url: str, specs: list[ClientSpec], cpus: set[int] | None = None
) -> None:
    """A client process's entry point (multiprocessing, spawn); `cpus`: run on those."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    asyncio.run(_serve(conn, url, specs))


def tap(conn: Connection, redis_url: str, channel: str) -> None:
    """A tap process's entry point: until told to stop, note when each trade's message
    first appears on Socket.IO's `channel`, and when each command's reply key is set
    (Redis keyspace notifications, which the benchmark turns on in its own Redis: no
    polling); then answer ("tapped", {unique_id: (ns, aggressor's order id)},
    {command_id: ns})."""
    client = redis.Redis.from_url(redis_url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    replies = f"__keyspace@{db}__:{keys.reply('')}"
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(channel)
    pubsub.psubscribe(f"{replies}*")
    trades: dict[str, tuple[int, str]] = {}
    replied: dict[str, int] = {}

    failures: list[str] = []
    stopping = threading.Event()

    def listen() -> None:  # blocking reads (a read timeout may cut a message in half)
        try:
            read(pubsub.listen())
        except Exception as exc:
            if not stopping.is_set():
                failures.append(f"{type(exc).__name__}: {exc}")

    def read(messages: Iterator[dict[str, Any]]) -> None:
        for message in messages:
            now = time.time_ns()
            if message["type"] == "pmessage":
                if message["data"] == b"set":
                    replied.setdefault(message["channel"].decode()[len(replies) :], now)
                continue
            if message["type"] != "message":
                continue
            emitted = orjson.loads(message["data"])
            if emitted.get("method") != "emit":
                continue
            for event, trade, _ in events_of(emitted):
                if event == "trade":
                    buyer = trade["aggressor_side"] == "buy"
                    aggressor = trade["bid_order_id"] if buyer else trade["ask_order_id"]
                    trades.setdefault(trade["unique_id"], (now, aggressor))

    threading.Thread(target=listen, daemon=True).start()
    conn.send(("ready",))
    conn.recv()  # stop
    stopping.set()
    conn.send(("tapped", dict(trades), dict(replied), failures))
