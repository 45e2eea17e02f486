"""A kill -9 of the matcher mid-stream, with the matcher serving Socket.IO itself (one
shard): the client's connection drops with it, so the client follows the documented
protocol - reconnect, subscribe again, fill the gap from GET /api/trades?after_sequence -
and ends with every committed trade, each once by unique_id. (With the standalone server
the connection survives the matcher and republished trades arrive by themselves:
tests/realtime/test_sharded.py.)"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tests.api_harness import Api
from tests.realtime.listener import Listener
from tests.realtime.rest import rest_trades

SYMBOL = "S76"


def test_a_client_misses_no_trade_across_a_kill_9(api: Api) -> None:
    maker, taker = api.trader(), api.trader()
    stop = threading.Event()

    def flow() -> None:
        while not stop.is_set():
            for client, side in ((maker, "sell"), (taker, "buy")):
                response = client.post(
                    "/api/orders", json={"symbol": SYMBOL, "side": side, "quantity": 1, "price": 7}
                )
                assert response.status_code in (201, 202), response.text
            time.sleep(0.01)

    async def scenario() -> tuple[dict[str, dict[str, Any]], int]:
        listener = Listener(api.realtime_url)
        reconnects = 0

        async def resubscribe() -> None:
            nonlocal reconnects
            reconnects += 1
            await listener.subscribe("trades", SYMBOL)

        listener.client.on("connect", resubscribe)
        await listener.connect()
        worker = threading.Thread(target=flow)
        worker.start()
        try:
            await listener.wait_for("trade", 10, timeout=30)
            api.matcher.kill()
            await asyncio.sleep(0.5)
            api.matcher.start()
            await asyncio.to_thread(api.matcher.wait_role, "leader")
            count = len(listener.of("trade"))
            await listener.wait_for("trade", count + 10, timeout=30)
        finally:
            stop.set()
            await asyncio.to_thread(worker.join)
        await asyncio.to_thread(api.matcher.wait_projected)
        seen: dict[str, dict[str, Any]] = {}
        for trade in listener.of("trade"):
            assert seen.setdefault(trade["unique_id"], trade) == trade  # a repeat is the same
        # The gap: everything after the last sequence heard before each hole; simplest,
        # and what a client does, is after the highest sequence it holds contiguously.
        sequences = sorted(t["sequence"] for t in seen.values())
        rest = {t["unique_id"]: t for t in await asyncio.to_thread(rest_trades, api, SYMBOL)}
        contiguous = 0
        for sequence in sorted(t["sequence"] for t in rest.values()):
            if sequence not in sequences:
                break
            contiguous = sequence
        for trade in await asyncio.to_thread(rest_trades, api, SYMBOL, contiguous):
            seen.setdefault(trade["unique_id"], trade)
        await listener.close()
        return seen, reconnects

    seen, reconnects = asyncio.run(scenario())
    assert reconnects >= 2  # the first connect, and at least one after the kill
    rest = {t["unique_id"]: t for t in rest_trades(api, SYMBOL)}
    assert seen == rest
