"""Every subscribe gets its ack, however many clients subscribe at once and whatever Redis
does: python-socketio sends no ack at all for a handler that raises, so a depth
subscription whose snapshot read failed used to leave its client waiting forever. It did
in bench/ws.py (1,000 clients): redis-py's default pool raised "Too many connections"
once more than 100 snapshot reads were out together. A hub served in this process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import redis

from lib import keys
from lib.config import load_settings
from lib.errors import ErrorCode
from matcher.realtime import hub as hub_module
from matcher.realtime.hub import MarketDataHub, _nobody
from tests.realtime.listener import Listener
from tests.realtime.test_slow_client import serve

SYMBOL = "CROWD"  # a depth cache key of this test's own
CROWD = 250  # well over redis-py's default pool of 100 connections
SNAPSHOT = {"bids": [[100, 5]], "asks": [[101, 7]], "timestamp": "2026-11-30T10:00:00.000Z"}


async def subscribed_crowd(address: str, count: int) -> list[str]:
    """`count` raw websocket clients connect, then all send a depth subscribe at once;
    each one's first answer to it (or what it got instead)."""
    url = f"ws://{address}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def connect() -> aiohttp.ClientWebSocketResponse:
            ws = await session.ws_connect(url, max_msg_size=0)
            assert (await ws.receive_str(timeout=10)).startswith("0{")
            await ws.send_str("40")
            assert (await ws.receive_str(timeout=10)).startswith("40{")
            return ws

        async def answer(ws: aiohttp.ClientWebSocketResponse) -> str:
            while True:  # depth ticks may come first
                try:
                    message = await ws.receive(timeout=10)
                except TimeoutError:
                    return "no ack in 10 s"
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return f"no ack: {message.type.name}"
                if str(message.data).startswith("431"):
                    return str(message.data)

        sockets = await asyncio.gather(*(connect() for _ in range(count)))
        request = json.dumps(["subscribe", {"channel": "depth", "symbol": SYMBOL}])
        await asyncio.gather(*(ws.send_str(f"421{request}") for ws in sockets))
        answers = await asyncio.gather(*(answer(ws) for ws in sockets))
        await asyncio.gather(*(ws.close() for ws in sockets))
    return answers


def test_a_crowd_subscribing_to_depth_at_once_gets_every_ack_with_the_snapshot(
    redis_url: str,
) -> None:
    cache = redis.Redis.from_url(redis_url)
    cache.set(keys.depth(SYMBOL), json.dumps({**SNAPSHOT, "sequence": 7}))

    async def scenario() -> list[str]:
        hub = MarketDataHub(load_settings({"SBS_SYMBOLS": SYMBOL}), redis_url, _nobody)
        runner, address = await serve(hub)
        try:
            return await subscribed_crowd(address, CROWD)
        finally:
            await runner.cleanup()

    try:
        answers = asyncio.run(scenario())
    finally:
        cache.delete(keys.depth(SYMBOL))
        cache.close()
    refused = [a for a in answers if not a.startswith("431")]
    assert not refused, f"{len(refused)} of {CROWD} without their ack, e.g. {refused[0]}"
    for frame in answers:
        ack = json.loads(frame[3:])[0]
        assert ack["ok"] is True
        assert ack["snapshot"] == {"symbol": SYMBOL, **SNAPSHOT, "sequence": 7}


@pytest.mark.parametrize("redis_does", ["fail", "hang"])
def test_a_snapshot_that_cannot_be_read_refuses_the_subscription_in_its_ack(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, redis_does: str
) -> None:
    """Refused (`service_unavailable`, the client may retry), not left unanswered, and not
    half-made: the client is not in the depth room; the connection and its other
    subscriptions stay."""
    monkeypatch.setattr(hub_module, "SNAPSHOT_TIMEOUT_S", 0.5)

    async def unreadable(_symbol: str) -> dict[str, Any] | None:
        if redis_does == "fail":
            raise redis.exceptions.ConnectionError("Redis is down")
        await asyncio.sleep(60)
        return None

    async def scenario() -> tuple[Any, Any, list[str], bool]:
        hub = MarketDataHub(load_settings({"SBS_SYMBOLS": SYMBOL}), redis_url, _nobody)
        monkeypatch.setattr(hub, "_cached_depth", unreadable)
        runner, address = await serve(hub)
        try:
            listener = await Listener(f"http://{address}").connect()
            trades = await listener.subscribe("trades", SYMBOL)
            depth = await listener.subscribe("depth", SYMBOL)
            sid = listener.client.get_sid()
            rooms = [r for r in hub.sio.rooms(sid) if r != sid]
            connected = listener.client.connected
            await listener.close()
            return trades, depth, rooms, connected
        finally:
            await runner.cleanup()

    trades, depth, rooms, connected = asyncio.run(scenario())
    assert trades == {"ok": True}
    assert depth["ok"] is False
    assert depth["error"]["code"] == ErrorCode.SERVICE_UNAVAILABLE.value
    assert rooms == [f"trades:{SYMBOL}"]
    assert connected
