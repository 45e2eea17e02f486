"""Read-your-writes: once a write has answered, the same account's next list (and any trade
list) shows its effect at once, although MongoDB's projections trail the replies.

The first test runs the issue's sequence with no pause. The other two make the projector's
lag certain instead of likely: they put MongoDB back to where a lagging projector would
leave it (the written documents gone, the progress document behind), and the lists must
still be complete, from the recent-writes index in Redis.
"""

from __future__ import annotations

import httpx

from tests.api_harness import Api


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["order_id"] for item in response.json()["data"]]


def by_id(client: httpx.Client, **params: str) -> dict[str, dict[str, object]]:
    data = client.get("/api/orders", params=params).json()["data"]
    return {order["order_id"]: order for order in data}


def test_each_write_shows_in_the_next_list_without_a_pause(api: Api) -> None:
    alice, bob = api.trader(), api.trader()
    symbol = "S40"
    for round_ in range(10):
        price = 40 + round_
        placed = alice.post(
            "/api/orders", json={"symbol": symbol, "side": "sell", "quantity": 10, "price": price}
        ).json()["order"]
        assert by_id(alice)[placed["order_id"]]["status"] == "open"

        modified = alice.put(f"/api/orders/{placed['order_id']}", json={"quantity": 6}).json()
        assert by_id(alice)[placed["order_id"]]["order_quantity"] == 6
        assert modified["order"]["order_quantity"] == 6

        crossing = bob.post(
            "/api/orders", json={"symbol": symbol, "side": "buy", "quantity": 2, "price": price}
        ).json()["order"]
        assert by_id(bob)[crossing["order_id"]]["status"] == "filled"
        assert by_id(alice)[placed["order_id"]]["traded_quantity"] == 2
        trades = httpx.get(
            f"{api.url}/api/trades", params={"order_id": crossing["order_id"]}
        ).json()["data"]
        assert [(t["qty"], t["price"]) for t in trades] == [(2, price)]

        cancelled = alice.delete(f"/api/orders/{placed['order_id']}")
        assert cancelled.status_code == 200
        mine = by_id(alice)
        assert mine[placed["order_id"]]["status"] == "cancelled"
        assert placed["order_id"] not in by_id(alice, status="open")
        assert placed["order_id"] in by_id(alice, status="cancelled")
    assert len(by_id(alice)) == 10 and len(by_id(bob)) == 10


def test_lists_are_complete_while_the_projector_lags(api: Api) -> None:
    alice, bob = api.trader(), api.trader()
    symbol = "S41"
    resting = [
        alice.post(
            "/api/orders", json={"symbol": symbol, "side": "sell", "quantity": 5, "price": 41 + i}
        ).json()["order_id"]
        for i in range(3)
    ]
    taker = bob.post(
        "/api/orders", json={"symbol": symbol, "side": "buy", "quantity": 7, "price": 42}
    ).json()["order"]
    alice.delete(f"/api/orders/{resting[2]}")
    before_orders = by_id(alice)
    before_trades = httpx.get(f"{api.url}/api/trades", params={"symbol": symbol}).json()["data"]
    assert len(before_trades) == 2
    api.matcher.wait_projected()

    # Roll MongoDB back to "not projected yet": documents gone, progress behind them.
    db = api.env.db()
    everything = [*resting, taker["order_id"]]
    db.orders.delete_many({"_id": {"$in": everything}})
    db.open_orders.delete_many({"_id": {"$in": everything}})
    db.trades.delete_many({"symbol": symbol})
    progress = db.matcher_state.find_one({"_id": "shard:0"})
    assert progress is not None
    db.matcher_state.update_one(
        {"_id": "shard:0"},
        {"$set": {"changed_us": 0, "sequence": min(t["sequence"] for t in before_trades) - 1}},
    )
    try:
        assert by_id(alice) == before_orders
        assert by_id(alice)[resting[0]]["status"] == "filled"
        assert by_id(alice)[resting[2]]["status"] == "cancelled"
        after_trades = httpx.get(f"{api.url}/api/trades", params={"symbol": symbol}).json()
        assert after_trades["data"] == before_trades
        assert ids(bob.get("/api/orders")) == [taker["order_id"]]
    finally:  # what the projector had written, so later tests see a consistent store
        restored = {"changed_us": progress.get("changed_us", 0), "sequence": progress["sequence"]}
        db.matcher_state.update_one({"_id": "shard:0"}, {"$max": restored})
        db.client.close()


def test_pagination_is_stable_and_complete(api: Api) -> None:
    alice = api.trader()
    placed = [
        alice.post(
            "/api/orders", json={"symbol": "S42", "side": "buy", "quantity": 1, "price": 1 + i}
        ).json()["order_id"]
        for i in range(25)
    ]
    seen: list[str] = []
    cursor = None
    inserted_meanwhile = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = alice.get("/api/orders", params=params).json()
        seen += [order["order_id"] for order in page["data"]]
        if inserted_meanwhile is None:  # a newer order must not shift the later pages
            inserted_meanwhile = alice.post(
                "/api/orders", json={"symbol": "S42", "side": "buy", "quantity": 1, "price": 99}
            ).json()["order_id"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(placed))  # newest first, each once
    assert ids(alice.get("/api/orders", params={"limit": "1"}))[0] == inserted_meanwhile
