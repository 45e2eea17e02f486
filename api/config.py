"""GET /api/config: what a client needs to know - symbols with tick size and price bound,
the default symbol, the bounds of every input, and where to find Socket.IO."""

from api._http import MAX_BODY_BYTES, create_app, endpoint
from lib import commands, order_requests
from lib.config import load_settings
from lib.outcome import Outcome
from lib.prices import to_json_number

app = create_app(__name__)


@app.get("/api/config")
@endpoint
def config() -> Outcome:
    settings = load_settings()  # no store is needed: this answers while they are down
    symbols = [
        {
            "symbol": spec.symbol,
            "tick_size": to_json_number(spec.tick_size),
            "max_price": to_json_number(spec.max_price),
        }
        for spec in settings.symbols
    ]
    return Outcome.ok(
        symbols=symbols,
        default_symbol=settings.default_symbol,
        realtime_url=settings.public_realtime_url,
        limits={
            "max_quantity": commands.MAX_QUANTITY,
            "max_list_limit": order_requests.MAX_LIMIT,
            "max_book_levels": order_requests.MAX_LEVELS,
            "max_body_bytes": MAX_BODY_BYTES,
            "rate_per_s": settings.rate_per_s,
            "rate_burst": settings.rate_burst,
        },
    )
