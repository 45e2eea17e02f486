"""The 202 path and unreachable stores: a write the matcher has not answered in time is
accepted as pending and applied exactly once when the matcher is back; a store that cannot
be reached is a 503 with a clear code, never a 500."""

from __future__ import annotations

import httpx
import pytest

from devstack.process import free_port
from devstack.services import api_dispatcher
from tests.api_harness import REPLY_TIMEOUT_MS, Api


def test_a_place_while_the_matcher_is_down_is_pending_then_applied_once(api: Api) -> None:
    alice = api.trader()
    body = {"symbol": "S50", "side": "buy", "quantity": 9, "price": 50}
    api.matcher.process.stop()
    try:
        first = alice.post("/api/orders", json=body, headers={"Idempotency-Key": "p-1"})
        assert first.status_code == 202
        order_id = first.json()["order_id"]
        assert first.json() == {"success": True, "order_id": order_id, "status": "pending"}
        assert first.elapsed.total_seconds() >= REPLY_TIMEOUT_MS / 1000 * 0.9
        # A retry while it is still queued: the same order, still pending.
        retry = alice.post("/api/orders", json=body, headers={"Idempotency-Key": "p-1"})
        assert retry.status_code == 202 and retry.json()["order_id"] == order_id
        # It can be seen, listed and cancelled before the matcher has it.
        seen = alice.get(f"/api/orders/{order_id}").json()["order"]
        assert (seen["status"], seen["order_alive"], seen["remaining_quantity"]) == (
            "pending",
            True,
            9,
        )
        listed = alice.get("/api/orders").json()["data"]
        assert [(o["order_id"], o["status"]) for o in listed] == [(order_id, "pending")]
        second = alice.post("/api/orders", json={**body, "price": 49})
        assert second.status_code == 202
        cancel = alice.delete(f"/api/orders/{second.json()['order_id']}")
        assert cancel.status_code == 202
    finally:
        api.matcher.start()
    api.matcher.wait_role("leader")
    applied = alice.post("/api/orders", json=body, headers={"Idempotency-Key": "p-1"})
    assert applied.status_code == 201 and applied.json()["order_id"] == order_id
    orders = {o["order_id"]: o for o in alice.get("/api/orders").json()["data"]}
    assert len(orders) == 2  # one order per place, however often it was sent
    assert orders[order_id]["status"] == "open"
    assert orders[second.json()["order_id"]]["status"] == "cancelled"
    book = api.client().get("/api/book", params={"symbol": "S50"}).json()
    assert book["bids"] == [{"price": 50, "quantity": 9}]  # applied once, not twice


def test_unreachable_redis_or_mongodb_is_503(
    api: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, key = api.new_account()
    closed = f"127.0.0.1:{free_port()}"
    for name, broken in (
        ("redis", {"UPSTASH_REDIS_REST_URL": f"http://{closed}"}),
        ("mongodb", {"MONGODB_URI": f"mongodb://{closed}/?serverSelectionTimeoutMS=500"}),
    ):
        port = free_port()
        server = api_dispatcher(
            port, {**api.environ, **broken}, tmp_path_factory.mktemp(f"api-{name}")
        )
        server.start()
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ) as client:
                for method, path in (("POST", "/api/orders"), ("GET", "/api/orders"),
                                     ("GET", "/api/health")):  # fmt: skip
                    response = client.request(
                        method, path, json={"side": "buy", "quantity": 1, "price": 1}
                    )
                    assert response.status_code == 503, (name, path, response.text)
                    body = response.json()
                    assert body["success"] is False
                    if path != "/api/health":
                        assert body["error"]["code"] == "service_unavailable"
                health = client.get("/api/health").json()
                assert health["checks"][name] == "unreachable"
                assert client.get("/api/config").status_code == 200
        finally:
            server.stop()
