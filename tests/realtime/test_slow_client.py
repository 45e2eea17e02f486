"""A client that stops reading must not grow the server's memory without bound: once
MAX_QUEUED_PACKETS wait for it, the hub drops it, and a client that reads keeps every
event. A hub served in this process (as the matcher serves it), so the bound can be small."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from lib.config import load_settings
from matcher.realtime import hub as hub_module
from matcher.realtime.hub import MarketDataHub, _nobody
from tests.realtime.listener import Listener

BOUND = 500
EVENTS = 12_000  # of ~2 KB: far more than the kernel's socket buffers hold
PADDING = "x" * 2_000


async def serve(hub: MarketDataHub) -> tuple[web.AppRunner, str]:
    app = web.Application()
    hub.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"127.0.0.1:{port}"


async def stalled_client(
    session: aiohttp.ClientSession, address: str
) -> aiohttp.ClientWebSocketResponse:
    """Connects, subscribes to ACME's trades, and then never reads again."""
    url = f"ws://{address}/socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(url, max_msg_size=0)
    assert str((await ws.receive(timeout=10)).data).startswith("0{")
    await ws.send_str("40")
    assert str((await ws.receive(timeout=10)).data).startswith("40{")
    await ws.send_str('421["subscribe",{"channel":"trades","symbol":"ACME"}]')
    assert str((await ws.receive(timeout=10)).data).startswith("431")
    return ws


@pytest.mark.parametrize("path", ["deliver", "emit"])
def test_a_client_that_stops_reading_is_dropped_and_a_reader_misses_nothing(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """`deliver`: how the hub sends the matcher's events and depth (and the events other
    hubs send through Redis); `emit`: python-socketio's own path, which acks use."""
    monkeypatch.setattr(hub_module, "MAX_QUEUED_PACKETS", BOUND)

    async def scenario() -> None:
        hub = MarketDataHub(load_settings({"SBS_SYMBOLS": "ACME"}), redis_url, _nobody)
        runner, address = await serve(hub)
        try:
            reader = await Listener(f"http://{address}").connect()
            assert (await reader.subscribe("trades", "ACME"))["ok"] is True
            async with aiohttp.ClientSession() as session:
                stalled_ws = await stalled_client(session, address)  # held: never collected
                stalled = set(hub.sio.eio.sockets) - {reader.client.eio.sid}
                assert len(stalled) == 1
                for n in range(EVENTS):
                    trade = {"symbol": "ACME", "sequence": n, "padding": PADDING}
                    if path == "deliver":
                        hub.sio.deliver("trade", trade, "trades:ACME")
                        await asyncio.sleep(0)  # as between the outbox's rounds
                    else:
                        await hub.sio.emit("trade", trade, room="trades:ACME", ignore_queue=True)
                heard = await reader.wait_for("trade", EVENTS, timeout=60)
                assert [t["sequence"] for t in heard] == list(range(EVENTS))
                assert reader.client.connected
                assert not stalled & set(hub.sio.eio.sockets)  # the stalled one is gone
                assert not stalled_ws.closed  # dropped by the server, not by its client
            await reader.close()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
