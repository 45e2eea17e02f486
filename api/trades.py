"""GET /api/trades: every trade, newest first, filtered by `symbol` / `order_id`; public.
Also the original system's /api/fetch_trades."""

from api._http import create_app, endpoint, query_args
from lib import order_reads
from lib.backends import backends
from lib.outcome import Outcome

app = create_app(__name__)


@app.get("/api/trades")
@app.get("/api/fetch_trades")
@endpoint
def list_trades() -> Outcome:
    args = query_args()
    if isinstance(args, Outcome):
        return args
    return order_reads.list_trades(backends(), args)
