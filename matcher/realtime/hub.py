"""Live market data over Socket.IO (DESIGN §3): rooms per symbol, trades after commit, depth
every second, each account's own order changes.

One `MarketDataHub` per serving process: the matcher (one shard) or the standalone server
(`python -m matcher.realtime`, several shards). Every hub uses python-socketio's Redis
client manager, so an event emitted by any matcher reaches the clients of every hub.

- Rooms: `trades:SYM`, `depth:SYM` (by `subscribe`), `orders:ACCOUNT` (at connect, for a
  client whose auth payload carries a valid API key).
- `trade` and `order` events come from the matcher's commit path (`publish`, thread-safe),
  after the journal insert, in batch order; recovery publishes its batches again, so a
  client hears every committed trade at least once (a repeat has the same `unique_id`).
  One outbox task sends them in order: to this hub's clients, then to the other hubs in
  one Redis pipeline per round (retried; a round that can't go out fails its futures, so
  the matcher never counts it as sent).
- `depth` is read every second by each hub from the depth cache in Redis, for the symbols
  its own clients watch, and sent to them only (`deliver`): a hub never multiplies
  another hub's ticks. A subscription's ack carries the snapshot at once: one Redis read
  per symbol shared by the subscribes that arrive while it is out, so a crowd of clients
  subscribing together costs a few reads, and a read that fails or times out refuses the
  subscription (`service_unavailable`, not subscribed) instead of never answering it.
- Hostile clients: at most 64 KiB per message (engine.io closes the connection above),
  a bounded number of subscriptions; a client that floods subscribe requests, sends a
  packet that does not decode, or reads so slowly that MAX_QUEUED_PACKETS wait for it,
  loses its connection (not only its namespace); none of it touches other clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from typing import Any

import orjson
import socketio
from aiohttp import web
from engineio import packet as eio_packet
from pymongo import MongoClient
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis

from lib import keys
from lib.accounts import authenticate
from lib.config import Settings
from lib.errors import KINDS, ErrorCode
from lib.orders import public, public_trade

log = logging.getLogger("matcher.realtime")

DEPTH_LEVELS = 5
DEPTH_INTERVAL_S = 1.0
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SUBSCRIBES_PER_S = 50  # more than any client needs; a flood is cut off
MAX_SUBSCRIPTIONS = 100  # per connection; a client that watches more opens another
CHANNELS = ("trades", "depth")
CHANNEL = "sbs-socketio"  # the Redis pub/sub channel every hub and matcher shares
MAX_ROUND_EVENTS = 5_000  # events of one outbox round: one Redis pipeline
# After the first batch of a quiet spell the sender waits this long for more: under a
# trickle the matcher commits a batch every millisecond or two, and a pipeline for each
# took a sixth of its GIL (py-spy at 1,000 commands/s). Rounds of a few batches cut the
# steady p99 at 1,000/s from 15-17 to 13-14 ms (docs/BENCHMARKS.md); market data leaves
# at most this much later.
SEND_LINGER_S = 0.002
PUBLISH_CHUNK = 500  # events of one Redis message (~150 kB: far below pub/sub buffer limits)
PUBLISH_GIVE_UP_S = 10.0  # Redis unreachable this long: the round's futures fail
# Packets waiting for one client; beyond, it reads too slowly to ever catch up and is
# dropped (it reconnects and fills its gap from GET /api/trades) instead of growing the
# server's memory without bound. 10,000 is minutes of a busy symbol's depth and trades.
MAX_QUEUED_PACKETS = 10_000
# The hub's own Redis connections (depth ticks, subscription snapshots, the outbox): a
# command waits up to REDIS_WAIT_S for one rather than failing (redis-py's default pool
# raises "Too many connections" at once beyond 100, which a burst of subscribes reached).
REDIS_CONNECTIONS = 16
REDIS_WAIT_S = 5.0
SNAPSHOT_TIMEOUT_S = 5.0  # a depth subscription's snapshot: read, or the ack refuses

Authenticator = Callable[[str], Awaitable[str | None]]
Event = tuple[str, dict[str, Any], str]  # (event name, data, room)


def depth_event(symbol: str, cached: dict[str, Any] | None) -> dict[str, Any]:
    """The top DEPTH_LEVELS of a cached snapshot (the cache keeps 50); an empty book when
    the matcher has not published this symbol yet, as GET /api/book says it."""
    if cached is None:
        return {"symbol": symbol, "bids": [], "asks": [], "timestamp": None, "sequence": 0}
    return {
        "symbol": symbol,
        "bids": cached["bids"][:DEPTH_LEVELS],
        "asks": cached["asks"][:DEPTH_LEVELS],
        "timestamp": cached["timestamp"],
        "sequence": cached["sequence"],
    }


async def _nobody(_key: str) -> str | None:
    return None


def _refusal(code: ErrorCode, message: str | None = None) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code.value, "message": message or KINDS[code].message}}


def published(events: list[Event], host_id: str) -> list[bytes]:
    """The Redis messages that carry `events` to the other hubs: python-socketio's pub/sub
    `emit` message, with a list of (event, data, room) in `events` where it has one event
    (FanOutRedisManager unpacks it). One PUBLISH per PUBLISH_CHUNK events, not one per
    event: packing, sending and answering a PUBLISH per event took about a sixth of the
    matcher's CPU on a drain (docs/BENCHMARKS.md)."""
    chunks = (events[at : at + PUBLISH_CHUNK] for at in range(0, len(events), PUBLISH_CHUNK))
    return [orjson.dumps({"method": "emit", "host_id": host_id, "events": c}) for c in chunks]


def events_of(message: dict[str, Any]) -> list[Event]:
    """The events of one message from `published`; what is not an event is left out."""
    batch = message.get("events")
    return [
        (item[0], item[1], item[2])
        for item in (batch if isinstance(batch, list) else [])
        if isinstance(item, list)
        and len(item) == 3
        and isinstance(item[0], str)
        and isinstance(item[1], dict)
        and isinstance(item[2], str)
    ]


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio logs and ignores a packet that does not decode, keeping the
    connection (a client sending junk stays connected forever), and queues packets for a
    client that does not read without limit. This server drops such clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dropping: set[asyncio.Future[None]] = set()

    def deliver(self, event: str, data: dict[str, Any], room: str) -> None:
        """Queue one event for every client of this process in `room`, encoded once. What
        python-socketio's emit does, without its task per client and event, which was
        most of the fan-out's CPU (bench/ws.py); a client's writer task sends the queue."""
        participants = list(self.manager.get_participants("/", room))
        if not participants:
            return
        encoded = self.packet_class(socketio.packet.EVENT, data=[event, data]).encode()
        message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        for _sid, eio_sid in participants:
            socket = self.eio.sockets.get(eio_sid)
            if socket is None or socket.closed or self._dropped_as_slow(eio_sid, socket):
                continue
            if socket.upgrading:  # engine.io holds packets back while it upgrades
                socket.packet_backlog.append(message)
            else:
                socket.queue.put_nowait(message)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        """python-socketio's own emit path (events that `deliver` does not take)."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or not self._dropped_as_slow(eio_sid, socket):
            await super()._send_eio_packet(eio_sid, eio_pkt)

    def _dropped_as_slow(self, eio_sid: str, socket: Any) -> bool:
        """Whether MAX_QUEUED_PACKETS already wait for this client; if so it is dropped."""
        if socket.queue.qsize() < MAX_QUEUED_PACKETS:
            return False
        why = f"too slow: {MAX_QUEUED_PACKETS} packets waiting"
        task = asyncio.ensure_future(self.drop(eio_sid, why, abort=True))
        self._dropping.add(task)  # held until done: the loop keeps weak references
        task.add_done_callback(self._dropping.discard)
        return True

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        if isinstance(data, bytes) and eio_sid not in self._binary_packet:
            await self.drop(eio_sid, "binary data out of a binary packet")
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # undecodable JSON, unknown packet type, bad namespace...
            await self.drop(eio_sid, f"{type(exc).__name__}: {str(exc)[:80]}")

    async def drop(self, eio_sid: str, why: str, abort: bool = False) -> None:
        """Close the client's engine.io session and its websocket at once: engine.io alone
        sends CLOSE and then waits for the client to hang up, which a hostile one never
        does (the socket would live on until the ping timeout). `abort`: the client does
        not read, so nothing more can be written to it: cut the TCP connection."""
        log.warning("client %s dropped: %s", eio_sid, why)
        socket = self.eio.sockets.pop(eio_sid, None)
        if socket is None:
            return
        while not socket.queue.empty():  # what it has not read yet is never sent: free it
            socket.queue.get_nowait()
            socket.queue.task_done()
        request = self.environ.get(eio_sid, {}).get("aiohttp.request")
        await socket.close(wait=False, abort=abort)  # the disconnect handlers run here
        await socket.queue.put(None)  # ends the websocket's writer, which closes it
        if abort and request is not None and request.transport is not None:
            request.transport.abort()  # a writer stuck on a full socket buffer fails now


class FanOutRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis client manager, delivering the batches other hubs send
    (`published`) by `deliver`; any other message goes python-socketio's own way."""

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if "events" in message and isinstance(self.server, GuardedServer):
            for event in events_of(message):
                self.server.deliver(*event)
        else:
            await super()._handle_emit(message)


class MarketDataHub:
    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        authenticate: Authenticator,
        cors_origins: list[str] | str = "*",
    ) -> None:
        self.symbols = [spec.symbol for spec in settings.symbols]
        self._known = set(self.symbols)
        self.redis_url = redis_url
        self.authenticate = authenticate
        self.sio = GuardedServer(
            async_mode="aiohttp",
            client_manager=FanOutRedisManager(redis_url, channel=CHANNEL),
            cors_allowed_origins=cors_origins,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            transports=["websocket", "polling"],
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.serves_clients = True  # False: only sends events to the other hubs
        self._redis: AsyncRedis | None = None
        self._outbox: asyncio.Queue[tuple[list[Event], Future[None]]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._subscribe_times: dict[str, list[float]] = {}
        self._depth_reads: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("subscribe", self._subscribe)
        self.sio.on("unsubscribe", self._unsubscribe)

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    def emitter_only(cls, settings: Settings, redis_url: str) -> MarketDataHub:
        """For a matcher of a sharded deployment: it serves no client (the standalone
        server does) and only sends its events through Redis; `bind` it to a loop."""
        hub = cls(settings, redis_url, _nobody)
        hub.serves_clients = False
        return hub

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def attach(self, app: web.Application) -> None:
        """Serve Socket.IO at /socket.io on `app`; the ticker runs while the app does."""
        self.sio.attach(app)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, _app: web.Application) -> None:
        self.loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick_depth())

    async def _stop(self, _app: web.Application) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the ticker and the outbox (what it still holds is never counted as sent)."""
        for task in (self._ticker, self._sender):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    def _client(self) -> AsyncRedis:
        if self._redis is None:
            pool = BlockingConnectionPool.from_url(
                self.redis_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_S
            )
            self._redis = AsyncRedis.from_pool(pool)
        return self._redis

    # --- from the matcher's commit path ------------------------------------------------

    def publish(
        self,
        trades: list[dict[str, Any]],
        depth: dict[str, dict[str, Any]],
        orders: Iterable[dict[str, Any]] = (),
    ) -> Future[None] | None:
        """Emit a committed batch's trades (in sequence order) and order changes. Called
        from the matcher's threads; returns at once with a future that is done once every
        event has gone out to this hub's clients and to the other hubs (Redis), and fails
        if that could not be done (the matcher then never counts the batch as sent)."""
        loop = self.loop
        if loop is None or not (trades or orders):
            return None
        events: list[Event] = [
            ("trade", public_trade(trade), f"trades:{trade['symbol']}") for trade in trades
        ]
        events += [("order", public(order), f"orders:{order['account']}") for order in orders]
        sent: Future[None] = Future()
        loop.call_soon_threadsafe(self._post, events, sent)
        return sent

    def _post(self, events: list[Event], sent: Future[None]) -> None:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._sender = asyncio.create_task(self._send_outbox(self._outbox))
        self._outbox.put_nowait((events, sent))

    async def _send_outbox(self, outbox: asyncio.Queue[tuple[list[Event], Future[None]]]) -> None:
        """One task sends every batch, so events leave in commit order; what queued up
        while a round was out goes in the next round (one pipeline), which is how the hub
        keeps up when the matcher commits faster than Redis answers one PUBLISH at a time,
        and a round that would hold one batch waits SEND_LINGER_S for company. The queue
        is bounded by the matcher: it waits for these futures before it counts a
        batch as projected, and its projector's backlog is bounded."""
        while True:
            round_ = [await outbox.get()]
            if outbox.empty():
                await asyncio.sleep(SEND_LINGER_S)
            events = len(round_[0][0])
            while not outbox.empty() and events < MAX_ROUND_EVENTS:
                round_.append(outbox.get_nowait())
                events += len(round_[-1][0])
            try:
                await self._send([event for batch, _ in round_ for event in batch])
            except Exception as exc:
                for _, sent in round_:
                    sent.set_exception(exc)
            else:
                for _, sent in round_:
                    sent.set_result(None)

    async def _send(self, events: list[Event]) -> None:
        if self.serves_clients:
            for event, data, room in events:
                self.sio.deliver(event, data, room)
        # Marked as this hub's own, so its Redis manager does not deliver them again here.
        host_id = self.sio.manager.host_id
        messages = published(events, host_id)
        deadline = time.monotonic() + PUBLISH_GIVE_UP_S
        pause = 0.05
        while True:
            try:
                async with self._client().pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(CHANNEL, message)
                    await pipe.execute()
                return
            except Exception as exc:  # a Redis hiccup: retried; an outage: the caller hears
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("publishing %d events to Redis failed (%s); retrying", len(events), exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    # --- clients -----------------------------------------------------------------------

    async def _connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        if auth is None:
            return  # public market data needs no key
        key = auth.get("api_key") if isinstance(auth, dict) else None
        account = await self.authenticate(key) if isinstance(key, str) else None
        if account is None:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": ErrorCode.UNAUTHORIZED.value, "message": "invalid or revoked API key"}
            )
        await self.sio.enter_room(sid, f"orders:{account}")

    async def _disconnect(self, sid: str, *_: Any) -> None:
        self._subscribe_times.pop(sid, None)

    def _request(self, data: Any) -> tuple[str, str] | dict[str, Any]:
        """(channel, symbol) of a subscribe / unsubscribe, or the refusal for the ack."""
        if not isinstance(data, dict):
            return _refusal(ErrorCode.INVALID_FIELD, "send {channel, symbol}")
        unknown = [name for name in data if name not in ("channel", "symbol")]
        if unknown:
            return _refusal(ErrorCode.UNKNOWN_FIELD, f"unknown field {str(unknown[0])[:40]!r}")
        channel, symbol = data.get("channel"), data.get("symbol", self.symbols[0])
        if channel not in CHANNELS:
            return _refusal(ErrorCode.INVALID_FIELD, 'channel must be "trades" or "depth"')
        if not isinstance(symbol, str) or symbol not in self._known:
            return _refusal(ErrorCode.UNKNOWN_SYMBOL)
        return channel, symbol

    async def _subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        if self._flooding(sid):
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is not None:
                await self.sio.drop(eio_sid, "a flood of subscribe requests")
            return _refusal(ErrorCode.RATE_LIMITED)
        request = self._request(data)
        if isinstance(request, dict):
            return request
        channel, symbol = request
        rooms = [r for r in self.sio.rooms(sid) if r.startswith(("trades:", "depth:"))]
        room = f"{channel}:{symbol}"
        if room not in rooms and len(rooms) >= MAX_SUBSCRIPTIONS:
            return _refusal(ErrorCode.TOO_MANY_SUBSCRIPTIONS)
        await self.sio.enter_room(sid, room)
        if channel == "trades":
            return {"ok": True}
        try:  # python-socketio sends no ack at all for a handler that raises
            cached = await asyncio.wait_for(self._shared_depth(symbol), SNAPSHOT_TIMEOUT_S)
        except Exception as exc:
            log.warning("depth snapshot of %s for a subscription failed: %r", symbol, exc)
            if room not in rooms:  # a repeated subscribe keeps the subscription it had
                await self.sio.leave_room(sid, room)
            return _refusal(ErrorCode.SERVICE_UNAVAILABLE, "depth snapshot unavailable, retry")
        return {"ok": True, "snapshot": depth_event(symbol, cached)}

    async def _unsubscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        request = self._request(data)
        if isinstance(request, dict):
            return request
        channel, symbol = request
        await self.sio.leave_room(sid, f"{channel}:{symbol}")
        return {"ok": True}

    def _flooding(self, sid: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._subscribe_times.get(sid, []) if now - t < 1.0]
        recent.append(now)
        self._subscribe_times[sid] = recent
        return len(recent) > MAX_SUBSCRIBES_PER_S

    # --- depth -------------------------------------------------------------------------

    async def _cached_depth(self, symbol: str) -> dict[str, Any] | None:
        raw = await self._client().get(keys.depth(symbol))
        return None if raw is None else dict(json.loads(raw))

    async def _shared_depth(self, symbol: str) -> dict[str, Any] | None:
        """The cached snapshot of `symbol`, by the read already out for it if there is
        one (it began before this subscription's room was joined, and the next tick
        follows within a second), else by a new one."""
        read = self._depth_reads.get(symbol)
        if read is None:
            read = asyncio.ensure_future(self._cached_depth(symbol))
            self._depth_reads[symbol] = read
            read.add_done_callback(lambda done: self._read_done(symbol, done))
        return await asyncio.shield(read)  # a waiter's timeout leaves the read to the others

    def _read_done(self, symbol: str, read: asyncio.Future[dict[str, Any] | None]) -> None:
        self._depth_reads.pop(symbol, None)
        if not read.cancelled():
            read.exception()  # retrieved: its waiters may all have timed out already

    def watched_symbols(self) -> list[str]:
        """Symbols that this hub's own clients watch the depth of."""
        rooms = self.sio.manager.rooms.get("/", {})
        return [
            room.removeprefix("depth:")
            for room, members in rooms.items()
            if isinstance(room, str) and room.startswith("depth:") and members
        ]

    async def _tick_depth(self) -> None:
        """Every second, on the second boundary of this process's clock, whether or not
        the book changed (DESIGN §3); a Redis hiccup skips a tick, never the ticker."""
        while True:
            await asyncio.sleep(DEPTH_INTERVAL_S - time.time() % DEPTH_INTERVAL_S)
            symbols = self.watched_symbols()
            if not symbols:
                continue
            try:
                raws = await self._client().mget([keys.depth(symbol) for symbol in symbols])
            except Exception as exc:  # the next tick tries again
                log.warning("depth tick skipped: %s", exc)
                continue
            for symbol, raw in zip(symbols, raws, strict=True):
                event = depth_event(symbol, None if raw is None else dict(json.loads(raw)))
                self.sio.deliver("depth", event, f"depth:{symbol}")


def key_authenticator(mongodb_uri: str, db_name: str) -> Authenticator:
    """API keys checked against MongoDB (lib.accounts), off the event loop."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=3000, appname="sbs-realtime"
    )
    db = client[db_name]

    async def check(key: str) -> str | None:
        try:
            return await asyncio.to_thread(authenticate, db, key)
        except Exception as exc:  # MongoDB unreachable: refuse, never crash the hub
            log.warning("API key check failed: %s", exc)
            return None

    return check
