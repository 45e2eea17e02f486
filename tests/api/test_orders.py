"""Place, fetch, modify, cancel and list over HTTP, with the real matcher behind the API.

Expected values come from the request and the matching rules (price-time priority, the
maker's price), never from the code under test."""

from __future__ import annotations

import httpx

from tests.api_harness import Api


def place(client: httpx.Client, **order: object) -> httpx.Response:
    return client.post("/api/orders", json={"symbol": "ACME", **order})


def test_a_resting_order_is_201_with_the_order_as_it_stands(api: Api) -> None:
    alice = api.trader()
    response = place(alice, side="buy", quantity=100, price="101.25", symbol="GLOBEX")
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    order = body["order"]
    assert order["order_id"] == body["order_id"]
    assert order["symbol"] == "GLOBEX"
    assert (order["side"], order["type"], order["time_in_force"]) == ("buy", "limit", "GTC")
    assert (order["order_price"], order["order_quantity"]) == (101.25, 100)
    assert (order["traded_quantity"], order["remaining_quantity"]) == (0, 100)
    assert order["status"] == "open" and order["order_alive"] is True
    assert order["average_traded_price"] is None and order["cancel_reason"] is None
    assert "account" not in order
    fetched = alice.get(f"/api/orders/{order['order_id']}")
    assert fetched.status_code == 200
    assert fetched.json()["order"] == order


def test_crossing_orders_trade_at_the_makers_price(api: Api) -> None:
    maker, taker = api.trader(), api.trader()
    symbol = "S01"
    resting = place(maker, symbol=symbol, side="sell", quantity=30, price=50.5).json()["order"]
    response = place(taker, symbol=symbol, side=1, quantity=50, price="51")
    assert response.status_code == 201
    order = response.json()["order"]
    assert (order["traded_quantity"], order["remaining_quantity"]) == (30, 20)
    assert order["average_traded_price"] == 50.5
    assert order["status"] == "partially_filled"
    trades = httpx.get(f"{api.url}/api/trades", params={"order_id": order["order_id"]}).json()
    assert len(trades["data"]) == 1
    trade = trades["data"][0]
    assert trade["price"] == 50.5 and trade["qty"] == 30
    assert trade["bid_order_id"] == order["order_id"]
    assert trade["ask_order_id"] == resting["order_id"]
    assert trade["aggressor_side"] == "buy"
    maker_now = maker.get(f"/api/orders/{resting['order_id']}").json()["order"]
    assert maker_now["status"] == "filled" and maker_now["order_alive"] is False


def test_modify_and_cancel_answer_200_with_the_new_state(api: Api) -> None:
    alice = api.trader()
    order_id = place(alice, symbol="S02", side="buy", quantity=10, price=20).json()["order_id"]
    modified = alice.put(f"/api/orders/{order_id}", json={"updated_price": "20.5"})
    assert modified.status_code == 200
    assert modified.json()["order"]["order_price"] == 20.5
    assert modified.json()["order"]["order_quantity"] == 10
    resized = alice.put(f"/api/orders/{order_id}", json={"quantity": 25})
    assert resized.status_code == 200
    assert resized.json()["order"]["order_quantity"] == 25
    assert resized.json()["order"]["order_price"] == 20.5
    cancelled = alice.delete(f"/api/orders/{order_id}")
    assert cancelled.status_code == 200
    order = cancelled.json()["order"]
    assert order["status"] == "cancelled" and order["cancel_reason"] == "user"
    assert order["order_alive"] is False and order["remaining_quantity"] == 0
    # An ended order can be neither modified nor cancelled: 409, with the order as it is.
    again = alice.delete(f"/api/orders/{order_id}")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_not_live"
    assert again.json()["order"]["status"] == "cancelled"
    late = alice.put(f"/api/orders/{order_id}", json={"price": 21})
    assert late.status_code == 409


def test_immediate_or_cancel_remainders_are_a_successful_place(api: Api) -> None:
    alice = api.trader()
    response = place(alice, symbol="S03", side="buy", quantity=5, price=10, time_in_force="IOC")
    assert response.status_code == 201
    order = response.json()["order"]
    assert order["status"] == "cancelled" and order["cancel_reason"] == "ioc_remainder"
    market = place(alice, symbol="S03", side="sell", quantity=5, type="market")
    assert market.status_code == 201
    assert market.json()["order"]["cancel_reason"] == "no_liquidity"


def test_modify_to_at_or_below_the_traded_quantity_ends_the_order(api: Api) -> None:
    maker, taker = api.trader(), api.trader()
    order_id = place(maker, symbol="S04", side="sell", quantity=10, price=7).json()["order_id"]
    place(taker, symbol="S04", side="buy", quantity=4, price=7)
    response = maker.put(f"/api/orders/{order_id}", json={"updated_quantity": 4})
    assert response.status_code == 200
    order = response.json()["order"]
    assert order["traded_quantity"] == 4 and order["order_alive"] is False


def test_book_shows_levels_summed_per_price_best_first(api: Api) -> None:
    a, b = api.trader(), api.trader()
    for client, side, price, quantity in [
        (a, "buy", 10, 5), (b, "buy", 10, 7), (a, "buy", "9.99", 1),
        (b, "sell", 11, 2), (a, "sell", "10.5", 3),
    ]:  # fmt: skip
        placed = place(client, symbol="S05", side=side, price=price, quantity=quantity)
        assert placed.status_code == 201
    book = httpx.get(f"{api.url}/api/book", params={"symbol": "S05"}).json()
    assert book["bids"] == [{"price": 10, "quantity": 12}, {"price": 9.99, "quantity": 1}]
    assert book["asks"] == [{"price": 10.5, "quantity": 3}, {"price": 11, "quantity": 2}]
    one = httpx.get(f"{api.url}/api/book", params={"symbol": "S05", "levels": "1"}).json()
    assert one["bids"] == [{"price": 10, "quantity": 12}] and len(one["asks"]) == 1


def test_config_lists_every_symbol_with_its_tick(api: Api) -> None:
    config = httpx.get(f"{api.url}/api/config").json()
    symbols = {s["symbol"]: s for s in config["symbols"]}
    assert len(symbols) == 80
    assert config["default_symbol"] == "ACME"
    assert symbols["GLOBEX"]["tick_size"] == 0.05
    assert symbols["INITECH"]["max_price"] == 5000
    assert config["realtime_url"].startswith("http")


def test_health_reports_both_stores(api: Api) -> None:
    response = httpx.get(f"{api.url}/api/health")
    assert response.status_code == 200
    assert response.json() == {"success": True, "checks": {"redis": "ok", "mongodb": "ok"}}


def test_every_one_of_80_symbols_takes_orders(api: Api) -> None:
    alice = api.trader()
    symbols = [s["symbol"] for s in httpx.get(f"{api.url}/api/config").json()["symbols"]]
    for symbol in symbols:
        response = place(alice, symbol=symbol, side="sell", quantity=1, price=4000)
        assert response.status_code == 201, (symbol, response.text)
        assert response.json()["order"]["symbol"] == symbol
    listed = alice.get("/api/orders", params={"limit": "1000"}).json()["data"]
    assert sorted(o["symbol"] for o in listed) == sorted(symbols)
