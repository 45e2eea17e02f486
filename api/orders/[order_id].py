"""GET / PUT / DELETE /api/orders/{order_id}: fetch, modify, cancel one of the caller's
orders. Also the original system's /api/fetch_order (`?order_id=` or a JSON body),
/api/modify_order and /api/cancel_order (order_id in the JSON body)."""

from flask import request

from api._http import caller, create_app, endpoint, json_body, query_args
from lib import order_flow, order_reads
from lib.errors import ErrorCode
from lib.order_requests import ApiError, parse_order_id
from lib.outcome import Outcome

app = create_app(__name__)
COMPAT_SEGMENT = "compat"


@app.get("/api/orders/<order_id>")
@endpoint
def fetch_order(order_id: str) -> Outcome:
    who = caller()
    if isinstance(who, Outcome):
        return who
    checked = parse_order_id(order_id)
    if isinstance(checked, ApiError):
        return Outcome.error(checked)
    return order_reads.get_order(who.b, who.account, checked)


@app.put("/api/orders/<order_id>")
@app.put("/api/modify_order")
@endpoint
def modify_order(order_id: str | None = None) -> Outcome:
    who = caller()
    if isinstance(who, Outcome):
        return who
    if order_id is not None:
        checked = parse_order_id(order_id)
        if isinstance(checked, ApiError):
            return Outcome.error(checked)
    body = json_body()
    if isinstance(body, Outcome):
        return body
    return order_flow.modify(who.b, who.account, order_id, body, who.idempotency_key)


@app.delete("/api/orders/<order_id>")
@app.delete("/api/cancel_order")
@endpoint
def cancel_order(order_id: str | None = None) -> Outcome:
    who = caller()
    if isinstance(who, Outcome):
        return who
    if order_id is None:
        args = _compat_args()
        if isinstance(args, Outcome):
            return args
        named = _order_id_in_body(args)
        if isinstance(named, Outcome):
            return named
        order_id = named
    checked = parse_order_id(order_id)
    if isinstance(checked, ApiError):
        return Outcome.error(checked)
    return order_flow.cancel(who.b, who.account, checked, who.idempotency_key)


@app.get("/api/fetch_order")
@endpoint
def fetch_order_compat() -> Outcome:
    who = caller()
    if isinstance(who, Outcome):
        return who
    args = _compat_args()
    if isinstance(args, Outcome):
        return args
    named = args["order_id"] if set(args) == {"order_id"} else _order_id_in_body(args)
    if isinstance(named, Outcome):
        return named
    checked = parse_order_id(named)
    if isinstance(checked, ApiError):
        return Outcome.error(checked)
    return order_reads.get_order(who.b, who.account, checked)


def _compat_args() -> dict[str, str] | Outcome:
    """The query string of a compatibility route. vercel.json rewrites these routes to
    /api/orders/compat, and Vercel passes a dynamic segment as a query parameter unless the
    client sent one of that name: `order_id=compat` is Vercel's, not the client's (no order
    id the API issues is "compat")."""
    args = query_args()
    if not isinstance(args, Outcome) and args.get("order_id") == COMPAT_SEGMENT:
        del args["order_id"]
    return args


def _order_id_in_body(args: dict[str, str]) -> str | Outcome:
    """`order_id` from a body `{"order_id": "…"}` and nothing else in body or query."""
    if args:
        unknown = [name for name in args if name != "order_id"] or list(args)
        return Outcome.of(ErrorCode.UNKNOWN_FIELD, unknown[0][:40])
    if not request.get_data(cache=True):
        return Outcome.of(ErrorCode.MISSING_FIELD, "order_id", "order_id is required")
    body = json_body()
    if isinstance(body, Outcome):
        return body
    if not isinstance(body, dict) or "order_id" not in body:
        return Outcome.of(ErrorCode.MISSING_FIELD, "order_id", "order_id is required")
    extra = [name for name in body if name != "order_id"]
    if extra:
        return Outcome.of(ErrorCode.UNKNOWN_FIELD, extra[0][:40])
    value = body["order_id"]
    return value if isinstance(value, str) else Outcome.of(ErrorCode.INVALID_ORDER_ID, "order_id")
