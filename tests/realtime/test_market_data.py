"""Socket.IO market data against the running stack, with real clients: trades equal the
REST trades field for field, depth equals GET /api/book and comes every second, rooms keep
symbols apart, the private channel keeps accounts apart."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import socketio

from tests.api_harness import Api
from tests.realtime.listener import Listener
from tests.realtime.rest import aplace, rest_trades


def test_trade_events_are_the_rest_trades_in_sequence_order(api: Api) -> None:
    symbol = "S70"
    maker, taker = api.trader(), api.trader()

    async def scenario() -> list[Any]:
        listener = await Listener(api.realtime_url).connect()
        assert await listener.subscribe("trades", symbol) == {"ok": True}
        for price in (10, 11, 12):
            await aplace(maker, symbol=symbol, side="sell", quantity=4, price=price)
        await aplace(taker, symbol=symbol, side="buy", quantity=10, price=12)  # three trades
        await aplace(taker, symbol=symbol, side="buy", quantity=2, price=12)  # one more
        await listener.wait_for("trade", 4)
        await asyncio.sleep(0.3)  # nothing beyond them
        await listener.close()
        return listener.of("trade")

    heard = asyncio.run(scenario())
    assert heard == rest_trades(api, symbol)  # every field, in sequence order
    assert [t["qty"] for t in heard] == [4, 4, 2, 2]
    assert [t["sequence"] for t in heard] == sorted(t["sequence"] for t in heard)


def test_depth_comes_every_second_and_equals_the_book(api: Api) -> None:
    symbol = "S71"
    trader = api.trader()

    async def scenario() -> tuple[dict[str, Any], list[float], list[dict[str, Any]]]:
        await aplace(trader, symbol=symbol, side="buy", quantity=3, price=9)
        await aplace(trader, symbol=symbol, side="buy", quantity=2, price=9)
        await aplace(trader, symbol=symbol, side="sell", quantity=1, price=15)
        listener = await Listener(api.realtime_url).connect()
        ack = await listener.subscribe("depth", symbol)
        await listener.wait_for("depth", 6, timeout=10)
        await listener.close()
        times = [h.at for h in listener.heard if h.event == "depth"]
        return ack, times, listener.of("depth")

    ack, times, events = asyncio.run(scenario())
    book = httpx.get(f"{api.url}/api/book", params={"symbol": symbol}).json()
    expected = {k: book[k] for k in ("symbol", "bids", "asks", "timestamp", "sequence")}
    assert ack == {"ok": True, "snapshot": expected}
    assert events == [expected] * len(events)  # sent even when nothing changed
    assert expected["bids"] == [{"price": 9, "quantity": 5}]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 5 and all(0.7 < gap < 1.3 for gap in gaps), gaps


def test_rooms_keep_symbols_apart(api: Api) -> None:
    maker, taker = api.trader(), api.trader()

    async def scenario() -> tuple[list[Any], list[Any]]:
        only_a = await Listener(api.realtime_url).connect()
        only_b = await Listener(api.realtime_url).connect()
        await only_a.subscribe("trades", "S72")
        await only_b.subscribe("trades", "S73")
        for symbol in ("S72", "S73", "S72"):
            await aplace(maker, symbol=symbol, side="sell", quantity=1, price=5)
            await aplace(taker, symbol=symbol, side="buy", quantity=1, price=5)
        await only_a.wait_for("trade", 2)
        await only_b.wait_for("trade", 1)
        await asyncio.sleep(0.3)
        await only_a.close()
        await only_b.close()
        return only_a.of("trade"), only_b.of("trade")

    a, b = asyncio.run(scenario())
    assert [t["symbol"] for t in a] == ["S72", "S72"]
    assert [t["symbol"] for t in b] == ["S73"]
    assert a == rest_trades(api, "S72")


def test_unsubscribe_stops_the_events(api: Api) -> None:
    maker, taker = api.trader(), api.trader()

    async def scenario() -> list[Any]:
        listener = await Listener(api.realtime_url).connect()
        await listener.subscribe("trades", "S74")
        await aplace(maker, symbol="S74", side="sell", quantity=2, price=5)
        await aplace(taker, symbol="S74", side="buy", quantity=1, price=5)
        await listener.wait_for("trade", 1)
        ack = await listener.client.call("unsubscribe", {"channel": "trades", "symbol": "S74"})
        assert ack == {"ok": True}
        await aplace(taker, symbol="S74", side="buy", quantity=1, price=5)
        await asyncio.sleep(0.5)
        await listener.close()
        return listener.of("trade")

    assert len(asyncio.run(scenario())) == 1


def test_the_private_channel_shows_only_the_accounts_own_orders(api: Api) -> None:
    _, alice_key = api.new_account("alice")
    alice = api.client(alice_key)
    bob = api.trader("bob")

    async def scenario() -> list[Any]:
        listener = await Listener(api.realtime_url, auth={"api_key": alice_key}).connect()
        resting = await aplace(alice, symbol="S75", side="sell", quantity=5, price=20)
        await aplace(bob, symbol="S75", side="buy", quantity=2, price=20)  # alice partly filled
        await aplace(bob, symbol="S75", side="buy", quantity=7, price=19)  # bob's alone
        await asyncio.to_thread(alice.delete, f"/api/orders/{resting['order_id']}")
        await listener.wait_for("order", 3)
        await asyncio.sleep(0.5)
        await listener.close()
        return listener.of("order")

    heard = asyncio.run(scenario())
    assert {o["order_id"] for o in heard} == {heard[0]["order_id"]}  # alice's order only
    assert [o["status"] for o in heard] == ["open", "partially_filled", "cancelled"]
    final = alice.get(f"/api/orders/{heard[0]['order_id']}").json()["order"]
    assert heard[-1] == final  # the REST order object
    assert "account" not in heard[-1]


def test_a_bad_or_revoked_key_is_refused_at_connect(api: Api) -> None:
    from lib import accounts

    _, key = api.new_account()
    db = api.env.db()
    key_id = accounts.key_id_of(key)
    assert key_id is not None
    accounts.revoke_key(db, key_id)
    db.client.close()

    async def refused(auth: dict[str, Any]) -> bool:
        listener = Listener(api.realtime_url, auth=auth)
        try:
            await listener.connect()
        except socketio.exceptions.ConnectionError:
            return not listener.client.connected
        await listener.close()
        return False

    async def scenario() -> list[bool]:
        await asyncio.sleep(1.1)  # past the per-process key cache
        return [
            await refused({"api_key": key}),
            await refused({"api_key": "sbs_00000000_" + "x" * 43}),
            await refused({"api_key": 12}),
            await refused({"key": "x"}),
        ]

    assert asyncio.run(scenario()) == [True, True, True, True]
