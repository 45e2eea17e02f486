"""Authentication, account isolation and the per-key rate limit, over HTTP."""

from __future__ import annotations

import time
from typing import Any

from lib import accounts
from lib.keys import rate_key
from tests.api_harness import Api

ORDER = {"symbol": "S20", "side": "buy", "quantity": 3, "price": 12}


def test_order_endpoints_need_a_valid_key(api: Api) -> None:
    anonymous = api.client()
    _, key = api.new_account()
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    refused_headers: list[dict[str, str]] = [
        {},
        {"Authorization": key},
        {"Authorization": f"Basic {key}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": "Bearer"},
    ]
    for headers in refused_headers:
        for method, path in (("POST", "/api/orders"), ("GET", "/api/orders"),
                             ("GET", "/api/orders/o1"), ("DELETE", "/api/orders/o1")):  # fmt: skip
            response = anonymous.request(method, path, json=ORDER, headers=headers)
            assert response.status_code == 401, (headers, method, path)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Market data is public.
    assert anonymous.get("/api/trades").status_code == 200
    assert anonymous.get("/api/book").status_code == 200


def test_another_accounts_order_is_indistinguishable_from_a_missing_one(api: Api) -> None:
    alice, mallory = api.trader("alice"), api.trader("mallory")
    order_id = alice.post("/api/orders", json=ORDER).json()["order_id"]
    missing_id = "o" + "0" * 28
    for order in (order_id, missing_id):
        seen = mallory.get(f"/api/orders/{order}")
        modified = mallory.put(f"/api/orders/{order}", json={"price": 13})
        cancelled = mallory.delete(f"/api/orders/{order}")
        compat = mallory.request("DELETE", "/api/cancel_order", json={"order_id": order})
        fetched = mallory.get("/api/fetch_order", params={"order_id": order})
        for response in (seen, modified, cancelled, compat, fetched):
            assert response.status_code == 404
            error = {"code": "unknown_order", "message": "order not found", "field": "order_id"}
            assert response.json() == {"success": False, "error": error}
    assert mallory.get("/api/orders").json()["data"] == []
    # ... and alice's order is untouched.
    order = alice.get(f"/api/orders/{order_id}").json()["order"]
    assert (order["status"], order["order_price"]) == ("open", 12)


def test_a_revoked_key_stops_working_within_a_second(api: Api) -> None:
    _, key = api.new_account()
    client = api.client(key)
    assert client.get("/api/orders").status_code == 200
    db = api.env.db()
    key_id = accounts.key_id_of(key)
    assert key_id is not None
    assert accounts.revoke_key(db, key_id)
    db.client.close()
    revoked_at = time.monotonic()
    while client.get("/api/orders").status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "a revoked key still works after 1 s"
        time.sleep(0.05)
    assert client.get("/api/orders").json()["error"]["code"] == "unauthorized"


def test_the_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    """The API consults the key's bucket in the shared Redis: once it is empty (drained here
    through the same script, as many concurrent instances would), requests are refused."""
    import redis

    from lib.config import load_settings
    from lib.ratelimit import allow

    settings = load_settings(api.environ)
    _, key = api.new_account()
    client = api.client(key)
    assert client.get("/api/orders").status_code == 200
    key_id = accounts.key_id_of(key)
    assert key_id is not None
    direct = redis.Redis.from_url(api.env.redis_url)
    # Drained at a moment half a second ahead of Redis's clock: the bucket refills only
    # from then on, so no token can come back before the request below arrives.
    seconds, micros = direct.time()
    ahead_ms = seconds * 1000 + micros // 1000 + 500
    while allow(direct, key_id, settings.rate_per_s, settings.rate_burst, ahead_ms).allowed:
        pass
    direct.close()
    refused = client.get("/api/orders")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # The limit is per key: another account is not affected ...
    assert api.trader().get("/api/orders").status_code == 200
    # ... and the bucket refills at the configured rate.
    time.sleep(int(refused.headers["Retry-After"]))
    assert client.get("/api/orders").status_code == 200


def _bucket_with(api: Api, key: str, tokens: int) -> tuple[Any, str]:
    """The key's bucket set to `tokens`, not refilling for a minute (its clock ahead)."""
    key_id = accounts.key_id_of(key)
    assert key_id is not None
    redis = api.env.redis()
    bucket = rate_key(key_id)
    redis.hset(bucket, mapping={"tokens": str(tokens), "ts": str(int(time.time() * 1000) + 60_000)})
    return redis, bucket


def test_every_place_costs_exactly_one_token(api: Api) -> None:
    """A plain place takes its token in the enqueue's own request, any other place before
    it: each costs one token, a refused one writes nothing, and every kind is refused once
    the bucket is empty."""
    _, key = api.new_account()
    client = api.client(key)
    cases: list[tuple[str, dict[str, Any], dict[str, str], int]] = [
        ("plain", ORDER, {}, 201),
        ("client_order_id", {**ORDER, "client_order_id": f"c-{time.time_ns()}"}, {}, 201),
        ("Idempotency-Key", ORDER, {"Idempotency-Key": f"k-{time.time_ns()}"}, 201),
        ("invalid", {**ORDER, "pirce": 12}, {}, 400),
    ]
    redis, bucket = _bucket_with(api, key, 0)
    try:
        for name, body, headers, status in cases:
            redis.hset(bucket, "tokens", "1")
            first = client.post("/api/orders", json=body, headers=headers)
            assert first.status_code == status, (name, first.json())
            assert float(redis.hget(bucket, "tokens")) == 0, name
            refused = client.post("/api/orders", json=body, headers=headers)
            assert refused.status_code == 429, name
            assert refused.json()["error"]["code"] == "rate_limited"
            assert int(refused.headers["Retry-After"]) >= 1
        json_type = {"Content-Type": "application/json"}
        assert client.post("/api/orders", content=b"{", headers=json_type).status_code == 429
        assert client.get("/api/orders").status_code == 429  # every endpoint shares it
    finally:
        redis.delete(bucket)
        redis.close()
    # Only the accepted places left orders: a refused one wrote no placeholder either.
    orders = client.get("/api/orders").json()["data"]
    assert len(orders) == sum(1 for case in cases if case[3] == 201)
    assert all(order["status"] == "open" for order in orders)
