"""Subscription requests: a bad one gets an error in its ack and the connection stays up;
the number of subscriptions per connection is bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api_harness import Api
from tests.realtime.listener import Listener

BAD_REQUESTS: list[tuple[Any, str]] = [
    ({"channel": "quotes", "symbol": "ACME"}, "invalid_field"),
    ({"channel": "trades", "symbol": "NOPE"}, "unknown_symbol"),
    ({"channel": "trades", "symbol": 7}, "unknown_symbol"),
    ({"channel": ["trades"]}, "invalid_field"),
    ({"channel": "trades", "symbol": "ACME", "extra": 1}, "unknown_field"),
    ("trades:ACME", "invalid_field"),
    (None, "invalid_field"),
    ([1, 2, 3], "invalid_field"),
]


def test_bad_requests_are_refused_in_the_ack_and_the_connection_stays(api: Api) -> None:
    async def scenario() -> tuple[list[Any], Any, bool]:
        listener = await Listener(api.realtime_url).connect()
        acks = [await listener.client.call("subscribe", request) for request, _ in BAD_REQUESTS]
        good = await listener.subscribe("trades")  # symbol optional: the default symbol
        connected = listener.client.connected
        await listener.close()
        return acks, good, connected

    acks, good, connected = asyncio.run(scenario())
    for ack, (request, code) in zip(acks, BAD_REQUESTS, strict=True):
        assert ack["ok"] is False, request
        assert ack["error"]["code"] == code, request
        assert ack["error"]["message"]
    assert good == {"ok": True}
    assert connected


def test_subscriptions_per_connection_are_bounded(api: Api) -> None:
    from matcher.realtime.hub import CHANNELS, MAX_SUBSCRIPTIONS

    symbols = [s["symbol"] for s in api.client().get("/api/config").json()["symbols"]]
    rooms = [(channel, symbol) for channel in CHANNELS for symbol in symbols]
    assert len(rooms) > MAX_SUBSCRIPTIONS

    async def scenario() -> tuple[list[Any], Any, Any, Any, bool]:
        listener = await Listener(api.realtime_url).connect()
        acks = []
        for channel, symbol in rooms[: MAX_SUBSCRIPTIONS + 1]:
            acks.append(await listener.subscribe(channel, symbol))
            await asyncio.sleep(0.025)  # a steady client, not a flood
        repeat = await listener.subscribe(*rooms[0])  # already subscribed: still fine
        await listener.client.call("unsubscribe", {"channel": rooms[0][0], "symbol": rooms[0][1]})
        freed = await listener.subscribe(*rooms[MAX_SUBSCRIPTIONS])
        connected = listener.client.connected
        await listener.close()
        return acks, repeat, freed, acks[-1], connected

    acks, repeat, freed, refused, connected = asyncio.run(scenario())
    assert all(ack["ok"] for ack in acks[:MAX_SUBSCRIPTIONS])
    assert refused["ok"] is False
    assert refused["error"]["code"] == "too_many_subscriptions"
    assert repeat == {"ok": True}
    assert freed["ok"] is True
    assert connected
