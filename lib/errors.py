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
}


def message(code: ErrorCode) -> str:
    return KINDS[code].message
