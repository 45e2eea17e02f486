"""Hostile and mistaken input: each gets DESIGN §2's error object with a stable code and the
right 4xx status, never a 500, and nothing reaches the queue."""

from __future__ import annotations

import json

import httpx
import pytest

from lib import keys
from tests.api_harness import Api

VALID = {"symbol": "ACME", "side": "buy", "quantity": 10, "price": "100.25"}

# (what is sent instead of the valid order's field or body, expected status, code, field)
PLACE_CASES: list[tuple[str, object, int, str, str | None]] = [
    ("price zero", {**VALID, "price": 0}, 400, "invalid_price", "price"),
    ("price negative", {**VALID, "price": -1}, 400, "invalid_price", "price"),
    ("price off tick", {**VALID, "price": 100.005}, 400, "price_off_tick", "price"),
    ("price off tick as text", {**VALID, "price": "100.005"}, 400, "price_off_tick", "price"),
    ("price above maximum", {**VALID, "price": 1000000.01}, 400, "price_above_maximum", "price"),
    ("price text", {**VALID, "price": "abc"}, 400, "invalid_price", "price"),
    ("price exponent text", {**VALID, "price": "1e2"}, 400, "invalid_price", "price"),
    ("price bool", {**VALID, "price": True}, 400, "invalid_price", "price"),
    ("price object", {**VALID, "price": {"v": 1}}, 400, "invalid_price", "price"),
    ("quantity 20 digits", {**VALID, "quantity": 10**19}, 400, "invalid_quantity", "quantity"),
    ("quantity zero", {**VALID, "quantity": 0}, 400, "invalid_quantity", "quantity"),
    ("quantity float", {**VALID, "quantity": 10.0}, 400, "invalid_quantity", "quantity"),
    ("quantity text", {**VALID, "quantity": "10"}, 400, "invalid_quantity", "quantity"),
    ("quantity over bound", {**VALID, "quantity": 10**9 + 1}, 400, "invalid_quantity", "quantity"),
    ("side text", {**VALID, "side": "BUY"}, 400, "invalid_side", "side"),
    ("side bool", {**VALID, "side": True}, 400, "invalid_side", "side"),
    ("side two", {**VALID, "side": 2}, 400, "invalid_side", "side"),
    ("missing side", {k: v for k, v in VALID.items() if k != "side"}, 400, "missing_field", "side"),
    ("missing quantity", {"side": "buy", "price": 1}, 400, "missing_field", "quantity"),
    ("limit without price", {"side": "buy", "quantity": 1}, 400, "limit_order_without_price",
     "price"),
    ("typo pirce", {"side": "buy", "quantity": 1, "pirce": 1}, 400, "unknown_field", "pirce"),
    ("extra field", {**VALID, "account": "bob"}, 400, "unknown_field", "account"),
    ("unknown symbol", {**VALID, "symbol": "NOPE"}, 400, "unknown_symbol", "symbol"),
    ("symbol number", {**VALID, "symbol": 7}, 400, "invalid_field", "symbol"),
    ("market with price", {**VALID, "type": "market"}, 400, "market_order_with_price", "price"),
    ("bad type", {**VALID, "type": "stop"}, 400, "invalid_field", "type"),
    ("bad tif", {**VALID, "time_in_force": "DAY"}, 400, "invalid_field", "time_in_force"),
    ("post only IOC", {**VALID, "post_only": True, "time_in_force": "IOC"}, 400,
     "invalid_post_only", "post_only"),
    ("client id too long", {**VALID, "client_order_id": "x" * 65}, 400, "invalid_field",
     "client_order_id"),
    ("array body", [VALID], 400, "invalid_field", None),
    ("string body", "order", 400, "invalid_field", None),
]  # fmt: skip


def queue_length(api: Api) -> int:
    import redis

    client = redis.Redis.from_url(api.env.redis_url)
    try:
        return int(client.xlen(keys.command_stream(0)))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [case[1:] for case in PLACE_CASES],
    ids=[case[0] for case in PLACE_CASES],
)
def test_a_bad_place_is_refused_with_its_code(
    api: Api, body: object, status: int, code: str, field: str | None
) -> None:
    client = api.trader()
    before = queue_length(api)
    response = client.post("/api/orders", json=body)
    assert response.status_code == status, response.text
    assert response.json() == {
        "success": False,
        "error": {"code": code, "message": response.json()["error"]["message"], "field": field},
    }
    assert response.json()["error"]["message"]
    assert queue_length(api) == before  # nothing was enqueued
    assert client.get("/api/orders").json()["data"] == []


RAW_CASES: list[tuple[str, bytes, str, int, str]] = [
    ("not json", b"side=buy", "application/json", 400, "invalid_json"),
    ("NaN", b'{"side":"buy","quantity":1,"price":NaN}', "application/json", 400, "invalid_json"),
    ("Infinity", b'{"side":"buy","quantity":1,"price":Infinity}', "application/json", 400,
     "invalid_json"),
    ("duplicate field", b'{"side":"buy","quantity":1,"price":1,"price":2}', "application/json",
     400, "invalid_json"),
    ("deep nesting", b"[" * 15000, "application/json", 400, "invalid_json"),
    ("invalid utf-8", b'{"side":"\xff"}', "application/json", 400, "invalid_json"),
    ("empty body", b"", "application/json", 400, "invalid_json"),
    ("wrong content type", json.dumps(VALID).encode(), "text/plain", 415,
     "unsupported_media_type"),
    ("form content type", b"side=buy", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type"),
    ("over 16 KiB", b'{"side":"buy","quantity":1,"price":1,"x":"' + b"a" * 17000 + b'"}',
     "application/json", 413, "body_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [case[1:] for case in RAW_CASES],
    ids=[case[0] for case in RAW_CASES],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    api: Api, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = api.trader().post(
        "/api/orders", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == code


def test_1e309_is_a_number_above_every_maximum(api: Api) -> None:
    body = b'{"side":"buy","quantity":1,"price":1e309}'
    response = api.trader().post(
        "/api/orders", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "price_above_maximum"


def test_a_10000_character_order_id_is_refused_not_looked_up(api: Api) -> None:
    client = api.trader()
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, "/api/orders/" + "7" * 10_000, json={"price": 1})
        assert response.status_code == 400, method
        assert response.json()["error"]["code"] == "invalid_order_id"


def test_odd_order_ids_in_the_path_are_refused(api: Api) -> None:
    client = api.trader()
    for path in ("/api/orders/a%20b", "/api/orders/%00", "/api/orders/..%2F..", "/api/orders/ü"):
        response = client.get(path)
        assert response.status_code in (400, 404), path
        assert response.json()["success"] is False


def test_a_huge_header_is_a_client_error(api: Api) -> None:
    client = api.trader()
    response = client.get("/api/orders", headers={"X-Padding": "a" * 100_000})
    assert 400 <= response.status_code < 500
    long_key = httpx.get(
        f"{api.url}/api/orders", headers={"Authorization": "Bearer " + "k" * 30_000}
    )
    assert long_key.status_code == 401


def test_wrong_method_is_405_with_allow(api: Api) -> None:
    client = api.trader()
    response = client.patch("/api/orders")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"] and "GET" in response.headers["Allow"]
    assert httpx.post(f"{api.url}/api/trades").status_code == 405


def test_bad_list_parameters(api: Api) -> None:
    client = api.trader()
    cases = [
        ({"limit": "0"}, "invalid_limit"), ({"limit": "1001"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"), ({"limit": "ten"}, "invalid_limit"),
        ({"cursor": "garbage!"}, "invalid_cursor"), ({"status": "done"}, "invalid_field"),
        ({"side": "1"}, "invalid_side"), ({"symbol": "NOPE"}, "unknown_symbol"),
        ({"colour": "red"}, "unknown_field"),
    ]  # fmt: skip
    for params, code in cases:
        response = client.get("/api/orders", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == code, params
    twice = client.get("/api/orders?limit=1&limit=2")
    assert twice.status_code == 400
    # A cursor of the trade list is not one of the order list.
    trades_cursor = _a_trade_cursor(api)
    assert client.get("/api/orders", params={"cursor": trades_cursor}).status_code == 400
    bad_levels = httpx.get(f"{api.url}/api/book", params={"levels": "51"})
    assert bad_levels.status_code == 400 and bad_levels.json()["error"]["field"] == "levels"


def _a_trade_cursor(api: Api) -> str:
    maker, taker = api.trader(), api.trader()
    for _ in range(2):
        maker.post("/api/orders", json={"symbol": "S10", "side": "sell", "quantity": 1, "price": 1})
        taker.post("/api/orders", json={"symbol": "S10", "side": "buy", "quantity": 1, "price": 1})
    page = httpx.get(f"{api.url}/api/trades", params={"symbol": "S10", "limit": "1"}).json()
    cursor: str = page["next_cursor"]
    assert cursor
    return cursor


def test_bad_modify_bodies(api: Api) -> None:
    client = api.trader()
    order_id = client.post("/api/orders", json=VALID).json()["order_id"]
    cases = [
        ({}, 400, "nothing_to_modify"),
        ({"updated_price": "100.001"}, 400, "price_off_tick"),
        ({"updated_price": 1, "price": 2}, 400, "invalid_field"),
        ({"updated_quantity": 0}, 400, "invalid_quantity"),
        ({"order_id": order_id, "price": 1}, 400, "unknown_field"),
        ({"side": "sell"}, 400, "unknown_field"),
    ]
    for body, status, code in cases:
        response = client.put(f"/api/orders/{order_id}", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == code, body
    order = client.get(f"/api/orders/{order_id}").json()["order"]
    assert (order["order_price"], order["order_quantity"]) == (100.25, 10)  # untouched
