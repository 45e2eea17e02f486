"""POST /api/orders (place) and GET /api/orders (the caller's orders, newest first).
Also served under the original system's /api/place_order and /api/fetch_allOrders."""

from api._http import caller, create_app, endpoint, json_body, query_args, refused_with_token
from lib import order_flow, order_reads
from lib.outcome import Outcome

app = create_app(__name__)


@app.post("/api/orders")
@app.post("/api/place_order")
@endpoint
def place_order() -> Outcome:
    who = caller(rate_limited_later=True)  # in the enqueue's own request
    if isinstance(who, Outcome):
        return who
    body = json_body()
    if isinstance(body, Outcome):
        return refused_with_token(who, body)
    return order_flow.place(who.b, who.account, body, who.idempotency_key, who.rate_key_id)


@app.get("/api/orders")
@app.get("/api/fetch_allOrders")
@endpoint
def list_orders() -> Outcome:
    who = caller()
    if isinstance(who, Outcome):
        return who
    args = query_args()
    if isinstance(args, Outcome):
        return args
    return order_reads.list_orders(who.b, who.account, args)
