"""Idempotency-Key and client_order_id over HTTP: retries, also concurrent ones, never make
a second order; a live order's client_order_id is the account's alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api_harness import Api

ORDER = {"symbol": "S30", "side": "buy", "quantity": 4, "price": "30.5"}


def test_a_retried_place_returns_the_first_result(api: Api) -> None:
    client = api.trader()
    first = client.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(client.get("/api/orders").json()["data"]) == 1
    # The same request with another key is another order.
    other = client.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k-2"})
    assert other.json()["order_id"] != first.json()["order_id"]
    assert len(client.get("/api/orders").json()["data"]) == 2


def test_concurrent_retries_make_one_order(api: Api) -> None:
    _, key = api.new_account()
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "burst-1"}

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.url, headers=headers, timeout=30) as client:
            return client.post("/api/orders", json=ORDER)

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(send, range(12)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert len({r.text for r in responses}) == 1  # byte-identical answers
    listed = api.client(key).get("/api/orders").json()["data"]
    assert [o["order_id"] for o in listed] == [responses[0].json()["order_id"]]


def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    client = api.trader()
    client.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "k-9"})
    changed = client.post(
        "/api/orders", json={**ORDER, "quantity": 5}, headers={"Idempotency-Key": "k-9"}
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert len(client.get("/api/orders").json()["data"]) == 1
    # Same meaning, other spelling: the same request.
    respelled = client.post(
        "/api/orders",
        json={"price": 30.5, "quantity": 4, "side": 1, "symbol": "S30"},
        headers={"Idempotency-Key": "k-9"},
    )
    assert respelled.status_code == 201


def test_keys_are_per_account(api: Api) -> None:
    a, b = api.trader(), api.trader()
    first = a.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "shared"})
    second = b.post("/api/orders", json=ORDER, headers={"Idempotency-Key": "shared"})
    assert first.json()["order_id"] != second.json()["order_id"]
    assert b.get(f"/api/orders/{first.json()['order_id']}").status_code == 404


def test_a_retried_modify_or_cancel_is_applied_once(api: Api) -> None:
    client = api.trader()
    order_id = client.post("/api/orders", json=ORDER).json()["order_id"]
    modify = [
        client.put(f"/api/orders/{order_id}", json={"price": 31}, headers={"Idempotency-Key": "m"})
        for _ in range(3)
    ]
    assert {r.status_code for r in modify} == {200}
    assert len({r.text for r in modify}) == 1
    cancels = [
        client.delete(f"/api/orders/{order_id}", headers={"Idempotency-Key": "c"}) for _ in range(2)
    ]
    assert [r.status_code for r in cancels] == [200, 200]
    assert cancels[0].json() == cancels[1].json()
    # A key of a modify is not a key of a cancel.
    reused = client.delete(f"/api/orders/{order_id}", headers={"Idempotency-Key": "m"})
    assert reused.status_code == 422


def test_bad_idempotency_keys_are_refused(api: Api) -> None:
    client = api.trader()
    for key in ("x" * 65, "has space", "tab\tkey"):
        response = client.post("/api/orders", json=ORDER, headers={"Idempotency-Key": key})
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "Idempotency-Key"
    assert client.get("/api/orders").json()["data"] == []


def test_client_order_id_is_unique_among_live_orders(api: Api) -> None:
    client, other = api.trader(), api.trader()
    body = {**ORDER, "client_order_id": "my-1"}
    first = client.post("/api/orders", json=body)
    assert first.status_code == 201
    assert first.json()["order"]["client_order_id"] == "my-1"
    duplicate = client.post("/api/orders", json={**body, "price": 29})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate_client_order_id"
    assert other.post("/api/orders", json=body).status_code == 201  # other account: fine
    # Once the holder has ended, the id is free again.
    assert client.delete(f"/api/orders/{first.json()['order_id']}").status_code == 200
    reused = client.post("/api/orders", json=body)
    assert reused.status_code == 201
    assert reused.json()["order_id"] != first.json()["order_id"]


def test_concurrent_places_with_one_client_order_id_make_one_order(api: Api) -> None:
    _, key = api.new_account()
    body = {**ORDER, "client_order_id": "race"}

    def send(_: int) -> int:
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}) as c:
            return c.post("/api/orders", json=body, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [201] + [409] * 7
    assert len(api.client(key).get("/api/orders").json()["data"]) == 1


def test_an_order_that_ends_at_once_frees_its_client_order_id(api: Api) -> None:
    client = api.trader()
    body = {**ORDER, "symbol": "S31", "time_in_force": "IOC", "client_order_id": "ioc"}
    first = client.post("/api/orders", json=body)
    assert first.json()["order"]["status"] == "cancelled"
    assert client.post("/api/orders", json=body).status_code == 201
