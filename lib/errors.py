"""The one vocabulary of error codes, from the matching core to the HTTP status.

Every refusal anywhere - the core's `RejectReason`, a price the API or the matcher cannot
use, a command the matcher cannot apply, a request the API refuses - carries one of these
codes. The core may not import this package (it depends on nothing of ours), so its
`RejectReason` values are spelled the same and a test holds the two in step
(tests/lib/test_errors.py). Each code has one HTTP status and one default message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    # Refused by the matching core (matcher.core.RejectReason has exactly these values).
    UNKNOWN_SYMBOL = "unknown_symbol"
    UNKNOWN_ORDER = "unknown_order"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    ORDER_NOT_LIVE = "order_not_live"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_PRICE = "invalid_price"
    PRICE_ABOVE_MAXIMUM = "price_above_maximum"
    MARKET_ORDER_WITH_PRICE = "market_order_with_price"
    LIMIT_ORDER_WITHOUT_PRICE = "limit_order_without_price"
    INVALID_POST_ONLY = "invalid_post_only"
    NOTHING_TO_MODIFY = "nothing_to_modify"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    # Prices (lib.prices).
    PRICE_OFF_TICK = "price_off_tick"
    # Refused by the matcher service.
    INVALID_COMMAND = "invalid_command"
    STALE_COMMAND = "stale_command"
    TOO_LARGE = "too_large"
    # Refused by the API before anything is queued.
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_FIELD = "invalid_field"
    INVALID_SIDE = "invalid_side"
    INVALID_ORDER_ID = "invalid_order_id"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_LIMIT = "invalid_limit"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    status: int
    message: str


KINDS: dict[ErrorCode, ErrorKind] = {
    ErrorCode.UNKNOWN_SYMBOL: ErrorKind(400, "unknown symbol"),
    ErrorCode.UNKNOWN_ORDER: ErrorKind(404, "order not found"),
    ErrorCode.DUPLICATE_ORDER_ID: ErrorKind(409, "order_id is already used"),
    ErrorCode.ORDER_NOT_LIVE: ErrorKind(409, "order is no longer open"),
    ErrorCode.INVALID_QUANTITY: ErrorKind(400, "quantity out of range"),
    ErrorCode.INVALID_PRICE: ErrorKind(400, "price out of range"),
    ErrorCode.PRICE_ABOVE_MAXIMUM: ErrorKind(400, "price above the symbol's maximum"),
    ErrorCode.MARKET_ORDER_WITH_PRICE: ErrorKind(400, "a market order takes no price"),
    ErrorCode.LIMIT_ORDER_WITHOUT_PRICE: ErrorKind(400, "a limit order needs a price"),
    ErrorCode.INVALID_POST_ONLY: ErrorKind(400, "post-only needs a GTC limit order"),
    ErrorCode.NOTHING_TO_MODIFY: ErrorKind(400, "give a new price or quantity"),
    ErrorCode.POST_ONLY_WOULD_CROSS: ErrorKind(409, "a post-only order may not cross the spread"),
    ErrorCode.PRICE_OFF_TICK: ErrorKind(400, "price is not a multiple of the tick size"),
    ErrorCode.INVALID_COMMAND: ErrorKind(400, "malformed command"),
    ErrorCode.STALE_COMMAND: ErrorKind(
        409, "command is older than the dedupe window and may be a late duplicate"
    ),
    ErrorCode.TOO_LARGE: ErrorKind(422, "the command's effects are too large to commit"),
    ErrorCode.INVALID_JSON: ErrorKind(400, "the body is not valid JSON"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorKind(415, "send Content-Type: application/json"),
    ErrorCode.BODY_TOO_LARGE: ErrorKind(413, "the body is larger than 16 KiB"),
    ErrorCode.MISSING_FIELD: ErrorKind(400, "a required field is missing"),
    ErrorCode.UNKNOWN_FIELD: ErrorKind(400, "unknown field"),
    ErrorCode.INVALID_FIELD: ErrorKind(400, "invalid value"),
    ErrorCode.INVALID_SIDE: ErrorKind(400, 'side must be 1, -1, "buy" or "sell"'),
    ErrorCode.INVALID_ORDER_ID: ErrorKind(400, "not an order id"),
    ErrorCode.INVALID_CURSOR: ErrorKind(400, "not a cursor this list gave out"),
    ErrorCode.INVALID_LIMIT: ErrorKind(400, "limit must be an integer from 1 to 1000"),
    ErrorCode.UNAUTHORIZED: ErrorKind(401, "a valid API key is needed: Authorization: Bearer"),
    ErrorCode.NOT_FOUND: ErrorKind(404, "no such resource"),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorKind(405, "method not allowed here"),
    ErrorCode.DUPLICATE_CLIENT_ORDER_ID: ErrorKind(
        409, "client_order_id is already used by a live order of this account"
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: ErrorKind(
        422, "this Idempotency-Key was used for a different request"
    ),
    ErrorCode.RATE_LIMITED: ErrorKind(429, "too many requests; retry after Retry-After seconds"),
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: ErrorKind(
        400, "this connection already has as many subscriptions as it may"
    ),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorKind(503, "the queue or the database is unreachable"),
    ErrorCode.INTERNAL_ERROR: ErrorKind(500, "internal error"),
}


def message(code: ErrorCode) -> str:
    return KINDS[code].message
