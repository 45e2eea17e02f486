"""The original system's routes (vercel.json rewrites): same functions, same answers, with
order_id in the body (modify, cancel) or the query string / body (fetch_order)."""

from __future__ import annotations

import httpx

from tests.api_harness import Api


def test_the_original_routes_place_fetch_modify_cancel_and_list(api: Api) -> None:
    alice = api.trader()
    placed = alice.post(
        "/api/place_order", json={"symbol": "S60", "side": 1, "quantity": 8, "price": 60}
    )
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]

    by_query = alice.get("/api/fetch_order", params={"order_id": order_id})
    assert by_query.status_code == 200
    by_body = alice.request("GET", "/api/fetch_order", json={"order_id": order_id})
    assert by_body.status_code == 200
    assert by_query.json() == by_body.json() == alice.get(f"/api/orders/{order_id}").json()

    modified = alice.put("/api/modify_order", json={"order_id": order_id, "updated_price": 61})
    assert modified.status_code == 200
    assert modified.json()["order"]["order_price"] == 61

    listed = alice.get("/api/fetch_allOrders").json()
    assert [o["order_id"] for o in listed["data"]] == [order_id]

    cancelled = alice.request("DELETE", "/api/cancel_order", json={"order_id": order_id})
    assert cancelled.status_code == 200
    assert cancelled.json()["order"]["status"] == "cancelled"

    trades = httpx.get(f"{api.url}/api/fetch_trades", params={"symbol": "S60"})
    assert trades.status_code == 200 and trades.json()["data"] == []


def test_the_original_routes_refuse_what_they_cannot_use(api: Api) -> None:
    alice = api.trader()
    order_id = alice.post(
        "/api/place_order", json={"symbol": "S61", "side": "sell", "quantity": 1, "price": 5}
    ).json()["order_id"]
    cases = [
        ("PUT", "/api/modify_order", {"updated_price": 6}, 400, "missing_field"),
        ("PUT", "/api/modify_order", {"order_id": 7, "price": 6}, 400, "invalid_order_id"),
        ("DELETE", "/api/cancel_order", {}, 400, "missing_field"),
        ("DELETE", "/api/cancel_order", {"order_id": order_id, "x": 1}, 400, "unknown_field"),
        ("DELETE", "/api/cancel_order", None, 400, "missing_field"),
        ("GET", "/api/fetch_order", None, 400, "missing_field"),
        ("PUT", "/api/modify_order", {"order_id": "o" + "1" * 28, "price": 6}, 404,
         "unknown_order"),
        ("POST", "/api/cancel_order", {"order_id": order_id}, 405, "method_not_allowed"),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        response = alice.request(method, path, json=body)
        assert response.status_code == status, (method, path, body, response.text)
        assert response.json()["error"]["code"] == code, (method, path, body)
    assert alice.get(f"/api/orders/{order_id}").json()["order"]["status"] == "open"
