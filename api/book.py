"""GET /api/book?symbol=&levels=: the top levels of one book (default 5, at most 50); public."""

from api._http import create_app, endpoint, query_args
from lib import order_reads
from lib.backends import backends
from lib.outcome import Outcome

app = create_app(__name__)


@app.get("/api/book")
@endpoint
def book() -> Outcome:
    args = query_args()
    if isinstance(args, Outcome):
        return args
    return order_reads.book(backends(), args)
