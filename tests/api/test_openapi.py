"""docs/openapi.yaml is the REST API's contract, and these tests hold the API to it.

(a) The document is valid OpenAPI 3.1, documents exactly the routes the api/ functions serve
    (read from their Flask url_maps, loaded by path as the dispatcher loads them), and
    spells lib/'s vocabularies (error codes and their statuses, statuses, cancel reasons,
    bounds, the order object's fields) exactly as lib/ does.
(b) A realistic session through the live API - crossing orders, fetch, modify, cancel, lists
    and their cursors, book, config, health, a sample of every error status, 202 with the
    matcher stopped, 503 with a store unreachable - where each response must carry a
    documented status and conform to that status's schema (response objects forbid extra
    fields, so an extra or a missing field fails).
(c) A bounded, deterministic schemathesis run over every operation against the live API:
    no 5xx other than a documented 503, and every response conforms to the document
    (examples, coverage and fuzzing phases; positive and negative data; ~1,300 requests).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.checks
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.schemas import OpenApiSchema

from devstack.dispatcher import Dispatcher, load_rewrites
from devstack.process import free_port
from devstack.services import api_dispatcher
from lib import accounts, commands, order_requests
from lib.config import SymbolSpec
from lib.errors import KINDS, ErrorCode
from lib.idempotency import MAX_KEY_LEN
from lib.keys import order as order_key
from lib.keys import rate_key
from lib.orders import pending_order
from matcher.core import CancelReason, OrderType, Side, TimeInForce
from matcher.service.documents import OrderView, public_order
from tests.api_harness import Api

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"

# What the schemathesis run may send and how it judges the answers. Deterministic: a fixed
# seed and derandomized Hypothesis, no example database, so CI replays the same requests.
FUZZ_SEED = 20261125
FUZZ_MAX_EXAMPLES = 50
FUZZ_CHECKS = [
    "not_a_server_error",  # with 503 (documented) allowed below
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
]
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": FUZZ_SEED,
        "generation": {
            "mode": "all",
            "max-examples": FUZZ_MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in FUZZ_CHECKS},
            "not_a_server_error": {
                "enabled": True,
                "expected-statuses": ["2xx", "3xx", "4xx", "503"],
            },
        },
        "request-timeout": 30,
    }
)
SCHEMA: OpenApiSchema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)
RAW: dict[str, Any] = SCHEMA.raw_schema
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FUZZ_CHECK_FUNCTIONS = [getattr(schemathesis.checks, name) for name in FUZZ_CHECKS]
CONFORMANCE = [
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


# --- (a) the document ----------------------------------------------------------------


def spec_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in RAW["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the api/ functions route, from their Flask url_maps."""
    dispatcher = Dispatcher(ROOT)
    routes = set()
    for route in dispatcher.routes:
        app = dispatcher.app_for(route.file)
        assert isinstance(app, Flask), route.file
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(m, path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return routes


def test_document_is_valid_openapi_3_1() -> None:
    assert RAW["openapi"].startswith("3.1.")
    SCHEMA.validate()  # against the OpenAPI 3.1 meta-schema
    # Every reference resolves (the meta-schema does not look inside them).
    for ref in _refs(RAW):
        assert ref.startswith("#/"), ref
        node: Any = RAW
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    operation_ids = [
        operation["operationId"]
        for item in RAW["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_served_route_is_documented_and_nothing_else() -> None:
    served = served_routes()
    documented = spec_routes()
    assert served - documented == set(), "served but not in docs/openapi.yaml"
    assert documented - served == set(), "documented but not served"
    # Every vercel.json rewrite (the compatibility routes) is documented too.
    for source in load_rewrites(ROOT):
        assert source in RAW["paths"], source


def test_error_codes_and_statuses_match_lib_errors() -> None:
    schemas = RAW["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    documented_statuses = set()
    for name, schema in schemas.items():
        found = re.fullmatch(r"Error(\d{3})", name)
        if found is None:
            continue
        status = int(found.group(1))
        documented_statuses.add(status)
        codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        expected = [code.value for code, kind in KINDS.items() if kind.status == status]
        assert sorted(codes) == sorted(expected), status
    # Every status lib/errors.py can answer has its schema, except 500 (never documented:
    # an internal error is a bug, and the schemathesis run fails on it).
    assert {kind.status for kind in KINDS.values()} - documented_statuses == {500}


def test_vocabularies_and_bounds_match_lib() -> None:
    schemas = RAW["components"]["schemas"]
    params = RAW["components"]["parameters"]
    assert tuple(schemas["OrderStatus"]["enum"]) == order_requests.ORDER_STATUSES
    assert schemas["CancelReason"]["enum"] == [reason.value for reason in CancelReason]
    assert schemas["Quantity"]["maximum"] == commands.MAX_QUANTITY
    assert params["Limit"]["schema"]["maximum"] == order_requests.MAX_LIMIT
    assert params["Limit"]["schema"]["default"] == order_requests.DEFAULT_LIMIT
    assert params["Cursor"]["schema"]["pattern"] == f"^[!-~]{{1,{order_requests.MAX_CURSOR}}}$"
    assert params["IdempotencyKey"]["schema"]["pattern"] == f"^[!-~]{{1,{MAX_KEY_LEN}}}$"
    book = RAW["paths"]["/api/book"]["get"]["parameters"]
    levels = next(p for p in book if p["name"] == "levels")["schema"]
    assert levels["maximum"] == order_requests.MAX_LEVELS
    assert levels["default"] == order_requests.DEFAULT_LEVELS
    assert set(schemas["PlaceOrderRequest"]["properties"]) == order_requests.PLACE_FIELDS
    assert set(schemas["ModifyOrderRequest"]["properties"]) == order_requests.MODIFY_FIELDS
    list_params = {
        kind: {
            (p.get("$ref", "").rsplit("/", 1)[-1]) for p in RAW["paths"][path]["get"]["parameters"]
        }
        for kind, path in (("orders", "/api/orders"), ("trades", "/api/trades"))
    }
    names = {name: RAW["components"]["parameters"][name]["name"] for name in params}
    for kind, refs in list_params.items():
        assert {names[ref] for ref in refs} == order_requests.LIST_FIELDS[kind]


def test_order_object_fields_match_what_the_matcher_and_the_api_write() -> None:
    documented = set(RAW["components"]["schemas"]["Order"]["properties"])
    assert set(RAW["components"]["schemas"]["Order"]["required"]) == documented
    spec = SymbolSpec("ACME", Decimal("0.01"), Decimal(1_000_000))
    view = OrderView(
        "o1", "acct", "ACME", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, False, None, 1, 100, 5
    )
    matcher_fields = set(public_order(view.doc(spec))) - {"account"}
    assert matcher_fields == documented
    command = order_requests.to_command(
        order_requests.PlaceOrder(symbol="ACME", side="buy", price="1", quantity=5),
        command_id="c1",
        order_id="o1",
        account="acct",
        received_at=1,
    )
    assert set(pending_order(command, 1)) - {"account"} == documented


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# --- (b) a realistic session, every response validated --------------------------------

SYMBOL = "S71"  # this module's own book: other tests use other symbols


@dataclass
class Validator:
    """Validates responses against the document and records which statuses it saw."""

    seen: dict[int, list[str]]

    def __call__(self, response: httpx.Response, status: int) -> dict[str, Any]:
        request = response.request
        label = f"{request.method} {request.url.path}"
        assert response.status_code == status, f"{label}: {response.status_code} {response.text}"
        template, path_parameters = _template(request.url.path)
        if request.method.lower() in RAW["paths"][template]:
            operation = SCHEMA[template][request.method]
        else:  # an undocumented method: the shared 405 answer applies
            operation = _undocumented(template, request.method)
            assert "Allow" in response.headers, label
        case = operation.Case(path_parameters=path_parameters)
        case.validate_response(response, checks=CONFORMANCE)
        self.seen.setdefault(status, []).append(label)
        body: dict[str, Any] = response.json()
        return body


def _template(path: str) -> tuple[str, dict[str, str]]:
    if path in RAW["paths"]:
        return path, {}
    found = re.fullmatch(r"/api/orders/([^/]+)", path)
    assert found is not None, path
    return "/api/orders/{order_id}", {"order_id": found.group(1)}


def _undocumented(template: str, method: str) -> Any:
    """The operation a method the document does not list would be: only the shared 405."""
    raw = copy.deepcopy(RAW)
    raw["paths"][template][method.lower()] = {
        "responses": {"405": {"$ref": "#/components/responses/MethodNotAllowed"}}
    }
    return schemathesis.openapi.from_dict(raw, config=CONFIG)[template][method]


def test_a_session_conforms_to_the_document(api: Api) -> None:
    check = Validator({})
    _, maker_key = api.new_account("oa-maker")
    maker = api.client(maker_key)
    taker = api.trader("oa-taker")
    anonymous = api.client()
    try:
        _session(api, check, maker, taker, anonymous, maker_key)
    finally:
        _cancel_live_orders(maker)
        _cancel_live_orders(taker)
    every = {200, 201, 400, 401, 404, 405, 409, 413, 415, 422, 429}
    assert every - set(check.seen) == set()


def _session(
    api: Api,
    check: Validator,
    maker: httpx.Client,
    taker: httpx.Client,
    anonymous: httpx.Client,
    maker_key: str,
) -> None:
    # Service.
    check(anonymous.get("/api/health"), 200)
    config = check(anonymous.get("/api/config"), 200)
    assert SYMBOL in {s["symbol"] for s in config["symbols"]}

    # Resting orders, then a crossing one.
    first = check(
        maker.post(
            "/api/orders",
            json={"symbol": SYMBOL, "side": "buy", "quantity": 10, "price": "10.00"},
            headers={"Idempotency-Key": "oa-first"},
        ),
        201,
    )
    bid = first["order_id"]
    assert first["order"]["status"] == "open"
    second = check(
        maker.post(
            "/api/place_order",
            json={
                "symbol": SYMBOL,
                "side": 1,
                "quantity": 3,
                "price": 9.5,
                "client_order_id": "m-2",
            },
        ),
        201,
    )
    low_bid = second["order_id"]
    check(
        maker.post(
            "/api/orders",
            json={"symbol": SYMBOL, "side": "sell", "quantity": 2, "price": 12, "post_only": True},
        ),
        201,
    )
    cross = check(
        taker.post(
            "/api/orders", json={"symbol": SYMBOL, "side": -1, "quantity": 4, "price": 9.99}
        ),
        201,
    )
    assert cross["order"]["status"] == "filled"
    assert cross["order"]["average_traded_price"] == 10
    market = check(
        taker.post(
            "/api/orders",
            json={"symbol": SYMBOL, "side": "buy", "type": "market", "quantity": 1, "price": None},
        ),
        201,
    )
    assert market["order"]["average_traded_price"] == 12
    ioc = check(
        taker.post(
            "/api/orders",
            json={"symbol": SYMBOL, "side": "sell", "quantity": 5, "price": "10.5",
                  "time_in_force": "IOC"},
        ),
        201,
    )  # fmt: skip
    assert ioc["order"]["cancel_reason"] == "ioc_remainder"
    # The idempotent retry answers the first result.
    retried = check(
        maker.post(
            "/api/orders",
            json={"symbol": SYMBOL, "side": "buy", "quantity": 10, "price": 10},
            headers={"Idempotency-Key": "oa-first"},
        ),
        201,
    )
    assert retried["order_id"] == bid

    # One order, by every route.
    fetched = check(maker.get(f"/api/orders/{bid}"), 200)
    assert fetched["order"]["status"] == "partially_filled"
    check(maker.get("/api/fetch_order", params={"order_id": bid}), 200)
    check(maker.request("GET", "/api/fetch_order", json={"order_id": bid}), 200)

    # Modify and cancel.
    moved = check(maker.put(f"/api/orders/{bid}", json={"updated_price": "10.01"}), 200)
    assert moved["order"]["order_price"] == 10.01
    check(maker.put(f"/api/orders/{bid}", json={"quantity": 12, "price": None}), 200)
    check(maker.put("/api/modify_order", json={"order_id": low_bid, "updated_quantity": 5}), 200)
    cancelled = check(maker.delete(f"/api/orders/{bid}"), 200)
    assert cancelled["order"]["cancel_reason"] == "user"
    check(maker.request("DELETE", "/api/cancel_order", json={"order_id": low_bid}), 200)

    # Lists, page by page.
    orders: list[str] = []
    cursor = None
    while True:
        params = {"limit": "1", "symbol": SYMBOL} | ({"cursor": cursor} if cursor else {})
        page = check(maker.get("/api/orders", params=params), 200)
        orders += [order["order_id"] for order in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(orders) == 3
    assert bid in orders
    assert low_bid in orders
    check(maker.get("/api/fetch_allOrders", params={"status": "cancelled", "side": "buy"}), 200)
    trades = check(anonymous.get("/api/trades", params={"symbol": SYMBOL, "limit": "1"}), 200)
    assert trades["next_cursor"] is not None
    check(anonymous.get("/api/trades", params={"cursor": trades["next_cursor"], "limit": 1}), 200)
    check(anonymous.get("/api/fetch_trades", params={"order_id": bid}), 200)
    book = check(anonymous.get("/api/book", params={"symbol": SYMBOL, "levels": "2"}), 200)
    assert book["asks"] == [{"price": 12, "quantity": 1}]

    # 400, each kind of refusal the API makes.
    def place(body: object, code: str, client: httpx.Client = maker) -> None:
        refused = check(client.post("/api/orders", json=body), 400)
        assert refused["error"]["code"] == code, refused

    order = {"symbol": SYMBOL, "side": "buy", "quantity": 1, "price": 1}
    place({**order, "side": "BUY"}, "invalid_side")
    place({**order, "quantity": 10.0}, "invalid_quantity")
    place({**order, "price": "1e2"}, "invalid_price")
    place({**order, "price": "1.005"}, "price_off_tick")
    place({**order, "price": 1000000.01}, "price_above_maximum")
    place({**order, "type": "market"}, "market_order_with_price")
    place({"side": "buy", "quantity": 1}, "limit_order_without_price")
    place({**order, "post_only": True, "time_in_force": "FOK"}, "invalid_post_only")
    place({**order, "symbol": "NOPE"}, "unknown_symbol")
    place({**order, "pirce": 1}, "unknown_field")
    place({"quantity": 1, "price": 1}, "missing_field")
    place({**order, "time_in_force": "DAY"}, "invalid_field")
    invalid_json = maker.post(
        "/api/orders",
        content=b'{"side": 1, "side": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert check(invalid_json, 400)["error"]["code"] == "invalid_json"
    live = check(maker.post("/api/orders", json={**order, "client_order_id": "oa-live"}), 201)
    live_id = live["order_id"]
    nothing = check(maker.put(f"/api/orders/{live_id}", json={}), 400)
    assert nothing["error"]["code"] == "nothing_to_modify"
    bad_id = check(maker.get("/api/orders/no%20such"), 400)
    assert bad_id["error"]["code"] == "invalid_order_id"
    bad_cursor = check(maker.get("/api/orders", params={"cursor": "bm90IGEgY3Vyc29y"}), 400)
    assert bad_cursor["error"]["code"] == "invalid_cursor"
    bad_limit = check(anonymous.get("/api/trades", params={"limit": "1001"}), 400)
    assert bad_limit["error"]["code"] == "invalid_limit"
    bad_levels = check(anonymous.get("/api/book", params={"levels": "0"}), 400)
    assert bad_levels["error"]["code"] == "invalid_field"
    bad_key = check(maker.get("/api/orders", headers={"Idempotency-Key": "has space"}), 400)
    assert bad_key["error"]["field"] == "Idempotency-Key"

    # 401.
    check(anonymous.get("/api/orders"), 401)
    check(api.client("sbs_00000000_not-a-key").post("/api/orders", json=order), 401)

    # 404: unknown, and another account's order (which looks the same).
    assert check(maker.get("/api/orders/o0000000000000"), 404)["error"]["code"] == "unknown_order"
    check(taker.get(f"/api/orders/{bid}"), 404)
    check(taker.delete(f"/api/orders/{live_id}"), 404)
    check(taker.put("/api/modify_order", json={"order_id": live_id, "price": 2}), 404)

    # 405, on paths that do not take the method.
    check(anonymous.delete("/api/trades"), 405)
    check(maker.post(f"/api/orders/{live_id}", json=order), 405)
    check(maker.get("/api/modify_order"), 405)
    check(maker.patch("/api/orders", json=order), 405)

    # 409: an order that ended, a client_order_id held by a live order.
    ended = check(maker.delete(f"/api/orders/{bid}"), 409)
    assert ended["error"]["code"] == "order_not_live"
    assert ended["order"]["order_id"] == bid
    check(maker.put(f"/api/orders/{bid}", json={"price": 3}), 409)
    duplicate = check(maker.post("/api/orders", json={**order, "client_order_id": "oa-live"}), 409)
    assert duplicate["error"]["code"] == "duplicate_client_order_id"

    # 413, 415.
    huge = {**order, "client_order_id": "x" * (17 * 1024)}
    check(maker.post("/api/orders", json=huge), 413)
    check(maker.request("DELETE", "/api/cancel_order", json={"order_id": "x" * 20000}), 413)
    check(maker.post("/api/orders", content=json.dumps(order)), 415)
    check(maker.put(f"/api/orders/{live_id}", data={"price": "2"}), 415)

    # 422: an Idempotency-Key reused for another request.
    reused = maker.post(
        "/api/orders", json={**order, "quantity": 2}, headers={"Idempotency-Key": "oa-first"}
    )
    assert check(reused, 422)["error"]["code"] == "idempotency_key_reused"

    # 429: this key's bucket drained (in Redis, as a burst of requests would leave it).
    key_id = accounts.key_id_of(maker_key)
    assert key_id is not None
    redis = api.env.redis()
    try:
        bucket = rate_key(key_id)
        redis.hset(bucket, mapping={"tokens": "0", "ts": str(int(time.time() * 1000) + 60_000)})
        limited = maker.get("/api/orders")
        redis.delete(bucket)
    finally:
        redis.close()
    check(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1


def test_pending_and_unavailable_answers_conform(
    api: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """202 (the matcher does not answer in time) and 503 (a store is unreachable)."""
    check = Validator({})
    _, key = api.new_account("oa-pending")
    client = api.client(key)
    body = {"symbol": SYMBOL, "side": "buy", "quantity": 1, "price": 2}
    api.matcher.process.stop()
    try:
        placed = check(client.post("/api/place_order", json=body), 202)
        order_id = placed["order_id"]
        check(client.put(f"/api/orders/{order_id}", json={"updated_quantity": 2}), 202)
        check(client.request("DELETE", "/api/cancel_order", json={"order_id": order_id}), 202)
    finally:
        api.matcher.start()
    api.matcher.wait_role("leader")
    check(client.get(f"/api/orders/{order_id}"), 200)
    _cancel_live_orders(client)

    closed = f"127.0.0.1:{free_port()}"
    for name, broken in (
        ("redis", {"UPSTASH_REDIS_REST_URL": f"http://{closed}"}),
        ("mongodb", {"MONGODB_URI": f"mongodb://{closed}/?serverSelectionTimeoutMS=500"}),
    ):
        port = free_port()
        environ = {**api.environ, **broken}
        server = api_dispatcher(port, environ, tmp_path_factory.mktemp(f"oa-{name}"))
        server.start()
        try:
            down = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            with down:
                check(down.get("/api/health"), 503)
                check(down.get("/api/trades"), 503)
                check(down.get("/api/config"), 200)  # needs neither store
                if name == "redis":  # (an unreachable MongoDB takes seconds per request)
                    check(down.post("/api/orders", json=body), 503)
                    check(down.get("/api/orders"), 503)
        finally:
            server.stop()
    assert {200, 202, 503} - set(check.seen) == set()


def test_an_ended_order_read_from_mongodb_conforms_in_a_409(api: Api) -> None:
    """The order cache normally answers; when it misses (an evicted or lost key), the order
    comes from MongoDB's projection, and the answer must look the same."""
    check = Validator({})
    client = api.trader("oa-evicted")
    placed = check(
        client.post(
            "/api/orders", json={"symbol": SYMBOL, "side": "buy", "quantity": 1, "price": 1}
        ),
        201,
    )
    order_id = placed["order_id"]
    check(client.delete(f"/api/orders/{order_id}"), 200)
    db = api.env.db()
    redis = api.env.redis()
    try:
        deadline = time.monotonic() + 15
        while db.orders.find_one({"_id": order_id}) is None:  # the projector's lag
            assert time.monotonic() < deadline, "the ended order never reached MongoDB"
            time.sleep(0.05)
        redis.delete(order_key(order_id))
    finally:
        db.client.close()
        redis.close()
    check(client.get(f"/api/orders/{order_id}"), 200)  # conforms: _strip() is applied
    check(client.delete(f"/api/orders/{order_id}"), 409)  # extra fields: fails today


def _cancel_live_orders(client: httpx.Client) -> None:
    """Leave no resting order behind: the package's tests share the matcher's books."""
    for status in ("pending", "open", "partially_filled"):
        listed = client.get("/api/orders", params={"status": status, "limit": "1000"})
        for order in listed.json().get("data", []):
            client.delete(f"/api/orders/{order['order_id']}")


# --- (c) schemathesis over every operation --------------------------------------------


@pytest.fixture
def fuzz_client(api: Api) -> Iterator[httpx.Client]:
    """A fresh account per operation (its own rate-limit bucket), whose live orders are
    cancelled afterwards."""
    client = api.trader("oa-fuzz")
    yield client
    _cancel_live_orders(client)


def test_the_fuzz_checks_refuse_a_5xx_but_a_documented_503() -> None:
    """The checks the run applies, on canned answers: a guard against a config that checks
    nothing (schemathesis silently skips a check its config disables)."""
    case = SCHEMA["/api/trades"]["GET"].Case()

    def answer(status: int, body: object) -> httpx.Response:
        request = httpx.Request("GET", "http://127.0.0.1/api/trades")
        headers = {"Content-Type": "application/json"}
        response = httpx.Response(status, json=body, headers=headers, request=request)
        response.read()
        response.elapsed = timedelta(milliseconds=1)
        return response

    def failures(response: httpx.Response) -> set[str]:
        try:
            case.validate_response(response, checks=FUZZ_CHECK_FUNCTIONS)
        except FailureGroup as group:
            return {type(failure).__name__ for failure in group.exceptions}
        return set()

    def error(code: str) -> dict[str, Any]:
        return {"success": False, "error": {"code": code, "message": "m", "field": None}}

    assert failures(answer(503, error("service_unavailable"))) == set()
    assert failures(answer(200, {"success": True, "data": [], "next_cursor": None})) == set()
    assert failures(answer(500, error("internal_error"))) == {"ServerError", "UndefinedStatusCode"}
    assert failures(answer(502, error("service_unavailable"))) >= {"ServerError"}
    extra = {"success": True, "data": [], "next_cursor": None, "more": 1}
    assert failures(answer(200, extra)) == {"JsonSchemaError"}
    assert failures(answer(200, {"success": True, "data": []})) == {"JsonSchemaError"}


@SCHEMA.parametrize()
@pytest.mark.timeout(60)  # one operation; the whole run takes ~30 s here
@settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=list(HealthCheck),
)
def test_schemathesis(case: schemathesis.Case[Any], api: Api, fuzz_client: httpx.Client) -> None:
    authorization = fuzz_client.headers["Authorization"]
    response = case.call(base_url=api.url, headers={"Authorization": authorization}, timeout=30)
    case.validate_response(
        response,
        checks=FUZZ_CHECK_FUNCTIONS,
        headers={"Authorization": authorization},
    )
