"""Enumerations shared by the matching core and everything around it.

String-valued enums are used where the value travels to clients (JSON, MongoDB):
the enum member *is* the wire value, so nothing translates between the two.
"""

from enum import IntEnum, StrEnum


class Side(IntEnum):
    """1 / -1 as in the original Order API specification."""

    BUY = 1
    SELL = -1

    @property
    def label(self) -> str:
        return "buy" if self is Side.BUY else "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    PENDING = "pending"  # queued, not yet applied: only the API layer uses it
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def alive(self) -> bool:
        return self in _ALIVE


_ALIVE = frozenset({OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class CancelReason(StrEnum):
    """Why an order stopped short of a complete fill."""

    USER = "user"
    IOC_REMAINDER = "ioc_remainder"
    FOK_UNFILLABLE = "fok_unfillable"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    SELF_TRADE = "self_trade"
    NO_LIQUIDITY = "no_liquidity"


class RejectReason(StrEnum):
    """Result codes of a command the engine refused; nothing about the book changed."""

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
